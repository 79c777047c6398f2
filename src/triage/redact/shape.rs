//! What a secret value looks like, and what it does not: placeholders,
//! entropy, the shapes of ids that must survive (UUIDs, hashes, versions,
//! timestamps), and the bare-token check for vendor formats nobody listed.

use regex::Regex;
use std::sync::LazyLock;

/// An existing marker; read as atomic, never as data.
pub static MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[REDACTED:[a-z0-9-]{1,40}\]").expect("marker pattern"));

/// True for values that carry no secret: empty, templates (`${X}`, `{{ x }}`,
/// `<x>`), masks, references (`env:`, `vault:`), words like `null`, `changeme`.
pub fn is_placeholder(value: &str) -> bool {
    let v = MARKER.replace_all(value, "");
    let v = v
        .trim()
        .trim_matches(|c| c == '"' || c == '\'' || c == '\\');
    if v.is_empty() {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    if ["{{", "{%", "<%", "${", "#{"]
        .iter()
        .any(|t| lower.starts_with(t))
    {
        return true;
    }
    let wrapped = |a: &str, b: &str| lower.starts_with(a) && lower.ends_with(b) && lower.len() > 1;
    if wrapped("<", ">") || wrapped("%(", ")s") || (wrapped("%", "%") && v.len() > 2) {
        return true;
    }
    if let Some(name) = v.strip_prefix('$') {
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return true;
        }
    }
    if v.chars().all(|c| "*xX.•#_-?".contains(c)) {
        return true;
    }
    const REFS: &[&str] = &[
        "env:",
        "vault:",
        "file:",
        "arn:",
        "op://",
        "secretref:",
        "ref+",
        "sm://",
        "awssm:",
        "gcp:",
    ];
    if REFS.iter().any(|r| lower.starts_with(r)) {
        return true;
    }
    let word = lower.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    const WORDS: &[&str] = &[
        "null",
        "nil",
        "none",
        "undefined",
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "empty",
        "redacted",
        "removed",
        "hidden",
        "masked",
        "filtered",
        "secret",
        "password",
        "passwd",
        "token",
        "changeme",
        "change_me",
        "change-me",
        "changeit",
        "example",
        "placeholder",
        "dummy",
        "todo",
        "tbd",
        "fixme",
        "notset",
        "not_set",
        "unset",
        "n/a",
        "na",
        "replaceme",
        "replace_me",
        "replace-me",
        "required",
        "optional",
        "invalid",
        "expired",
        "missing",
        "string",
    ];
    WORDS.contains(&word)
        || word.starts_with("your")
        || word.ends_with("_here")
        || word.ends_with("-here")
}

