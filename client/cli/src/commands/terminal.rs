//! What `truce` prints goes through here: control characters other than
//! newline and tab are written as `\u001b`-style escapes, so text stored
//! in the log (or a message from a daemon) cannot move the cursor, clear
//! the screen or set a window title on the analyst's terminal. The daemon
//! refuses such characters in requests; this is the defence for entries
//! stored before that rule and for any other daemon. The escape is the
//! JSON one, so JSON Lines output keeps its meaning.

use std::{
    borrow::Cow,
    fmt::Display,
    io::{self, Write},
};

/// Whether `c` is printed as is.
fn shown(c: char) -> bool {
    !c.is_control() || c == '\n' || c == '\t'
}

/// `s` with every control character but newline and tab escaped.
pub fn escape(s: &str) -> Cow<'_, str> {
    if s.chars().all(shown) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if shown(c) {
            out.push(c);
        } else {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        }
    }
    Cow::Owned(out)
}

/// A writer that escapes control characters (C0 but `\n` and `\t`, DEL,
/// and C1, which UTF-8 writes as 0xC2 0x80-0x9F, possibly split across
/// two writes) on their way to `inner`.
#[derive(Debug)]
pub struct Escaping<W: Write> {
    inner: W,
    /// A 0xC2 byte whose next byte decides whether it starts a C1.
    pending: bool,
}

impl<W: Write> Escaping<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            pending: false,
        }
    }
}

impl<W: Write> Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut out = Vec::with_capacity(buf.len());
        for &b in buf {
            if std::mem::take(&mut self.pending) {
                if (0x80..=0x9f).contains(&b) {
                    out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
                    continue;
                }
                out.push(0xc2);
            }
            match b {
                0xc2 => self.pending = true,
                b'\n' | b'\t' => out.push(b),
                0x00..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
                _ => out.push(b),
            }
        }
        self.inner.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if std::mem::take(&mut self.pending) {
            self.inner.write_all(&[0xc2])?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for Escaping<W> {
    fn drop(&mut self) {
        // A lone 0xC2 at the very end is not a control character.
        if self.pending {
            let _ = self.inner.write_all(&[0xc2]);
        }
    }
}

/// Standard output, escaped.
pub fn stdout() -> Escaping<io::StdoutLock<'static>> {
    Escaping::new(io::stdout().lock())
}

/// One line on standard output, escaped (as `println!`; a closed pipe is
/// not an error here).
pub fn println(line: impl Display) {
    let _ = writeln!(stdout(), "{line}");
}

/// One line on standard error, escaped (as `eprintln!`, which it replaces
/// for anything that may hold text from the log or the daemon).
pub fn eprintln(line: impl Display) {
    let mut err = Escaping::new(io::stderr().lock());
    let _ = writeln!(err, "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = Escaping::new(&mut out);
            for c in chunks {
                w.write_all(c).expect("a Vec takes any write");
            }
            w.flush().expect("a Vec flushes");
        }
        out
    }

    #[test]
    fn escape_bell_and_c1_are_escaped_newlines_and_tabs_kept() {
        assert_eq!(escape("a\tb\nc é"), "a\tb\nc é");
        assert_eq!(escape("\u{1b}]0;title\u{7}"), "\\u001b]0;title\\u0007");
        assert_eq!(escape("csi\u{9b}2J\r\u{7f}"), "csi\\u009b2J\\u000d\\u007f");
        let text = "x\u{1b}[2J \u{9b}y é\u{a0}\n";
        assert_eq!(through(&[text.as_bytes()]), escape(text).as_bytes());
    }

    #[test]
    fn a_c1_split_across_writes_is_still_escaped() {
        let c1 = "\u{9b}".as_bytes();
        assert_eq!(through(&[b"a", &c1[..1], &c1[1..], b"b"]), b"a\\u009bb");
        let nbsp = "\u{a0}".as_bytes();
        assert_eq!(through(&[&nbsp[..1], &nbsp[1..]]), nbsp);
    }

    #[test]
    fn json_keeps_its_meaning() {
        let value = serde_json::json!({"notes": "a\u{9b}b\u{7f}\u{1b}"});
        let line = serde_json::to_string(&value).expect("serializes");
        let escaped = String::from_utf8(through(&[line.as_bytes()])).expect("UTF-8");
        assert!(!escaped.contains(['\u{9b}', '\u{7f}', '\u{1b}']));
        let back: serde_json::Value = serde_json::from_str(&escaped).expect("still JSON");
        assert_eq!(back, value);
    }
}
