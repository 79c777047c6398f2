//! Keyword-anchored detection: a name that says "secret" (password, secret,
//! token, key, auth, cookie, session, sid, signature, credential) next to a
//! value, in every shape logs use — `key=value`, `key: value`, JSON escaped
//! at any depth (`{\"password\":\"…\"}`), URL queries, XML elements, headers
//! (`Authorization`, `Cookie`, `Set-Cookie`, `X-Api-Key`), CLI flags
//! (`--password x`, `-u user:pw`, `-pS3cret`) and env dumps. The value is
//! judged by its shape (entropy, placeholders), not by a list of formats.

use super::shape::{
    entropy, is_ordinary, is_placeholder, is_random_token, is_uuid, looks_secret, query_value_end,
    trim_closers,
};
use aho_corasick::AhoCorasick;
use regex::Regex;
use std::sync::LazyLock;

/// What a name says its value is, which decides how sure the value must look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Any value that is not a placeholder is a password.
    Password,
    /// Secret, token, auth, session, signature: the value must look secret.
    Strong,
    /// A cookie header or value: `name=value` pairs, each judged.
    Cookie,
    /// A bare `key`: only random-looking values (keys of maps are not secrets).
    Weak,
}

const KEYWORDS: &[&str] = &[
    "pass",
    "pwd",
    "pw",
    "secret",
    "token",
    "key",
    "auth",
    "cookie",
    "session",
    "sid",
    "sig",
    "credential",
];

static FINDER: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(KEYWORDS)
        .expect("keyword automaton")
});

/// Name parts that make the value metadata about a secret, not the secret
/// (`password_min_length=12`, `token_type=Bearer`, `secret_name=db`).
const META: &[&str] = &[
    "length",
    "len",
    "min",
    "max",
    "minimum",
    "maximum",
    "policy",
    "reset",
    "expiry",
    "expires",
    "expire",
    "expiration",
    "exp",
    "ttl",
    "timeout",
    "age",
    "count",
    "changed",
    "required",
    "enabled",
    "disabled",
    "enable",
    "file",
    "path",
    "dir",
    "field",
    "type",
    "hint",
    "strength",
    "rotation",
    "version",
    "prompt",
    "format",
    "algorithm",
    "algo",
    "mode",
    "url",
    "uri",
    "endpoint",
    "name",
    "label",
    "prefix",
    "size",
    "limit",
    "used",
    "usage",
    "at",
    "total",
    "index",
    "kind",
    "scope",
    "scopes",
    "issuer",
    "audience",
    "store",
    "source",
    "provider",
    "method",
    "location",
    "flow",
    "grant",
    "service",
    "server",
    "host",
    "port",
    "user",
    "username",
    "email",
    "level",
    "status",
    "state",
    "result",
    "error",
    "valid",
    "missing",
    "attempts",
    "retries",
    "failed",
    "failures",
    "success",
    "manager",
    "id_field",
    "ids",
    "space",
    "spaces",
    "word",
    "words",
    "board",
    "tokens",
    "tokenizer",
    "keys",
    "sessions",
    "secrets",
];

/// Header-style schemes before the credential itself; the scheme word stays.
const SCHEMES: &[&str] = &[
    "bearer",
    "basic",
    "token",
    "digest",
    "bot",
    "apikey",
    "negotiate",
    "ntlm",
    "aws4-hmac-sha256",
    "sso-key",
    "splunk",
    "ssws",
    "key",
    "jwt",
    "hmac",
    "otp",
];

/// Cookie attributes: never secrets.
const COOKIE_ATTRS: &[&str] = &[
    "path",
    "domain",
    "expires",
    "max-age",
    "samesite",
    "secure",
    "httponly",
    "priority",
    "partitioned",
    "version",
    "comment",
];

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Splits a name into lower-case parts at separators and camelCase humps.
fn parts(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for chunk in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut cur = String::new();
        let mut prev_lower = false;
        for c in chunk.chars() {
            if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            cur.push(c.to_ascii_lowercase());
        }
        if !cur.is_empty() {
            out.push(cur);
        }
    }
    out
}

