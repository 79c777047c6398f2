//! Plans as markdown, both ways: rendered for the TUI and the PR body, and
//! parsed back after the operator edits it in `$EDITOR`, with errors that
//! point at the line of a broken edit.

use crate::model::{FixKind, Mitigation, Plan, PlanStep, RootCause, ServiceId, Severity};
use std::fmt::Write;

/// An edited plan that does not parse, with the 1-based line to look at.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("plan line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
    }
}

fn fix_word(f: FixKind) -> &'static str {
    match f {
        FixKind::Code => "code",
        FixKind::Config => "config",
        FixKind::Scale => "scale",
        FixKind::Rollback => "rollback",
        FixKind::None => "none",
    }
}

/// Render a plan as markdown.
pub fn render(plan: &Plan) -> String {
    let mut s = String::new();
    // Model output: a one-line field stays one line (a newline in the title
    // must not forge the severity or a step on the approval screen).
    let one = |t: &str| crate::terminal::one_line(t).into_owned();
    let _ = writeln!(s, "# {}\n", one(&plan.title));
    let _ = writeln!(s, "- severity: {}", severity_word(plan.severity));
    let _ = writeln!(s, "- fix: {}", fix_word(plan.fix_kind));
    let _ = writeln!(
        s,
        "- confidence: {:.0}%\n",
        plan.root_cause.confidence * 100.0
    );
    let _ = writeln!(s, "## Summary\n\n{}\n", plan.summary);
    let _ = writeln!(s, "## Root cause\n\n{}\n", plan.root_cause.hypothesis);
    let cites: Vec<String> = plan
        .root_cause
        .evidence
        .iter()
        .map(|e| format!("`{}`", one(e)))
        .collect();
    let _ = writeln!(s, "Evidence: {}\n", cites.join(", "));
    let list = |s: &mut String, title: &str, items: &[String]| {
        let _ = writeln!(s, "## {title}\n");
        for i in items {
            let _ = writeln!(s, "- {}", one(i));
        }
        s.push('\n');
    };
    list(&mut s, "Alternatives considered", &plan.alternatives);
    let _ = writeln!(s, "## Steps\n");
    for (n, step) in plan.steps.iter().enumerate() {
        let files = if step.files.is_empty() {
            String::new()
        } else {
            format!(" (files: {})", one(&step.files.join(", ")))
        };
        let _ = writeln!(
            s,
            "{}. [{}] {}{files}",
            n + 1,
            one(&step.id),
            one(&step.description)
        );
    }
    s.push('\n');
    list(&mut s, "Verification", &plan.verification);
    if let Some(rule) = &plan.verification_rule {
        // The sentence is regenerated from the lines below it; edit those.
        let _ = writeln!(
            s,
            "## Verified when\n\n{}\n",
            one(&super::verify::words(rule))
        );
        for line in super::verify::markdown_lines(rule) {
            let _ = writeln!(s, "- {line}");
        }
        s.push('\n');
    }
    list(&mut s, "Risks", &plan.risks);
    let _ = writeln!(s, "## Rollback\n\n{}\n", plan.rollback);
    let _ = writeln!(s, "## Changes\n");
    for m in &plan.mitigations {
        let _ = writeln!(s, "- {}", one(&mitigation_line(m)));
    }
    s
}

/// One mitigation as an editable line: `raise-memory-limit api 48000000000`.
pub fn mitigation_line(m: &Mitigation) -> String {
    match m {
        Mitigation::RaiseMemoryLimit { service, bytes } => {
            format!("raise-memory-limit {service} {bytes}")
        }
        Mitigation::SetReplicas { service, replicas } => {
            format!("set-replicas {service} {replicas}")
        }
        Mitigation::RollbackImage { service, tag } => format!("rollback-image {service} {tag}"),
    }
}

