//! Redaction against the corpus (`tests/data/redact/`): every fake secret is
//! removed with the right kind and nothing else, every look-alike survives.
//! Then properties: idempotence, no secret in the output, no panic on any
//! input.

use medic::triage::redact::{redact, redact_str, KINDS};
use proptest::prelude::*;

const SECRETS: &str = include_str!("data/redact/secrets.txt");
const LOOKALIKES: &str = include_str!("data/redact/lookalikes.txt");

/// A corpus secret: expected kind, the line as the log would show it, and
/// the secret's byte range in that line.
struct Case {
    kind: String,
    line: String,
    secret: std::ops::Range<usize>,
}

fn cases() -> Vec<Case> {
    SECRETS
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (kind, marked) = l.split_once('\t').expect("kind<TAB>line");
            let open = marked.find('«').expect("« opens the secret");
            let close = marked.find('»').expect("» closes the secret");
            let line = marked.replace(['«', '»'], "");
            Case {
                kind: kind.to_string(),
                line,
                secret: open..close - '«'.len_utf8(),
            }
        })
        .collect()
}

fn lookalikes() -> Vec<&'static str> {
    LOOKALIKES
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn corpus_recall_and_precision() {
    let cases = cases();
    let looks = lookalikes();
    assert!(cases.len() >= 40 && looks.len() >= 40, "corpus too small");
    for kind in KINDS {
        assert!(
            cases.iter().any(|c| c.kind == *kind),
            "no corpus secret of kind {kind}"
        );
    }

    let mut misses = Vec::new();
    for c in &cases {
        let expected = format!(
            "{}[REDACTED:{}]{}",
            &c.line[..c.secret.start],
            c.kind,
            &c.line[c.secret.end..]
        );
        let r = redact(&c.line);
        let spans: Vec<_> = r
            .findings
            .iter()
            .map(|f| (f.kind, f.start..f.end))
            .collect();
        if r.text != expected || spans != vec![(c.kind.as_str(), c.secret.clone())] {
            misses.push(format!(
                "  {}: {}\n    got  {}\n    want {}",
                c.kind, c.line, r.text, expected
            ));
        }
    }
    let mut touched = Vec::new();
    for l in &looks {
        let out = redact_str(l);
        if out != *l {
            touched.push(format!("  {l}\n    got {out}"));
        }
    }

    let recall = (cases.len() - misses.len()) as f64 / cases.len() as f64;
    let precision = (looks.len() - touched.len()) as f64 / looks.len() as f64;
    println!(
        "redaction corpus: recall {:.1}% ({}/{} secrets), precision {:.1}% ({}/{} look-alikes untouched)",
        recall * 100.0,
        cases.len() - misses.len(),
        cases.len(),
        precision * 100.0,
        looks.len() - touched.len(),
        looks.len()
    );
    assert!(
        misses.is_empty() && touched.is_empty(),
        "missed secrets:\n{}\ntouched look-alikes:\n{}",
        misses.join("\n"),
        touched.join("\n")
    );
}

#[test]
fn a_whole_log_redacts_like_its_lines() {
    let cases = cases();
    let log: String = cases.iter().map(|c| c.line.clone() + "\n").collect();
    let r = redact(&log);
    assert_eq!(r.findings.len(), cases.len());
    for c in &cases {
        assert!(!r.text.contains(&c.line[c.secret.clone()]), "{}", c.line);
    }
}

/// Pieces that make redaction's job hard when glued together: secrets,
/// look-alikes, markers, key names, separators and arbitrary text.
fn piece() -> impl Strategy<Value = String> {
    let cases = cases();
    let secret_lines: Vec<String> = cases.iter().map(|c| c.line.clone()).collect();
    let secrets: Vec<String> = cases
        .iter()
        .map(|c| c.line[c.secret.clone()].to_string())
        .collect();
    let looks: Vec<String> = lookalikes().into_iter().map(String::from).collect();
    prop_oneof![
        proptest::sample::select(secret_lines),
        proptest::sample::select(secrets),
        proptest::sample::select(looks),
        proptest::sample::select(KINDS.to_vec()).prop_map(|k| format!("[REDACTED:{k}]")),
        proptest::sample::select(vec![
            "password=",
            "token: ",
            "\"secret\": \"",
            "api_key=",
            "Authorization: Bearer ",
            "https://u:",
            "@",
            "@example.com",
            "://",
            "=",
            ":",
            "\"",
            "'",
            "\\\"",
            " ",
            "\n",
            "]",
            "[",
            "{",
            "}",
            "-----BEGIN PRIVATE KEY-----",
            "-----END PRIVATE KEY-----",
            "_",
            "x",
            "AKIA",
            "ghp_",
            "eyJ",
            ".",
            "/",
        ])
        .prop_map(String::from),
        any::<String>(),
        "[A-Za-z0-9_./+=-]{0,48}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn redacting_twice_is_redacting_once(parts in proptest::collection::vec(piece(), 0..8)) {
        let text = parts.concat();
        let once = redact_str(&text);
        prop_assert_eq!(redact_str(&once), once);
    }

    #[test]
    fn output_never_contains_the_secret(
        i in 0usize..1000,
        before in any::<String>(),
        after in any::<String>(),
        sep1 in "[ \n\t]",
        sep2 in "[ \n\t]",
    ) {
        let cases = cases();
        let c = &cases[i % cases.len()];
        let secret = &c.line[c.secret.clone()];
        let text = format!("{before}{sep1}{}{sep2}{after}", c.line);
        let out = redact_str(&text);
        prop_assert!(!out.contains(secret), "{secret:?} survived in {out:?}");
    }

    #[test]
    fn any_unicode_is_safe(text in any::<String>()) {
        let r = redact(&text);
        // Findings are ordered, disjoint, on char boundaries, and the text is
        // exactly the original with each finding replaced by its marker.
        let mut rebuilt = String::new();
        let mut pos = 0;
        for f in &r.findings {
            prop_assert!(pos <= f.start && f.start < f.end && f.end <= text.len());
            prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
            prop_assert!(KINDS.contains(&f.kind));
            rebuilt.push_str(&text[pos..f.start]);
            rebuilt.push_str(&format!("[REDACTED:{}]", f.kind));
            pos = f.end;
        }
        rebuilt.push_str(&text[pos..]);
        prop_assert_eq!(rebuilt, r.text);
    }
}
