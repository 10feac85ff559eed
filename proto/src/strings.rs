//! The one place every string of every request passes through: the
//! request codec walks the encoded message, guided by the descriptors of
//! the `.proto` files, and refuses a string field holding a control
//! character (C0, DEL or C1) other than newline and tab. Free text is
//! printed on analysts' terminals; a stored ESC or BEL could clear a
//! screen or set a window title. Walking the wire format rather than
//! each request type's fields keeps the rule true for fields added later.

use std::sync::OnceLock;

use prost::{
    bytes::Buf,
    encoding::{WireType, decode_varint},
};
use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};

use crate::FILE_DESCRIPTOR_SET;

/// A string field that breaks the rule: its path in the request (as the
/// daemon's validation names fields, e.g. `report.sources[0].title`) and
/// why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub reason: String,
}

/// Whether a string may be stored: no control character but `\n`, `\t`.
pub fn allowed(c: char) -> bool {
    !c.is_control() || c == '\n' || c == '\t'
}

/// The descriptors of the Truce messages (None only if the embedded
/// descriptor set were broken, which `the_descriptor_set_loads` rules out).
fn pool() -> Option<&'static DescriptorPool> {
    static POOL: OnceLock<Option<DescriptorPool>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(FILE_DESCRIPTOR_SET).ok())
        .as_ref()
}

/// The first string field of `bytes`, an encoded `message_name` (a full
/// name such as `truce.v1.SubmitReportRequest`), that holds a control
/// character other than newline and tab. Bytes that do not parse end the
/// walk: decoding reports them.
pub fn check(message_name: &str, bytes: &[u8]) -> Result<(), Violation> {
    let Some(message) = pool().and_then(|p| p.get_message_by_name(message_name)) else {
        return Ok(());
    };
    walk(&message, bytes, &mut Vec::new(), 0)
}

/// prost's own recursion limit: deeper bytes do not decode anyway.
const MAX_DEPTH: u32 = 100;

/// Where the walk is: each field from the request down, with its index
/// in a list. Named (`report.sources[0].title`) only for a violation, so
/// a request that passes costs no string building.
type Path = Vec<(FieldDescriptor, Option<usize>)>;

fn walk(
    message: &MessageDescriptor,
    mut buf: &[u8],
    path: &mut Path,
    depth: u32,
) -> Result<(), Violation> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    // Occurrences of each repeated field so far, for its index.
    let mut seen: Vec<(u32, usize)> = Vec::new();
    while buf.has_remaining() {
        let Ok(key) = decode_varint(&mut buf) else {
            return Ok(());
        };
        let number = (key >> 3) as u32;
        let Ok(wire) = WireType::try_from(key & 7) else {
            return Ok(());
        };
        if wire != WireType::LengthDelimited {
            if skip(wire, &mut buf, depth).is_none() {
                return Ok(());
            }
            continue;
        }
        let Some(len) = decode_varint(&mut buf)
            .ok()
            .and_then(|l| usize::try_from(l).ok())
            .filter(|l| *l <= buf.len())
        else {
            return Ok(());
        };
        let (value, rest) = buf.split_at(len);
        buf = rest;
        let Some(field) = message.get_field(number) else {
            continue;
        };
        // A packed list of numbers (or bytes) holds no string.
        let kind = field.kind();
        if !matches!(kind, Kind::String | Kind::Message(_)) {
            continue;
        }
        let index = field
            .is_list()
            .then(|| match seen.iter_mut().find(|(n, _)| *n == number) {
                Some((_, count)) => {
                    *count += 1;
                    *count - 1
                }
                None => {
                    seen.push((number, 1));
                    0
                }
            });
        path.push((field, index));
        let checked = match kind {
            Kind::Message(inner) => walk(&inner, value, path, depth + 1),
            _ => string(path, value),
        };
        path.pop();
        checked?;
    }
    Ok(())
}