/// Shannon entropy in bits per character.
pub fn entropy(v: &str) -> f64 {
    let mut counts = [0usize; 128];
    let mut other = std::collections::HashMap::new();
    let mut n = 0usize;
    for c in v.chars() {
        if (c as u32) < 128 {
            counts[c as usize] += 1;
        } else {
            *other.entry(c).or_insert(0usize) += 1;
        }
        n += 1;
    }
    counts
        .iter()
        .chain(other.values())
        .filter(|&&k| k > 0)
        .map(|&k| {
            let p = k as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}

/// `8-4-4-4-12` hex.
pub fn is_uuid(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Values that are ordinary data even next to a secret-sounding name:
/// numbers, durations, versions, timestamps, paths, URLs without userinfo,
/// and plain words (`secret_name: orders-db-credentials`).
pub fn is_ordinary(v: &str) -> bool {
    static ORDINARY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(concat!(
            r"^(?:[+-]?[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d|w|y|ns|us|µs|b|kb|mb|gb|ki|mi|gi|%)?",
            r"|v?[0-9]+(?:\.[0-9]+){1,3}(?:[-+][0-9A-Za-z.-]+)?",
            r"|[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9:.]+(?:Z|[+-][0-9:]+)?)?",
            r"|[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?",
            r"|https?://[^@\s]*",
            r"|[a-z]+(?:[-_.][a-z]+)*",
            // Kubernetes names with generated suffixes: `api-7d9f8b6c5d-x2x4q`.
            r"|[a-z]+(?:-[a-z]+)*(?:-[a-z0-9]{6,10})?-[a-z0-9]{5}",
            r"|[A-Z][a-z]+(?:[A-Z][a-z]+)*",
            r"|[A-Z]+(?:_[A-Z]+)*",
            r")$",
        ))
        .expect("ordinary pattern")
    });
    if v.starts_with('/') && !v.contains(char::is_whitespace) && v.len() > 1 {
        return true;
    }
    // One long lowercase run is not a word: random lowercase secrets exist.
    let longest_word = v
        .split(|c: char| !c.is_ascii_alphabetic())
        .map(str::len)
        .max()
        .unwrap_or(0);
    ORDINARY.is_match(v) && !(v.chars().all(|c| c.is_ascii_lowercase()) && longest_word > 16)
}

/// A value next to a secret-sounding name that is worth hiding: long
/// enough, not a placeholder, not ordinary data, and either mixing letters
/// with digits or high in entropy.
pub fn looks_secret(v: &str) -> bool {
    let n = v.chars().count();
    if n < 8 || is_placeholder(v) || is_ordinary(v) {
        return false;
    }
    let letters = v.chars().any(|c| c.is_alphabetic());
    let digits = v.chars().any(|c| c.is_ascii_digit());
    if n < 12 {
        // Short values only when they mix letters and digits at some entropy.
        return letters && digits && entropy(v) >= 2.5;
    }
    if !letters {
        // All digits (counts, ids, ports) only if very long.
        return v.chars().filter(char::is_ascii_digit).count() >= 24;
    }
    digits || entropy(v) >= 3.3
}

/// A token that reads as a generated credential on its own, with no name
/// next to it: 20 to 160 characters, one piece of them (between `-_.~`) at
/// least 16 long mixing upper case, lower case and digits with high entropy.
/// Hex ids, UUIDs, ULIDs, pod names, words and paths never qualify.
pub fn is_random_token(v: &str) -> bool {
    if !(20..=160).contains(&v.len()) {
        return false;
    }
    // `glpat-Ab1_cD…`: a short lower-case vendor prefix, then random
    // base64url whose separators cut it into short pieces.
    let body = v
        .find(['-', '_'])
        .filter(|&i| (2..=10).contains(&i) && v[..i].bytes().all(|b| b.is_ascii_lowercase()))
        .map(|i| &v[i + 1..]);
    if let Some(body) = body {
        let count = |f: fn(&u8) -> bool| body.bytes().filter(f).count();
        if body.len() >= 20
            && count(u8::is_ascii_uppercase) >= 2
            && count(u8::is_ascii_lowercase) >= 2
            && count(u8::is_ascii_digit) >= 2
            && entropy(body) >= 4.0
            && !looks_like_words(body)
        {
            return true;
        }
    }
    v.split(['-', '_', '.', '~']).any(|piece| {
        let (mut up, mut low, mut dig) = (0, 0, 0);
        for b in piece.bytes() {
            match b {
                b'A'..=b'Z' => up += 1,
                b'a'..=b'z' => low += 1,
                b'0'..=b'9' => dig += 1,
                _ => {}
            }
        }
        piece.len() >= 16
            && up >= 2
            && low >= 2
            && dig >= 2
            && entropy(piece) >= 3.5
            && !looks_like_words(piece)
    })
}

/// `getUserAccountById`, `OrderService_placeOrder`: identifiers, not keys.
fn looks_like_words(v: &str) -> bool {
    // In an identifier most characters follow a lower-case letter; in a
    // random token, case and digits switch all the time.
    let b = v.as_bytes();
    let switches = b
        .windows(2)
        .filter(|w| w[0].is_ascii_lowercase() != w[1].is_ascii_lowercase())
        .count();
    (switches as f64) < b.len() as f64 * 0.25
}

/// An unquoted value ends before `&name=` (the next query parameter), but a
/// lone `&` is part of it (`Tr0ub4dor&3`).
pub fn query_value_end(text: &str, start: usize, end: usize) -> usize {
    static NEXT_PARAM: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"&(?:amp;)?[A-Za-z0-9_.\[\]-]+=").expect("param pattern"));
    NEXT_PARAM
        .find(&text[start..end])
        .map_or(end, |m| start + m.start())
}

/// Drops closing brackets that end an unquoted value without having been
/// opened in it: `{password: abc}` → `abc`, but `${X}` and markers stay whole.
pub fn trim_closers(text: &str, start: usize, mut end: usize) -> (usize, usize) {
    let v = &text[start..end];
    let count = |c: char| v.bytes().filter(|&b| b == c as u8).count();
    let mut balance = [('(', ')'), ('{', '}'), ('[', ']'), ('<', '>')]
        .map(|(open, close)| (close, count(close) as isize - count(open) as isize));
    while let Some(last) = text[start..end].chars().next_back() {
        match balance.iter_mut().find(|(close, _)| *close == last) {
            Some((_, excess)) if *excess > 0 => {
                *excess -= 1;
                end -= 1;
            }
            _ if last == '.' || last == ',' => end -= 1,
            _ => break,
        }
    }
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_not_tokens() {
        assert!(!is_random_token("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(!is_random_token("getUserAccountById2Fast"));
        assert!(is_random_token("Xk9fQ2mLp7RtZ3vB8nW4yH6j"));
        assert!(is_uuid("123e4567-e89b-12d3-a456-426614174000"));
        assert!(is_ordinary("2026-12-04T18:00:00Z") && is_ordinary("v1.2.3"));
        assert!(!looks_secret("orders-db-credentials"));
    }
}