fn parse_mitigation(text: &str, line: usize) -> Result<Mitigation, ParseError> {
    let err = |message: String| ParseError { line, message };
    let words: Vec<&str> = text.split_whitespace().collect();
    let [action, service, value] = words[..] else {
        return Err(err(format!(
            "a change is `ACTION SERVICE VALUE` (raise-memory-limit api 48000000000 | set-replicas web 6 | rollback-image checkout v3.8.0), not `{text}`"
        )));
    };
    let service = ServiceId::from(service);
    match action {
        "raise-memory-limit" => Ok(Mitigation::RaiseMemoryLimit {
            service,
            bytes: value
                .parse()
                .map_err(|_| err(format!("`{value}` is not a number of bytes")))?,
        }),
        "set-replicas" => Ok(Mitigation::SetReplicas {
            service,
            replicas: value
                .parse()
                .map_err(|_| err(format!("`{value}` is not a replica count")))?,
        }),
        "rollback-image" => Ok(Mitigation::RollbackImage {
            service,
            tag: value.to_string(),
        }),
        other => Err(err(format!(
            "unknown change `{other}` (raise-memory-limit, set-replicas, rollback-image)"
        ))),
    }
}

/// The words that start the operator's free text kept from an edit.
pub const NOTE: &str = "Operator's note:";

/// Whether a line is a one-line HTML comment (`<!-- … -->`): invisible in
/// Markdown, skipped by [`parse`] (medic puts a rejected edit's error there).
pub fn is_comment(line: &str) -> bool {
    let t = line.trim();
    t.starts_with("<!--") && t.ends_with("-->")
}