/// What `name` says its value is, with the marker kind; `None` for names
/// that only contain a keyword (`compass`, `author`, `keyboard`, `inside`).
fn classify(name: &str) -> Option<(Class, &'static str)> {
    if matches!(name, "PWD" | "OLDPWD") {
        return None;
    }
    let parts = parts(name);
    if parts.iter().any(|p| META.contains(&p.as_str())) {
        return None;
    }
    let joined: String = parts.concat();
    let has = |w: &str| joined.contains(w);
    let part = |w: &str| parts.iter().any(|p| p == w);
    let class = if has("password")
        || has("passwd")
        || has("passphrase")
        || has("passcode")
        || part("pass")
        || part("pwd")
        || part("pw")
    {
        (Class::Password, "password")
    } else if has("cookie") {
        (Class::Cookie, "cookie")
    } else if [
        "apikey",
        "accesskey",
        "privatekey",
        "secretkey",
        "signingkey",
        "masterkey",
        "encryptionkey",
        "clientkey",
        "licensekey",
        "subscriptionkey",
        "accountkey",
        "sharedkey",
        "hmackey",
    ]
    .iter()
    .any(|w| has(w))
    {
        (Class::Strong, "api-key")
    } else if has("secret") || has("credential") {
        (Class::Strong, "secret")
    } else if has("token") {
        (Class::Strong, "token")
    } else if parts
        .iter()
        .any(|p| (p.starts_with("auth") && !is_author(p)) || p.ends_with("auth"))
    {
        (Class::Strong, "authorization")
    } else if has("session") || part("sid") || part("sessid") {
        (Class::Strong, "session")
    } else if part("sig") || part("signature") || part("sign") {
        (Class::Strong, "token")
    } else if part("key") {
        (Class::Weak, "secret")
    } else {
        return None;
    };
    Some(class)
}

/// `author`, `authors`, `authored`, `authorship`: people, not credentials.
fn is_author(part: &str) -> bool {
    matches!(part, "author" | "authors" | "authored" | "authoring")
        || part.starts_with("authorship")
}

/// Length of a quote at `p`: any run of backslashes then `"` or `'`.
fn quote_at(b: &[u8], p: usize) -> Option<usize> {
    let mut q = p;
    while q < b.len() && b[q] == b'\\' {
        q += 1;
    }
    (q < b.len() && (b[q] == b'"' || b[q] == b'\'')).then_some(q + 1 - p)
}

fn skip_blanks(b: &[u8], mut p: usize) -> usize {
    while p < b.len() && (b[p] == b' ' || b[p] == b'\t') {
        p += 1;
    }
    p
}

