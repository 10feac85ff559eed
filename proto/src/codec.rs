//! The server's codec: tonic-prost's, except that a request which does not
//! decode (invalid UTF-8 in a string, a truncated message, nesting past
//! prost's recursion limit) is answered INVALID_ARGUMENT, with the field
//! prost names in the standard error details, instead of tonic's INTERNAL.
//! Any client can send such bytes, so they must not trip the alert kept
//! for the server's own faults. A request that decodes is then walked for
//! control characters in its strings (`strings.rs`). The client keeps
//! tonic's codec: for it a response that does not decode is the server's
//! fault.

use std::marker::PhantomData;

use prost::{Message, Name, bytes::Buf};
use tonic::{
    Code, Status,
    codec::{BufferSettings, Codec, DecodeBuf, Decoder},
};
use tonic_prost::{ProstCodec, ProstEncoder};
use tonic_types::{ErrorDetails, StatusExt};

use crate::strings::{self, Violation};

/// The `ErrorInfo.domain` of every error detail the daemon sends.
pub const ERROR_DOMAIN: &str = "truce";

/// The `ErrorInfo.reason` of a request that does not decode.
pub const UNDECODABLE: &str = "UNDECODABLE";

/// `application/grpc+proto` via prost, requests refused as INVALID_ARGUMENT
/// when they do not decode (used by the generated server).
#[derive(Debug)]
pub struct RequestCodec<T, U> {
    inner: ProstCodec<T, U>,
}

impl<T, U> Default for RequestCodec<T, U> {
    fn default() -> Self {
        Self {
            inner: ProstCodec::default(),
        }
    }
}

impl<T, U> Codec for RequestCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Name + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = RequestDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.inner.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder {
            _pd: PhantomData,
            buffer_settings: BufferSettings::default(),
        }
    }
}

/// Decodes a request with prost; a failure is the caller's.
#[derive(Debug)]
pub struct RequestDecoder<U> {
    _pd: PhantomData<U>,
    buffer_settings: BufferSettings,
}

impl<U: Message + Name + Default> Decoder for RequestDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        let bytes = buf.copy_to_bytes(buf.remaining());
        let message = U::decode(bytes.clone()).map_err(|e| undecodable(&e))?;
        strings::check(&U::full_name(), &bytes).map_err(|v| invalid_string(&v))?;
        Ok(Some(message))
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.buffer_settings
    }
}

/// The refusal of a request that does not decode: INVALID_ARGUMENT, with
/// ErrorInfo (reason UNDECODABLE) and, when prost names where it failed, a
/// BadRequest field violation for that field's path.
pub fn undecodable(e: &prost::DecodeError) -> Status {
    let shown = e.to_string();
    let field = failed_field(&shown);
    let message = match &field {
        Some(f) => format!("invalid {f}: the request does not decode ({shown})"),
        None => format!("the request does not decode ({shown})"),
    };
    let mut details = ErrorDetails::new();
    let mut metadata = std::collections::HashMap::new();
    if let Some(f) = &field {
        metadata.insert("field".to_owned(), f.clone());
        details.add_bad_request_violation(f.clone(), shown.clone());
    }
    details.set_error_info(UNDECODABLE, ERROR_DOMAIN, metadata);
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// The refusal of a string holding a control character: INVALID_ARGUMENT
/// as the daemon's validation words it (`invalid <field>: <reason>`), with
/// a BadRequest field violation and ErrorInfo (reason INVALID_FIELD).
pub fn invalid_string(v: &Violation) -> Status {
    let mut details = ErrorDetails::new();
    details.add_bad_request_violation(v.field.clone(), v.reason.clone());
    let metadata = std::collections::HashMap::from([("field".to_owned(), v.field.clone())]);
    details.set_error_info("INVALID_FIELD", ERROR_DOMAIN, metadata);
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid {}: {}", v.field, v.reason),
        details,
    )
}

/// The field path in prost's decode error text, which lists
/// `Message.field: ` pairs innermost first after its prefix
/// (`Report.title: SubmitReportRequest.report: invalid string value`
/// gives `report.title`).
fn failed_field(shown: &str) -> Option<String> {
    let mut rest = shown.strip_prefix("failed to decode Protobuf message: ")?;
    let mut fields = Vec::new();
    while let Some((pair, after)) = rest.split_once(": ") {
        let Some((message, field)) = pair.split_once('.') else {
            break;
        };
        let ident =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ident(message) || !ident(field) {
            break;
        }
        fields.push(field);
        rest = after;
    }
    if fields.is_empty() {
        return None;
    }
    fields.reverse();
    Some(fields.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{Report, SubmitReportRequest};

    #[test]
    fn invalid_utf8_names_the_field_and_is_invalid_argument() {
        let good = SubmitReportRequest {
            request_id: "r".into(),
            report: Some(Report {
                notes: "ab".into(),
                ..Report::default()
            }),
            ..SubmitReportRequest::default()
        }
        .encode_to_vec();
        // "ab" → 0xff 0xfe: not UTF-8.
        let at = good
            .windows(2)
            .position(|w| w == b"ab")
            .expect("the notes are in the encoding");
        let mut bad = good.clone();
        bad[at] = 0xff;
        bad[at + 1] = 0xfe;
        let e = SubmitReportRequest::decode(bad.as_slice()).expect_err("decodes");
        let status = undecodable(&e);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().starts_with("invalid report.notes:"),
            "{}",
            status.message()
        );
        let violations = status
            .get_details_bad_request()
            .map(|b| b.field_violations)
            .unwrap_or_default();
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "report.notes");
        let info = status.get_details_error_info().expect("ErrorInfo");
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            (UNDECODABLE, ERROR_DOMAIN)
        );
    }

    #[test]
    fn a_truncated_message_is_invalid_argument() {
        let e = SubmitReportRequest::decode(&[0x12, 0x05, 0x0a][..]).expect_err("decodes");
        let status = undecodable(&e);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.get_details_error_info().is_some());
    }

    #[test]
    fn field_paths_from_prost_text() {
        assert_eq!(
            failed_field(
                "failed to decode Protobuf message: Report.title: SubmitReportRequest.report: invalid string value: data is not UTF-8 encoded"
            )
            .as_deref(),
            Some("report.title")
        );
        assert_eq!(
            failed_field("failed to decode Protobuf message: buffer underflow"),
            None
        );
    }
}
