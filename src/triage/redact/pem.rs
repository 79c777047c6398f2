//! Private key blocks (PEM, OpenSSH, PGP), whole or cut: from the BEGIN
//! line through the base64 body lines that follow — bare, behind a log
//! prefix (`12:00:01 api | MIIEv…`), or `\n`-escaped inside a JSON string —
//! to the END line if there is one. A BEGIN without an END takes the body
//! lines and stops at the first line that is not one: the rest of the
//! document stays.

use regex::Regex;
use std::sync::LazyLock;

static BEGIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"-----BEGIN[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----").expect("pem begin")
});
static END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"-----END[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----").expect("pem end")
});
/// A block on one line with escaped line breaks (JSON, env files).
static ESCAPED_BODY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\A(?:(?:\\+r)?\\+n(?:[A-Za-z0-9+/=]{1,100}|[A-Za-z-]+: [^\\]{1,100})?)+(?:-----END[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----)?")
        .expect("pem escaped body")
});

fn is_base64(tok: &str) -> bool {
    !tok.is_empty()
        && tok
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
}

/// A body line: 16+ base64 characters, or the short last line of a block
/// after a full-width one (`AQAB`, `Zw==`), which a word like `done` is not.
fn is_body(tok: &str, prev: usize) -> bool {
    is_base64(tok)
        && (tok.len() >= 16
            || tok.ends_with('=')
            || (prev >= 60
                && tok
                    .bytes()
                    .any(|b| b.is_ascii_digit() || b.is_ascii_uppercase())))
}

/// Finds private key blocks in `text`.
pub fn detect(text: &str, push: &mut dyn FnMut(&'static str, usize, usize)) {
    if !text.contains("-----BEGIN") {
        return;
    }
    let mut from = 0;
    while let Some(m) = BEGIN.find_at(text, from) {
        let mut cur = (m.start(), m.end());
        from = m.end();
        // `\n`-escaped body on the same line.
        if let Some(e) = ESCAPED_BODY.find(&text[m.end()..]) {
            if !e.is_empty() {
                cur.1 = m.end() + e.end();
                push("private-key", cur.0, cur.1);
                from = cur.1;
                continue;
            }
        }
        // Base64 left on the BEGIN line itself (`BEGIN…----- MIIE…`).
        let line_end = text[m.end()..]
            .find('\n')
            .map_or(text.len(), |i| m.end() + i);
        let rest = text[m.end()..line_end].trim_end_matches('\r');
        if let Some(tok) = rest.split_whitespace().next() {
            if is_body(tok, 0) && rest.trim_start().starts_with(tok) {
                let s = m.end() + rest.find(tok).expect("token in rest");
                cur.1 = s + tok.len();
            }
        }
        // A block that reaches its END takes every base64 line before it;
        // a cut one only lines that cannot be words.
        let (found, last, ended) = walk(text, line_end, cur, true);
        let (found, last) = if ended {
            (found, last)
        } else {
            let (f, l, _) = walk(text, line_end, cur, false);
            (f, l)
        };
        for (s, e) in found {
            push("private-key", s, e);
        }
        cur = last;
        push("private-key", cur.0, cur.1);
        from = from.max(cur.1);
    }
}

/// Walks the lines after a BEGIN line (ending at `line_end`), growing the
/// finding `cur`; returns the finished findings, the last one, and whether
/// an END line closed the block.
fn walk(
    text: &str,
    line_end: usize,
    mut cur: (usize, usize),
    relaxed: bool,
) -> (Vec<(usize, usize)>, (usize, usize), bool) {
    let mut out = Vec::new();
    let mut pos = line_end;
    let mut in_headers = true;
    let mut prev = 0;
    while pos < text.len() {
        let start = pos + 1;
        let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line = text[start..end].trim_end_matches('\r');
        if let Some(e) = END.find(line) {
            let (s, t) = (start + e.start(), start + e.end());
            if line[..e.start()].trim().is_empty() {
                cur.1 = t;
            } else {
                out.push(cur);
                cur = (s, t);
            }
            return (out, cur, true);
        }
        let trimmed = line.trim();
        let header = in_headers
            && (trimmed.starts_with("Proc-Type:")
                || trimmed.starts_with("DEK-Info:")
                || trimmed.starts_with("Comment:")
                || trimmed.starts_with("Version:"));
        let Some(tok) = trimmed.rsplit(char::is_whitespace).next() else {
            break;
        };
        if header || (trimmed.is_empty() && in_headers) {
            if !trimmed.is_empty() {
                cur.1 = start + line.len();
            }
            pos = end;
            continue;
        }
        in_headers = false;
        let s = start + line.rfind(tok).expect("token in line");
        let bare = line[..s - start].trim().is_empty();
        let body = if relaxed {
            is_base64(tok)
        } else {
            // Behind a log prefix only full-width lines count.
            is_body(tok, prev) && (bare || tok.len() >= 16)
        };
        if !body {
            break;
        }
        prev = tok.len();
        if bare {
            cur.1 = s + tok.len();
        } else {
            out.push(cur);
            cur = (s, s + tok.len());
        }
        pos = end;
    }
    (out, cur, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        detect(text, &mut |_, s, e| out.push((s, e)));
        out.into_iter().map(|(s, e)| &text[s..e]).collect()
    }

    #[test]
    fn a_cut_block_keeps_the_rest_of_the_document() {
        let wide = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj";
        let text =
            format!("-----BEGIN PRIVATE KEY-----\n{wide}\nAQEFAASC\ndone\nNext section: all fine.");
        assert_eq!(
            spans(&text),
            [format!("-----BEGIN PRIVATE KEY-----\n{wide}\nAQEFAASC")]
        );
        let alone = "log: -----BEGIN RSA PRIVATE KEY----- and then prose";
        assert_eq!(spans(alone), ["-----BEGIN RSA PRIVATE KEY-----"]);
    }

    #[test]
    fn prefixed_and_escaped_bodies() {
        let text = "12:00 api | -----BEGIN PRIVATE KEY-----\n12:00 api | MIIEvQIBADANBgkq\n12:00 api | -----END PRIVATE KEY-----\n12:01 api | ok";
        assert_eq!(
            spans(text),
            [
                "-----BEGIN PRIVATE KEY-----",
                "MIIEvQIBADANBgkq",
                "-----END PRIVATE KEY-----"
            ]
        );
        let json = r#"{"key":"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBk\nAoGCCqGSM49\n-----END EC PRIVATE KEY-----\n","x":1}"#;
        assert_eq!(
            spans(json),
            [
                r"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBk\nAoGCCqGSM49\n-----END EC PRIVATE KEY-----"
            ]
        );
    }
}