/// Where the value after a name ends: the separator, quotes and, for
/// headers, the scheme word skipped. `(start, end, quoted, spaced)`;
/// `spaced`: only blanks stood between name and value (`password 0ab…` in a
/// `.netrc`), which asks more of the value.
fn value_after(
    text: &str,
    name_start: usize,
    name_end: usize,
    class: Class,
) -> Option<(usize, usize, bool, bool)> {
    let b = text.as_bytes();
    let flag = b[name_start] == b'-';
    let mut p = name_end;
    if let Some(q) = quote_at(b, p) {
        p += q;
    }
    let xml = name_start > 0 && b[name_start - 1] == b'<';
    let mut spaced = false;
    let before_sep = p;
    p = skip_blanks(b, p);
    match b.get(p) {
        Some(b'=') => {
            p += 1;
            if b.get(p) == Some(&b'>') {
                p += 1;
            }
        }
        Some(b':') => {
            p += 1;
            if b.get(p) == Some(&b'=') {
                p += 1;
            }
            if b[p..].starts_with(b"//") {
                return None;
            }
        }
        Some(b'>') if xml => {
            p += 1;
            let end = text[p..].find(['<', '\n']).map_or(text.len(), |i| p + i);
            return Some((p, end, true, false));
        }
        Some(_) if p > before_sep && flag => {}
        Some(_) if p > before_sep && matches!(class, Class::Password | Class::Strong) => {
            spaced = true;
        }
        _ => return None,
    }
    p = skip_blanks(b, p);
    if let Some(q) = quote_at(b, p) {
        let open = &text[p..p + q];
        let start = p + q;
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let end = if q == 1 {
            let quote = b[p];
            let mut i = start;
            while i < line_end && b[i] != quote {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i.min(line_end)
        } else {
            text[start..line_end]
                .find(open)
                .map_or(line_end, |i| start + i)
        };
        return Some((skip_scheme(text, start, end, class), end, true, spaced));
    }
    if class == Class::Strong || class == Class::Password {
        // `Authorization: Bearer abc`: the scheme stays, the credential goes.
        let word_end = text[p..].find([' ', '\t']).map_or(text.len(), |i| p + i);
        let word = text[p..word_end].to_ascii_lowercase();
        if SCHEMES.contains(&word.as_str()) && b.get(word_end) == Some(&b' ') {
            p = skip_blanks(b, word_end);
        }
    }
    let start = p;
    let mut end = p;
    while end < b.len() {
        let c = b[end];
        if c.is_ascii_whitespace() || matches!(c, b'"' | b'\'' | b',' | b';' | b'<') {
            break;
        }
        if c == b'\\' && quote_at(b, end).is_some() {
            break;
        }
        end += 1;
    }
    // Multi-byte characters are whole: `end` only stops on ASCII bytes.
    let end = query_value_end(text, start, end);
    let (start, end) = trim_closers(text, start, end);
    (end > start).then_some((start, end, false, spaced))
}

/// `"Bearer abc"` in quotes: the scheme word stays outside the finding.
fn skip_scheme(text: &str, start: usize, end: usize, class: Class) -> usize {
    if class != Class::Strong {
        return start;
    }
    let v = &text[start..end];
    match v.split_once(' ') {
        Some((word, rest)) if SCHEMES.contains(&word.to_ascii_lowercase().as_str()) => {
            end - rest.trim_start().len()
        }
        _ => start,
    }
}

fn secret_enough(class: Class, v: &str) -> bool {
    match class {
        Class::Password => !is_placeholder(v) && !v.starts_with("[REDACTED:"),
        Class::Strong | Class::Cookie => looks_secret(v) || is_uuid(v),
        Class::Weak => {
            !is_uuid(v)
                && (is_random_token(v)
                    || (v.len() >= 32 && entropy(v) >= 3.5 && !v.contains([':', '/'])))
        }
    }
}

/// Finds keyword-anchored secrets in `text` (already normalised).
pub fn detect(text: &str, push: &mut dyn FnMut(&'static str, usize, usize)) {
    let b = text.as_bytes();
    let mut done = 0;
    for m in FINDER.find_iter(text) {
        if m.start() < done {
            continue;
        }
        let mut s = m.start();
        while s > 0 && is_ident(b[s - 1]) {
            s -= 1;
        }
        let mut e = m.end();
        while e < b.len() && is_ident(b[e]) {
            e += 1;
        }
        done = e;
        while e > s && matches!(b[e - 1], b'.' | b'-') {
            e -= 1;
        }
        let mut name_start = s;
        while name_start < e && b[name_start] == b'.' {
            name_start += 1;
        }
        if name_start >= e {
            continue;
        }
        let name = text[name_start..e].trim_start_matches('-');
        // A cheap check first: most keyword hits in prose have no value.
        let Some((class, kind)) = classify(name) else {
            continue;
        };
        let Some((vs, ve, quoted, spaced)) = value_after(text, name_start, e, class) else {
            continue;
        };
        if class == Class::Cookie {
            done = cookie_values(text, vs, ve, quoted, push);
            continue;
        }
        let v = &text[vs..ve];
        // `https://token:ghp_…@github.com`: userinfo, owned by the URL check.
        if !quoted && v.contains('@') && text[..name_start].ends_with("://") {
            continue;
        }
        // Prose names things too (`password reset link`, `token 42 of 50`):
        // without a separator only a value that looks generated counts.
        let enough = if spaced {
            let mixed =
                v.bytes().any(|b| b.is_ascii_digit()) && v.bytes().any(|b| b.is_ascii_alphabetic());
            // `oauth scope=read:user`: the next word is itself a pair.
            !v.trim_end_matches('=').contains(['=', ':'])
                && looks_secret(v)
                && (class == Class::Password
                    || (mixed && !v.bytes().all(|b| b.is_ascii_hexdigit())))
        } else {
            secret_enough(class, v)
        };
        if enough {
            push(kind, vs, ve);
        }
    }
    cli(text, push);
    userinfo(text, push);
}

/// `Cookie: a=1; sid=…` and `Set-Cookie: sid=…; Path=/`: each value
/// judged. Returns where the cookie list ends.
fn cookie_values(
    text: &str,
    start: usize,
    end: usize,
    quoted: bool,
    push: &mut dyn FnMut(&'static str, usize, usize),
) -> usize {
    // An unquoted header value runs to the end of the line.
    let end = if quoted {
        end
    } else {
        text[start..].find('\n').map_or(text.len(), |i| start + i)
    };
    let region = &text[start..end];
    if !region.contains('=') {
        if looks_secret(region.trim()) {
            push("cookie", start, start + region.trim_end().len());
        }
        return end;
    }
    let mut off = start;
    for pair in region.split(';') {
        let here = off;
        off += pair.len() + 1;
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let name = name.trim();
        if COOKIE_ATTRS.contains(&name.to_ascii_lowercase().as_str()) {
            continue;
        }
        let lead = value.len() - value.trim_start().len();
        // A cookie value holds no blanks (RFC 6265): the first word is all.
        let value = value
            .trim()
            .split(char::is_whitespace)
            .next()
            .unwrap_or("")
            .trim_end_matches(['"', '\'', '\\']);
        let vs = here + pair.find('=').expect("split at '='") + 1 + lead;
        let strong = classify(name).is_some_and(|(c, _)| c != Class::Weak);
        let secret = if strong {
            !is_placeholder(value) && !is_ordinary(value) && value.len() >= 8
        } else {
            is_random_token(value) || (value.len() >= 24 && entropy(value) >= 4.0)
        };
        if secret && !is_placeholder(value) {
            push("cookie", vs, vs + value.len());
        }
    }
    end
}

/// Credentials as command-line arguments: `curl -u user:pw`, `mysql -pS3cret`.
fn cli(text: &str, push: &mut dyn FnMut(&'static str, usize, usize)) {
    static USER: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"(?:^|[\s'"])(?:-u|--user|--proxy-user|--basic-auth|--creds)(?:[ \t]+|=)['"]?[^\s:'"/]+:([^\s'"]+)"#,
        )
        .expect("cli user pattern")
    });
    static ATTACHED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(?:^|[\s'"])-p([^\s'"-][^\s'"]{3,})"#).expect("cli -p pattern")
    });
    if text.contains("-u") || text.contains("--") {
        for c in USER.captures_iter(text) {
            let m = c.get(1).expect("group 1");
            let v = m.as_str();
            if !is_placeholder(v) && !v.bytes().all(|b| b.is_ascii_digit()) {
                push("password", m.start(), m.end());
            }
        }
    }
    static SPACED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(?:^|\s)-p[ \t]+(?:'([^'\n]+)'|"([^"\n]+)")"#).expect("cli -p 'x' pattern")
    });
    if text.contains("-p ") {
        // `sshpass -p 'x'`: a quoted word after -p is a password, not a port.
        for c in SPACED.captures_iter(text) {
            let m = c.get(1).or(c.get(2)).expect("one group");
            if !is_placeholder(m.as_str()) && !m.as_str().bytes().all(|b| b.is_ascii_digit()) {
                push("password", m.start(), m.end());
            }
        }
    }
    if text.contains("-p") {
        for c in ATTACHED.captures_iter(text) {
            let m = c.get(1).expect("group 1");
            let v = m.as_str();
            let letters = v.bytes().any(|b| b.is_ascii_alphabetic());
            let other = v.bytes().any(|b| !b.is_ascii_lowercase());
            let port_like = v
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b':' || b == b'.');
            if letters && other && !port_like && !is_placeholder(v) && !is_ordinary(v) {
                push("password", m.start(), m.end());
            }
        }
    }
}