/// Parse an edited plan back. Unknown sections are an error (a typo in a
/// heading would otherwise silently drop what is under it). Free text the
/// operator writes where the plan has lists or fields (a line appended after
/// `## Changes`, a remark under the title) is never dropped: it is kept in
/// the summary as an operator's note. One-line HTML comments are skipped.
pub fn parse(text: &str) -> Result<Plan, ParseError> {
    let mut plan = Plan {
        title: String::new(),
        summary: String::new(),
        severity: Severity::Medium,
        root_cause: RootCause {
            hypothesis: String::new(),
            confidence: 0.5,
            evidence: vec![],
        },
        alternatives: vec![],
        fix_kind: FixKind::None,
        steps: vec![],
        verification: vec![],
        risks: vec![],
        rollback: String::new(),
        mitigations: vec![],
        verification_rule: None,
    };
    let mut section = String::from("header");
    let mut prose = String::new();
    let mut prose_section = String::new();
    let flush = |plan: &mut Plan, sect: &str, prose: &mut String| {
        let text = prose.trim().to_string();
        match sect {
            "summary" => plan.summary = text,
            "root cause" => plan.root_cause.hypothesis = text,
            "rollback" => plan.rollback = text,
            _ => {}
        }
        prose.clear();
    };
    let mut notes: Vec<String> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_end();
        if is_comment(line) {
            continue;
        }
        if let Some(t) = line.strip_prefix("# ") {
            plan.title = t.trim().to_string();
            continue;
        }
        if let Some(h) = line.strip_prefix("## ") {
            flush(&mut plan, &prose_section, &mut prose);
            section = h.trim().to_ascii_lowercase();
            prose_section = section.clone();
            const KNOWN: [&str; 10] = [
                "verified when",
                "summary",
                "root cause",
                "alternatives considered",
                "steps",
                "verification",
                "risks",
                "rollback",
                "changes",
                "evidence",
            ];
            if !KNOWN.contains(&section.as_str()) {
                return Err(ParseError {
                    line: n,
                    message: format!(
                        "unknown section `{}` (sections: Summary, Root cause, Alternatives considered, Steps, Verification, Verified when, Risks, Rollback, Changes)",
                        h.trim()
                    ),
                });
            }
            continue;
        }
        let item = line.trim_start().strip_prefix("- ");
        match section.as_str() {
            "header" => {
                if let Some(kv) = item {
                    let (k, v) = kv.split_once(':').ok_or_else(|| ParseError {
                        line: n,
                        message: format!(
                            "expected `key: value` (severity, fix, confidence), got `{kv}`"
                        ),
                    })?;
                    let v = v.trim();
                    match k.trim() {
                        "severity" => {
                            plan.severity = match v {
                                "critical" => Severity::Critical,
                                "high" => Severity::High,
                                "medium" => Severity::Medium,
                                "low" => Severity::Low,
                                _ => {
                                    return Err(ParseError {
                                        line: n,
                                        message: format!(
                                            "severity `{v}`: use critical, high, medium or low"
                                        ),
                                    })
                                }
                            }
                        }
                        "fix" => {
                            plan.fix_kind = match v {
                                "code" => FixKind::Code,
                                "config" => FixKind::Config,
                                "scale" => FixKind::Scale,
                                "rollback" => FixKind::Rollback,
                                "none" => FixKind::None,
                                _ => {
                                    return Err(ParseError {
                                        line: n,
                                        message: format!(
                                            "fix `{v}`: use code, config, scale, rollback or none"
                                        ),
                                    })
                                }
                            }
                        }
                        "confidence" => {
                            let pct: f64 =
                                v.trim_end_matches('%')
                                    .trim()
                                    .parse()
                                    .map_err(|_| ParseError {
                                        line: n,
                                        message: format!(
                                            "confidence `{v}`: use a percentage like 60%"
                                        ),
                                    })?;
                            if !(0.0..=100.0).contains(&pct) {
                                return Err(ParseError {
                                    line: n,
                                    message: format!(
                                        "confidence {pct}% is not between 0% and 100%"
                                    ),
                                });
                            }
                            plan.root_cause.confidence = pct / 100.0;
                        }
                        other => {
                            return Err(ParseError {
                                line: n,
                                message: format!(
                                    "unknown field `{other}` (severity, fix, confidence)"
                                ),
                            })
                        }
                    }
                } else if !line.trim().is_empty() {
                    notes.push(line.trim().to_string());
                }
            }
            "root cause" if line.starts_with("Evidence:") => {
                plan.root_cause.evidence = line["Evidence:".len()..]
                    .split(',')
                    .map(|e| e.trim().trim_matches('`').to_string())
                    .filter(|e| !e.is_empty())
                    .collect();
            }
            "summary" | "root cause" | "rollback" => {
                prose.push_str(line);
                prose.push('\n');
            }
            "alternatives considered" | "verification" | "risks" => {
                if let Some(t) = item {
                    let list = match section.as_str() {
                        "alternatives considered" => &mut plan.alternatives,
                        "verification" => &mut plan.verification,
                        _ => &mut plan.risks,
                    };
                    list.push(t.trim().to_string());
                } else if !line.trim().is_empty() {
                    notes.push(line.trim().to_string());
                }
            }
            "steps" => {
                let t = line.trim();
                if t.is_empty() {
                    continue;
                }
                let rest = t
                    .split_once(". ")
                    .filter(|(num, _)| num.chars().all(|c| c.is_ascii_digit()))
                    .map(|(_, r)| r)
                    .ok_or_else(|| ParseError {
                        line: n,
                        message: "steps are numbered: `1. [s1] what to do`".into(),
                    })?;
                let (id, desc) = match rest.strip_prefix('[').and_then(|r| r.split_once("] ")) {
                    Some((id, d)) => (id.to_string(), d),
                    None => (format!("s{}", plan.steps.len() + 1), rest),
                };
                let (desc, files) = match desc.rsplit_once(" (files: ") {
                    Some((d, f)) => (
                        d,
                        f.trim_end_matches(')')
                            .split(", ")
                            .map(str::to_string)
                            .collect(),
                    ),
                    None => (desc, vec![]),
                };
                plan.steps.push(PlanStep {
                    id,
                    description: desc.trim().to_string(),
                    files,
                });
            }
            "verified when" => {
                // Only the `- key: value` lines count; the sentence is made from them.
                if let Some(kv) = item {
                    let err = |message: String| ParseError { line: n, message };
                    let (k, v) = kv.split_once(':').ok_or_else(|| {
                        err(format!("expected `key: value` (window: 30m), got `{kv}`"))
                    })?;
                    let rule = plan
                        .verification_rule
                        .get_or_insert_with(super::verify::blank);
                    super::verify::parse_markdown_line(rule, k.trim(), v.trim()).map_err(err)?;
                }
            }
            "changes" => {
                // A list item is machine-readable and must parse; prose is a note.
                if let Some(t) = item {
                    plan.mitigations.push(parse_mitigation(t, n)?);
                } else if !line.trim().is_empty() {
                    notes.push(line.trim().to_string());
                }
            }
            _ => {}
        }
    }
    flush(&mut plan, &prose_section, &mut prose);
    if !notes.is_empty() {
        let note = format!("{NOTE} {}", notes.join(" "));
        plan.summary = if plan.summary.is_empty() {
            note
        } else {
            format!("{}\n\n{note}", plan.summary)
        };
    }
    if plan.title.is_empty() {
        return Err(ParseError {
            line: 1,
            message: "the plan needs a `# Title` line".into(),
        });
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FixKind, PlanStep, RootCause, Severity};

    /// A model's newline in a one-line field cannot forge the lines an
    /// operator approves from (`severity`, a step, the approve hint).
    #[test]
    fn a_newline_in_a_one_line_field_forges_no_line() {
        let plan = Plan {
            title: "Bump pool size\n- severity: low\n- fix: config".into(),
            summary: "s".into(),
            severity: Severity::High,
            root_cause: RootCause {
                hypothesis: "h".into(),
                confidence: 0.5,
                evidence: vec![],
            },
            alternatives: vec![],
            fix_kind: FixKind::Config,
            steps: vec![PlanStep {
                id: "s1".into(),
                description: "x\nApprove and continue with: medic fix api --yes".into(),
                files: vec![],
            }],
            verification: vec![],
            risks: vec![],
            rollback: "r".into(),
            mitigations: vec![],
            verification_rule: None,
        };
        let text = render(&plan);
        assert!(!text.contains("\n- severity: low"), "{text}");
        assert!(text.contains("- severity: high"), "{text}");
        assert!(!text.contains("\nApprove and continue"), "{text}");
    }

    fn sample() -> Plan {
        Plan {
            title: "Raise api's memory limit".into(),
            summary: "The heap outgrew the limit.".into(),
            severity: Severity::High,
            root_cause: RootCause {
                hypothesis: "A cache without eviction.".into(),
                confidence: 0.7,
                evidence: vec!["metric:memory@onset".into()],
            },
            alternatives: vec!["restart".into()],
            fix_kind: FixKind::Config,
            steps: vec![PlanStep {
                id: "s1".into(),
                description: "raise the limit".into(),
                files: vec!["deploy/api.yaml".into()],
            }],
            verification: vec!["memory below 80%".into()],
            risks: vec!["more memory used".into()],
            rollback: "revert the commit".into(),
            mitigations: vec![Mitigation::RaiseMemoryLimit {
                service: ServiceId::from("api"),
                bytes: 48_000_000_000,
            }],
            verification_rule: None,
        }
    }

    /// The natural edit: a line typed at the very end, after `## Changes`.
    #[test]
    fn a_line_appended_after_the_changes_is_kept_as_a_note() {
        let text = render(&sample()) + "Also check the GC settings before the push.\n";
        let plan = parse(&text).expect("an appended line is accepted");
        assert_eq!(
            plan.mitigations,
            sample().mitigations,
            "the changes still parse"
        );
        assert!(
            plan.summary
                .ends_with("Operator's note: Also check the GC settings before the push."),
            "{}",
            plan.summary
        );
        // Kept across another round trip, once.
        let again = parse(&render(&plan)).unwrap();
        assert_eq!(again.summary, plan.summary);
    }

    #[test]
    fn free_text_under_the_title_or_in_a_list_is_kept_and_a_bad_change_line_is_not() {
        let text = render(&sample())
            .replace(
                "- severity: high",
                "looked at this at 3am\n- severity: high",
            )
            .replace("- restart", "- restart\nnot a restart: it loses the cache");
        let plan = parse(&text).unwrap();
        assert!(
            plan.summary.contains("looked at this at 3am"),
            "{}",
            plan.summary
        );
        assert!(
            plan.summary.contains("it loses the cache"),
            "{}",
            plan.summary
        );
        let bad = render(&sample()) + "- raise-memory-limit api lots\n";
        let err = parse(&bad).unwrap_err();
        assert!(err.message.contains("`lots` is not a number"), "{err}");
        assert_eq!(err.line, bad.lines().count());
    }

    #[test]
    fn a_comment_line_is_skipped_and_line_numbers_count_it() {
        let bad = format!(
            "<!-- medic: not saved: plan line 3 -->\n{}- set-replicas web many\n",
            render(&sample())
        );
        let err = parse(&bad).unwrap_err();
        assert_eq!(err.line, bad.lines().count(), "the line the editor shows");
        let good = format!("<!-- medic: a note -->\n{}", render(&sample()));
        assert_eq!(parse(&good).unwrap(), sample());
    }
}
