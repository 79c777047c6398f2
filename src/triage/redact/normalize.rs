//! Normalising text before secrets are looked for: NFKC (full-width and
//! other compatibility look-alikes become ASCII), zero-width and bidi
//! controls removed, printable percent-escapes decoded (`password%3D…`).
//! Detectors read the normal form; an offset map brings every finding back
//! to the original text, which is what gets redacted.

use unicode_normalization::UnicodeNormalization;

/// The normal form of a text and, for each of its bytes, the range of the
/// original text it came from.
#[derive(Debug, Clone)]
pub struct Normalized {
    /// The text detectors read.
    pub text: String,
    /// `spans[i]`: original byte range of the character normal byte `i` came from.
    spans: Vec<(usize, usize)>,
}

impl Normalized {
    /// The original byte range of the normal range `start..end` (non-empty).
    pub fn to_original(&self, start: usize, end: usize) -> (usize, usize) {
        (self.spans[start].0, self.spans[end - 1].1)
    }
}

/// Characters that render as nothing: they split a keyword or a fence tag
/// for a matcher while the model reads straight through them.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E007F}')
}

fn memchr_percent(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'%')
        .map(|(i, _)| i)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The normal form of `text`, or `None` when it is its own normal form
/// (plain ASCII without percent-escapes: the common case, kept free).
pub fn normalize(text: &str) -> Option<Normalized> {
    let bytes = text.as_bytes();
    let escape_at = |i: usize| {
        bytes[i] == b'%'
            && i + 2 < bytes.len()
            && matches!((hex(bytes[i + 1]), hex(bytes[i + 2])), (Some(h), Some(l)) if (0x20..0x7f).contains(&(h * 16 + l)))
    };
    if text.is_ascii() && !memchr_percent(bytes).any(escape_at) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut spans = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                let v = h * 16 + l;
                if (0x20..0x7f).contains(&v) {
                    out.push(v as char);
                    spans.push((i, i + 3));
                    i += 3;
                    continue;
                }
            }
        }
        if b.is_ascii() {
            out.push(b as char);
            spans.push((i, i + 1));
            i += 1;
            continue;
        }
        let c = text[i..].chars().next().expect("a char at a boundary");
        let n = c.len_utf8();
        if !is_invisible(c) {
            let before = out.len();
            out.extend(std::iter::once(c).nfkc());
            spans.extend(std::iter::repeat_n((i, i + n), out.len() - before));
        }
        i += n;
    }
    Some(Normalized { text: out, spans })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_back_to_the_original() {
        let text = "ｐａｓｓｗｏｒｄ=a\u{200B}b%3Dc";
        let n = normalize(text).expect("not ascii");
        assert_eq!(n.text, "password=ab=c");
        let (s, e) = n.to_original(9, 13);
        assert_eq!(&text[s..e], "a\u{200B}b%3Dc");
        assert!(normalize("plain ascii").is_none());
    }
}