/// `scheme://user:password@host` (the user and host stay) and
/// `scheme://TOKEN@host` when the user part is a generated credential.
fn userinfo(text: &str, push: &mut dyn FnMut(&'static str, usize, usize)) {
    static PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"(?i)(?-u:\b)[a-z][a-z0-9+.-]{0,30}://[^\s:/?#@"'<>\[\]\\]*:([^\s/?#"'<>\\]+)@[^\s/?#@"'<>]"#,
        )
        .expect("userinfo pattern")
    });
    static TOKEN: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"(?i)(?-u:\b)[a-z][a-z0-9+.-]{0,30}://([^\s:/?#@"'<>\[\]\\]{16,})@[^\s/?#@"'<>]"#,
        )
        .expect("userinfo token pattern")
    });
    if !text.contains("://") {
        return;
    }
    for c in PASSWORD.captures_iter(text) {
        let m = c.get(1).expect("group 1");
        if !is_placeholder(m.as_str()) {
            push("url-password", m.start(), m.end());
        }
    }
    for c in TOKEN.captures_iter(text) {
        let m = c.get(1).expect("group 1");
        if is_random_token(m.as_str()) || (looks_secret(m.as_str()) && entropy(m.as_str()) >= 4.0) {
            push("url-password", m.start(), m.end());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        detect(text, &mut |_, s, e| out.push((s, e)));
        out.into_iter().map(|(s, e)| &text[s..e]).collect()
    }

    #[test]
    fn names_decide_how_sure() {
        assert_eq!(found("DB_PASS=hunter2"), ["hunter2"]);
        assert_eq!(
            found(r#"{\\\"api_key\\\":\\\"Zq8mX2pL9vR4tY7w\\\"}"#),
            ["Zq8mX2pL9vR4tY7w"]
        );
        assert_eq!(found("--password S3cr3t!x"), ["S3cr3t!x"]);
        assert_eq!(
            found("Authorization: Basic dXNlcjpwYXNzd29yZA=="),
            ["dXNlcjpwYXNzd29yZA=="]
        );
        assert_eq!(
            found("Cookie: theme=dark; sid=a8F3kL9qZ2xP"),
            ["a8F3kL9qZ2xP"]
        );
        assert!(found("password_min_length=12 compass=north author: bob token expired").is_empty());
        assert_eq!(found("curl -u admin:Pa55w0rd http://x"), ["Pa55w0rd"]);
        assert_eq!(
            found("machine api.example.com login me password 9fQ2mLp7RtZ3"),
            ["9fQ2mLp7RtZ3"]
        );
        assert!(
            found("password reset link sent; oauth scope=read:user; token 42 of 50").is_empty()
        );
    }
}
