//! Terminal-safe text: the one print boundary of the headless commands.
//!
//! Labels, alert annotations, model output and server error bodies are
//! untrusted; printed raw, an `ESC ] 0 ;` sets the terminal's title, an
//! `ESC ] 52 ;` writes the clipboard and a newline forges a table row. Every
//! byte the CLI writes goes through [`Safe`] (via [`stdout`] and
//! [`stderr`]), which shows control characters as visible escapes (`\x1b`,
//! `\u{9b}`); [`one_line`] also escapes `\n`, `\r` and `\t` inside one table
//! row; [`json`] writes JSON lines whose strings carry C1 controls, DEL,
//! line separators and bidi overrides as `\uXXXX`, so the JSON means exactly
//! the same and normal data stays byte-identical.
//!
//! It must not reformat anything else: printable text (any script, emoji)
//! passes untouched.

use serde::Serialize;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

/// True for a character a terminal may act on instead of showing: C0 (except
/// what `keep` allows), DEL, C1 (incl. the 8-bit CSI U+009B and OSC U+009D),
/// the line/paragraph separators and the bidi embeddings, overrides and
/// isolates that reorder what the reader sees.
fn unsafe_char(c: char, keep_layout: bool) -> bool {
    match c {
        '\n' | '\t' => !keep_layout,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

/// How a refused character is shown: `\n`, `\x1b`, `\u{9b}`.
fn push_escape(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

fn escape(s: &str, keep_layout: bool) -> Cow<'_, str> {
    if !s.chars().any(|c| unsafe_char(c, keep_layout)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c, keep_layout) {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` as one line: every control character escaped, newlines and tabs too,
/// so a field cannot start a row of its own.
pub fn one_line(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// `s` as text: control characters escaped, line breaks and tabs kept.
pub fn text(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

/// A writer that shows control characters as visible escapes (line breaks
/// and tabs pass): everything the CLI prints goes through one, so a new print
/// path cannot forget. Bytes that are not UTF-8 are shown as `\xNN` (a lone
/// 0x9B byte is CSI to an 8-bit terminal).
pub struct Safe<W: Write> {
    inner: W,
    /// The start of a UTF-8 sequence split across writes.
    pending: Vec<u8>,
}

impl<W: Write> Safe<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Safe<W> {
        Safe {
            inner,
            pending: Vec::new(),
        }
    }

    /// Writes one row: `args` with every control character escaped
    /// (newlines too), then a line break.
    pub fn row(&mut self, args: std::fmt::Arguments<'_>) -> io::Result<()> {
        let line = args.to_string();
        let mut s = one_line(&line).into_owned();
        s.push('\n');
        self.write_all(s.as_bytes())
    }

    /// Writes one JSON line (see [`json`]).
    pub fn json_line<T: Serialize + ?Sized>(&mut self, value: &T) -> io::Result<()> {
        let mut s = json(value)?;
        s.push('\n');
        self.write_all(s.as_bytes())
    }

    /// Escapes and writes as much of `pending` as is complete; with `all`,
    /// also a trailing partial sequence.
    fn drain(&mut self, all: bool) -> io::Result<()> {
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(&text(s));
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    // Checked by from_utf8 above.
                    out.push_str(&text(std::str::from_utf8(good).unwrap_or_default()));
                    match e.error_len() {
                        Some(n) => {
                            for b in &bad[..n] {
                                let _ = write!(out, "\\x{b:02x}");
                            }
                            rest = &bad[n..];
                        }
                        None if all => {
                            for b in bad {
                                let _ = write!(out, "\\x{b:02x}");
                            }
                            rest = &[];
                            break;
                        }
                        None => {
                            rest = bad;
                            break;
                        }
                    }
                }
            }
        }
        let keep = rest.to_vec();
        self.pending = keep;
        self.inner.write_all(out.as_bytes())
    }
}

impl<W: Write> Write for Safe<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        self.drain(false)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain(false)?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for Safe<W> {
    fn drop(&mut self) {
        let _ = self.drain(true);
        let _ = self.inner.flush();
    }
}

/// Standard output, locked, through [`Safe`].
pub fn stdout() -> Safe<io::StdoutLock<'static>> {
    Safe::new(io::stdout().lock())
}

/// Standard error, locked, through [`Safe`].
pub fn stderr() -> Safe<io::StderrLock<'static>> {
    Safe::new(io::stderr().lock())
}

/// Prints a line of text to standard error through [`Safe`] (errors and
/// warnings: multi-line config errors keep their line breaks).
pub fn eprint_line(args: std::fmt::Arguments<'_>) {
    let mut err = stderr();
    let _ = writeln!(err, "{args}");
}

/// Formats like serde_json's compact output, and also writes C1 controls,
/// DEL, U+2028/2029 and bidi controls as `\uXXXX` (valid JSON, same value).
struct TerminalJson;

impl serde_json::ser::Formatter for TerminalJson {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if unsafe_char(c, true) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// `value` as one compact JSON line (no line break) that is safe on a terminal.
pub fn json<T: Serialize + ?Sized>(value: &T) -> io::Result<String> {
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, TerminalJson);
    value.serialize(&mut ser).map_err(io::Error::other)?;
    // Only valid UTF-8 goes in: the formatter writes str fragments and ASCII escapes.
    String::from_utf8(buf).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an attacker puts in a label: title, clipboard, clear screen,
    /// 8-bit CSI and OSC, DEL, a bidi override and a forged row.
    const HOSTILE: &str = "a\u{1b}]0;pwned\u{7}b\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[2J\u{9b}31m\u{9d}0;x\u{7f}\u{202e}z\nfake row\r";

    fn shown(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        {
            let mut w = Safe::new(&mut out);
            w.write_all(bytes).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    fn no_controls_but_newline(s: &str) {
        for c in s.chars() {
            assert!(!unsafe_char(c, true), "{c:?} reached the output in {s:?}");
        }
    }

    #[test]
    fn one_line_escapes_every_control_and_the_newline() {
        let s = one_line(HOSTILE);
        assert_eq!(
            s,
            "a\\x1b]0;pwned\\x07b\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J\\u{9b}31m\\u{9d}0;x\\x7f\\u{202e}z\\nfake row\\r"
        );
        assert!(!s.contains('\n'));
        no_controls_but_newline(&s);
    }

    #[test]
    fn text_keeps_line_breaks_and_tabs_only() {
        assert_eq!(text("a\tb\nc\rd\u{1b}"), "a\tb\nc\\rd\\x1b");
        assert!(matches!(text("plain ünïcödé ✔ 数据"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_writer_escapes_across_split_writes_and_invalid_bytes() {
        let mut out = Vec::new();
        {
            let mut w = Safe::new(&mut out);
            // U+009B is C2 9B in UTF-8: split between two writes.
            w.write_all(b"x\xc2").unwrap();
            w.write_all(b"\x9b2J ok \xe2\x9c").unwrap();
            w.write_all(b"\x94 lone \x9b byte\n").unwrap();
            w.flush().unwrap();
            // A partial sequence left at the end is shown, not dropped.
            w.write_all(b"end\xe2\x80").unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "x\\u{9b}2J ok ✔ lone \\x9b byte\nend\\xe2\\x80"
        );
        assert_eq!(shown(HOSTILE.as_bytes()).matches('\n').count(), 1);
        no_controls_but_newline(&shown(HOSTILE.as_bytes()));
    }

    #[test]
    fn row_cannot_be_split() {
        let mut out = Vec::new();
        {
            let mut w = Safe::new(&mut out);
            w.row(format_args!("{:<6}|{}", "api\nforged", "x")).unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "api\\nforged|x\n");
    }

    #[test]
    fn json_is_byte_identical_for_normal_data_and_exact_for_hostile() {
        let normal = serde_json::json!({"service": "api ✔ 数据", "value": 1.5, "q": "say \"hi\"\n", "none": null});
        assert_eq!(
            json(&normal).unwrap(),
            serde_json::to_string(&normal).unwrap()
        );
        let hostile = serde_json::json!({"service": HOSTILE, "sep": "\u{2028}\u{2029}\u{2066}"});
        let line = json(&hostile).unwrap();
        assert!(line.is_ascii() || !line.chars().any(|c| unsafe_char(c, false)));
        no_controls_but_newline(&line);
        assert!(!line.contains('\n'));
        assert!(line.contains("\\u009b") && line.contains("\\u202e") && line.contains("\\u2028"));
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back, hostile);
        // Through the writer the JSON stays as it was: nothing left to escape.
        assert_eq!(shown(line.as_bytes()), line);
    }
}
