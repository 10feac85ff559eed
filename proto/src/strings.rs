//! The one place every string of every request passes through: the
//! request codec walks the encoded message, guided by the descriptors of
//! the `.proto` files, and refuses a string field holding a control
//! character (C0, DEL or C1) other than newline and tab. Free text is
//! printed on analysts' terminals; a stored ESC or BEL could clear a
//! screen or set a window title. Walking the wire format rather than
//! each request type's fields keeps the rule true for fields added later.

use std::{collections::HashMap, sync::OnceLock};

use prost::{
    bytes::Buf,
    encoding::{WireType, decode_varint},
};
use prost_reflect::{DescriptorPool, Kind};

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

/// What the walk needs of every message, resolved once from the
/// descriptors: the fields that can hold a string (strings, and messages
/// that may hold some). Looking fields up in the descriptors for every
/// field of every request cost more than the check itself.
struct Plans {
    by_name: HashMap<String, usize>,
    messages: Vec<Vec<FieldPlan>>,
}

/// One field that can hold a string.
struct FieldPlan {
    number: u32,
    name: String,
    list: bool,
    /// The message it holds (an index in [`Plans::messages`]), or None
    /// for a string.
    message: Option<usize>,
}

fn plans() -> Option<&'static Plans> {
    static PLANS: OnceLock<Option<Plans>> = OnceLock::new();
    PLANS.get_or_init(|| pool().map(plan)).as_ref()
}

fn plan(pool: &DescriptorPool) -> Plans {
    let by_name: HashMap<String, usize> = pool
        .all_messages()
        .enumerate()
        .map(|(i, m)| (m.full_name().to_owned(), i))
        .collect();
    let messages = pool
        .all_messages()
        .map(|m| {
            let mut fields: Vec<FieldPlan> = m
                .fields()
                .filter_map(|f| {
                    let message = match f.kind() {
                        Kind::String => None,
                        Kind::Message(inner) => Some(*by_name.get(inner.full_name())?),
                        _ => return None,
                    };
                    Some(FieldPlan {
                        number: f.number(),
                        name: f.name().to_owned(),
                        list: f.is_list(),
                        message,
                    })
                })
                .collect();
            fields.sort_by_key(|f| f.number);
            fields
        })
        .collect();
    Plans { by_name, messages }
}

/// The first string field of `bytes`, an encoded `message_name` (a full
/// name such as `truce.v1.SubmitReportRequest`), that holds a control
/// character other than newline and tab. Bytes that do not parse end the
/// walk: decoding reports them.
pub fn check(message_name: &str, bytes: &[u8]) -> Result<(), Violation> {
    let Some(plans) = plans() else {
        return Ok(());
    };
    let Some(&message) = plans.by_name.get(message_name) else {
        return Ok(());
    };
    walk(plans, message, bytes, &mut Vec::new(), 0)
}

/// prost's own recursion limit: deeper bytes do not decode anyway.
const MAX_DEPTH: u32 = 100;

/// Where the walk is: each field from the request down, with its index
/// in a list. Named (`report.sources[0].title`) only for a violation, so
/// a request that passes costs no string building.
type Path = Vec<(&'static FieldPlan, Option<usize>)>;

fn walk(
    plans: &'static Plans,
    message: usize,
    mut buf: &[u8],
    path: &mut Path,
    depth: u32,
) -> Result<(), Violation> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let Some(fields) = plans.messages.get(message) else {
        return Ok(());
    };
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
        // A field that holds no string (a packed list of numbers, bytes,
        // an unknown field) is skipped.
        let Ok(at) = fields.binary_search_by_key(&number, |f| f.number) else {
            continue;
        };
        let field = &fields[at];
        let index = field
            .list
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
        let checked = match field.message {
            Some(inner) => walk(plans, inner, value, path, depth + 1),
            None => string(path, value),
        };
        path.pop();
        checked?;
    }
    Ok(())
}

/// A string's bytes against the rule. They decoded as UTF-8 before the
/// walk (the codec decodes first), so the scan goes by bytes.
fn string(path: &Path, value: &[u8]) -> Result<(), Violation> {
    let Some(at) = first_control(value) else {
        return Ok(());
    };
    let c = String::from_utf8_lossy(&value[at..])
        .chars()
        .next()
        .unwrap_or_default();
    Err(Violation {
        field: named(path),
        reason: format!(
            "contains the control character U+{:04X} at byte {at}; text may hold \
             newlines and tabs but no other control characters",
            u32::from(c)
        ),
    })
}

/// Where the first control character other than newline and tab starts
/// in UTF-8: C0 and DEL are single bytes, and C1 (U+0080 to U+009F) is
/// 0xC2 followed by 0x80 to 0x9F; no other character is a control
/// character (`char::is_control`). Blocks of 32 bytes with none of those
/// lead bytes (nearly all text) are passed over without a branch per
/// byte.
fn first_control(bytes: &[u8]) -> Option<usize> {
    const BLOCK: usize = 32;
    let mut start = 0;
    for block in bytes.chunks(BLOCK) {
        let suspect = block.iter().fold(false, |any, &b| {
            any | (b < 0x20) | (b == 0x7f) | (b == 0xc2)
        });
        if suspect {
            let found = (start..start + block.len()).find(|&i| match bytes[i] {
                b'\n' | b'\t' => false,
                0..0x20 | 0x7f => true,
                0xc2 => bytes.get(i + 1).is_some_and(|n| (0x80..0xa0).contains(n)),
                _ => false,
            });
            if found.is_some() {
                return found;
            }
        }
        start += block.len();
    }
    None
}

/// A path as the daemon's validation names fields.
fn named(path: &Path) -> String {
    let mut out = String::new();
    for (i, (field, index)) in path.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(&field.name);
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
    fn the_byte_scan_finds_exactly_the_control_characters() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            // At the start, inside and across the end of a 32-byte block.
            for pad in [0, 2, 31, 40] {
                let text = format!("{}{c}d", "a".repeat(pad));
                let found = first_control(text.as_bytes());
                assert_eq!(found.is_none(), allowed(c), "U+{:04X}", u32::from(c));
                if let Some(at) = found {
                    assert_eq!(at, pad, "U+{:04X}", u32::from(c));
                }
            }
        }
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