/// A string's bytes against the rule.
fn string(path: &Path, value: &[u8]) -> Result<(), Violation> {
    let Ok(text) = std::str::from_utf8(value) else {
        return Ok(());
    };
    match text.char_indices().find(|(_, c)| !allowed(*c)) {
        None => Ok(()),
        Some((at, c)) => Err(Violation {
            field: named(path),
            reason: format!(
                "contains the control character U+{:04X} at byte {at}; text may hold \
                 newlines and tabs but no other control characters",
                u32::from(c)
            ),
        }),
    }
}

/// A path as the daemon's validation names fields.
fn named(path: &Path) -> String {
    let mut out = String::new();
    for (i, (field, index)) in path.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(field.name());
        if let Some(n) = index {
            out.push_str(&format!("[{n}]"));
        }
    }
    out
}

/// Skips a value that is not length-delimited (groups included, nested
/// as deep as prost allows); None when the bytes end early.
fn skip(wire: WireType, buf: &mut &[u8], depth: u32) -> Option<()> {
    let fixed = |buf: &mut &[u8], n: usize| (buf.len() >= n).then(|| buf.advance(n));
    match wire {
        WireType::Varint => decode_varint(buf).ok().map(|_| ()),
        WireType::SixtyFourBit => fixed(buf, 8),
        WireType::ThirtyTwoBit => fixed(buf, 4),
        WireType::LengthDelimited => {
            let len = usize::try_from(decode_varint(buf).ok()?).ok()?;
            fixed(buf, len)
        }
        WireType::StartGroup => {
            if depth > MAX_DEPTH {
                return None;
            }
            loop {
                let key = decode_varint(buf).ok()?;
                let inner = WireType::try_from(key & 7).ok()?;
                if inner == WireType::EndGroup {
                    return Some(());
                }
                skip(inner, buf, depth + 1)?;
            }
        }
        WireType::EndGroup => None,
    }
}

#[cfg(test)]
mod tests {
    use prost::{Message, Name};

    use super::*;
    use crate::v1::{Report, Source, SubmitReportRequest};

    fn request(notes: &str, title: &str) -> Vec<u8> {
        SubmitReportRequest {
            request_id: "r-1".into(),
            report: Some(Report {
                notes: notes.into(),
                sources: vec![
                    Source::default(),
                    Source {
                        title: title.into(),
                        ..Source::default()
                    },
                ],
                tags: vec!["a".into()],
                ..Report::default()
            }),
            ..SubmitReportRequest::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn the_descriptor_set_loads() {
        assert!(pool().is_some_and(|p| {
            p.get_message_by_name(&SubmitReportRequest::full_name())
                .is_some()
        }));
    }

    #[test]
    fn text_may_hold_newlines_and_tabs() {
        let name = SubmitReportRequest::full_name();
        assert_eq!(check(&name, &request("line\n\tindented é", "t")), Ok(()));
    }

    #[test]
    fn escape_bell_and_c1_are_refused_naming_the_field() {
        let name = SubmitReportRequest::full_name();
        let v = check(&name, &request("clear \u{1b}[2J", "")).expect_err("accepted");
        assert_eq!(v.field, "report.notes");
        assert!(v.reason.contains("U+001B at byte 6"), "{}", v.reason);
        let v = check(&name, &request("", "title\u{7}")).expect_err("accepted");
        assert_eq!(v.field, "report.sources[1].title");
        let v = check(&name, &request("csi \u{9b}", "")).expect_err("accepted");
        assert!(v.reason.contains("U+009B"), "{}", v.reason);
        let v = check(&name, &request("cr\r", "")).expect_err("accepted");
        assert_eq!(v.field, "report.notes");
    }

    #[test]
    fn an_unknown_group_does_not_hide_a_later_field() {
        let name = SubmitReportRequest::full_name();
        // Field 99 as a group holding a varint, then the report.
        let mut bytes = vec![0x9b, 0x06, 0x08, 0x01, 0x9c, 0x06];
        bytes.extend(request("\u{1b}", ""));
        let v = check(&name, &bytes).expect_err("accepted");
        assert_eq!(v.field, "report.notes");
    }
}
