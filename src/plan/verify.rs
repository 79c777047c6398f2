//! A plan's verification rule: the default from the triggering rule, the
//! checks a model's rule must pass, and the rule in words for the plan
//! screen and the PR body ("verified when api's memory stays below 90% of
//! its limit for 30m after the change is live").
//!
//! Pure: no clock, no I/O. The watch that applies the rule lives in the workflow.

use crate::detect::expr::Expr;
use crate::detect::rules::Op;
use crate::model::{Flag, Metric, Millis, Plan, Unit, VerificationRule};
use crate::units;

const MIN: Millis = 60_000;
/// How long the signal must stay good unless the plan says otherwise.
pub const DEFAULT_WINDOW_MS: Millis = 30 * MIN;
/// How long the rollout may settle before the window starts.
pub const DEFAULT_HOLD_DOWN_MS: Millis = 5 * MIN;
/// By when after the change is live the window must be complete.
pub const DEFAULT_DEADLINE_MS: Millis = 2 * 60 * MIN;
/// The longest window, hold-down or deadline a plan may ask for.
pub const MAX_SPAN_MS: Millis = 7 * 24 * 60 * MIN;

/// The expression a flag's rule most likely reads, from its metric and
/// unit (`memory / memory_limit`, `errors / requests`, `cpu`); the caller
/// passes the configured expression when it has it.
pub fn signal_of(flag: &Flag) -> String {
    match (flag.unit, flag.metric.limit()) {
        (Unit::Ratio, Some(limit)) => format!("{} / {}", flag.metric, limit),
        (Unit::Ratio, None) if flag.metric == Metric::Errors => "errors / requests".into(),
        _ => flag.metric.name().to_string(),
    }
}

/// The default rule: the triggering rule must stop breaching for
/// [`DEFAULT_WINDOW_MS`] (or the rule's own `for`, if longer), starting
/// [`DEFAULT_HOLD_DOWN_MS`] after the change is live.
pub fn from_flag(
    flag: &Flag,
    signal: Option<&str>,
    rule_for_ms: Option<Millis>,
) -> VerificationRule {
    let window_ms = DEFAULT_WINDOW_MS.max(rule_for_ms.unwrap_or(0));
    VerificationRule {
        service: flag.service.clone(),
        rule: flag.rule.clone(),
        signal: signal
            .map(str::to_string)
            .unwrap_or_else(|| signal_of(flag)),
        op: flag.op.clone(),
        threshold: flag.threshold,
        also: vec![],
        window_ms,
        hold_down_ms: DEFAULT_HOLD_DOWN_MS,
        deadline_ms: DEFAULT_DEADLINE_MS.max(DEFAULT_HOLD_DOWN_MS + 2 * window_ms),
    }
}

/// A condition `EXPR OP NUMBER` (`errors / requests < 0.01`), parsed.
pub fn parse_condition(text: &str) -> Result<(Expr, Op, f64), String> {
    let at = text
        .find(['<', '>'])
        .ok_or_else(|| format!("`{text}` is not `EXPR OP NUMBER` (errors / requests < 0.01)"))?;
    let (expr, rest) = text.split_at(at);
    let op_len = if rest[1..].starts_with('=') { 2 } else { 1 };
    let op = Op::parse(&rest[..op_len]).ok_or_else(|| format!("`{text}`: unknown comparison"))?;
    let number: f64 = rest[op_len..]
        .trim()
        .parse()
        .map_err(|_| format!("`{text}`: `{}` is not a number", rest[op_len..].trim()))?;
    if !number.is_finite() {
        return Err(format!("`{text}`: the number must be finite"));
    }
    let expr = Expr::parse(expr.trim()).map_err(|e| format!("`{text}`: {e}"))?;
    Ok((expr, op, number))
}

/// What is wrong with a rule for this flag, one line each (empty: usable).
pub fn problems(rule: &VerificationRule, flag: &Flag) -> Vec<String> {
    let mut out = vec![];
    if rule.service != flag.service {
        out.push(format!(
            "it watches `{}`, not the flagged service `{}`",
            crate::terminal::one_line(&rule.service.0),
            flag.service
        ));
    }
    if rule.rule != flag.rule {
        out.push(format!(
            "it names rule `{}`, not the triggering rule `{}`",
            crate::terminal::one_line(&rule.rule),
            flag.rule
        ));
    }
    if let Err(e) = Expr::parse(&rule.signal) {
        out.push(format!("its signal does not parse: {e}"));
    }
    if Op::parse(&rule.op).is_none() {
        out.push(format!("`{}` is not one of > >= < <=", rule.op));
    }
    if !rule.threshold.is_finite() && flag.threshold.is_finite() {
        out.push("its threshold is not a number".into());
    }
    for a in &rule.also {
        if let Err(e) = parse_condition(a) {
            out.push(e);
        }
    }
    let span = |ms: Millis| (0..=MAX_SPAN_MS).contains(&ms);
    if !(span(rule.window_ms) && rule.window_ms >= MIN) {
        out.push("its window must be between 1m and 7d".into());
    }
    if !span(rule.hold_down_ms) {
        out.push("its hold-down must be between 0s and 7d".into());
    }
    if !span(rule.deadline_ms) || rule.deadline_ms < rule.hold_down_ms + rule.window_ms {
        out.push("its deadline must leave room for the hold-down and the window".into());
    }
    out
}

/// Every plan leaves the planner with a usable rule: the default when it
/// has none, the default in place of one that fails [`problems`] (the plan
/// says why in its verification list).
pub fn settle(plan: &mut Plan, flag: &Flag, signal: Option<&str>, rule_for_ms: Option<Millis>) {
    let default = || from_flag(flag, signal, rule_for_ms);
    match &plan.verification_rule {
        None => plan.verification_rule = Some(default()),
        Some(rule) => {
            let wrong = problems(rule, flag);
            if !wrong.is_empty() {
                plan.verification.push(format!(
                    "The planner's verification rule was set aside ({}); medic's default is used.",
                    wrong.join("; ")
                ));
                plan.verification_rule = Some(default());
            }
        }
    }
}

/// The signal in the engineer's words: `api's memory … of its limit`,
/// `checkout's 5xx share`, `web's cpu`.
fn signal_words(rule: &VerificationRule) -> (String, Unit) {
    let svc = crate::terminal::one_line(&rule.service.0).into_owned();
    let squeezed: String = rule.signal.chars().filter(|c| !c.is_whitespace()).collect();
    for m in [Metric::Memory, Metric::Cpu] {
        let limit = m.limit().expect("memory and cpu have limits");
        if squeezed == format!("{m}/{limit}") {
            return (format!("{svc}'s {m}"), Unit::Ratio);
        }
    }
    if squeezed == "errors/requests" {
        return (format!("{svc}'s 5xx share"), Unit::Ratio);
    }
    match Metric::from_name(&squeezed) {
        Some(m) => (format!("{svc}'s {m}"), m.unit()),
        None => (
            format!(
                "{svc}'s `{}`",
                crate::terminal::one_line(&rule.signal).replace('`', "'")
            ),
            Unit::Number,
        ),
    }
}

/// The rule in one sentence: "verified when api's memory stays below 90%
/// of its limit for 30m, from 5m after the change is live; not fixed if
/// not by 2h after".
pub fn words(rule: &VerificationRule) -> String {
    let (what, unit) = signal_words(rule);
    let side = match Op::parse(&rule.op) {
        Some(Op::Lt | Op::Le) => "above",
        _ => "below",
    };
    let of_limit = if unit == Unit::Ratio && (what.ends_with("memory") || what.ends_with("cpu")) {
        " of its limit"
    } else {
        ""
    };
    let condition = if rule.threshold.is_finite() {
        format!(
            "{what} stays {side} {}{of_limit}",
            units::value(rule.threshold, unit)
        )
    } else {
        format!("`{}` stays clear", crate::terminal::one_line(&rule.rule))
    };
    let also = if rule.also.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = rule
            .also
            .iter()
            .map(|a| format!("`{}`", crate::terminal::one_line(a).replace('`', "'")))
            .collect();
        format!(
            " and {} hold{}",
            list.join(", "),
            if list.len() == 1 { "s" } else { "" }
        )
    };
    let from = if rule.hold_down_ms > 0 {
        format!(
            "from {} after the change is live",
            units::duration(rule.hold_down_ms)
        )
    } else {
        "from the moment the change is live".into()
    };
    format!(
        "verified when {condition}{also} for {}, {from}; not fixed if that has not happened {} after",
        units::duration(rule.window_ms),
        units::duration(rule.deadline_ms)
    )
}

/// The rule as the editable lines of the plan's markdown (`- window: 30m`).
pub fn markdown_lines(rule: &VerificationRule) -> Vec<String> {
    let one = |t: &str| crate::terminal::one_line(t).into_owned();
    let mut out = vec![
        format!("service: {}", one(&rule.service.0)),
        format!("rule: {}", one(&rule.rule)),
        format!(
            "breach: {} {} {}",
            one(&rule.signal),
            one(&rule.op),
            if rule.threshold.is_finite() {
                rule.threshold.to_string()
            } else {
                "none".into()
            }
        ),
        format!("window: {}", units::duration(rule.window_ms)),
        format!("hold-down: {}", units::duration(rule.hold_down_ms)),
        format!("deadline: {}", units::duration(rule.deadline_ms)),
    ];
    out.extend(rule.also.iter().map(|a| format!("also: {}", one(a))));
    out
}

/// Read one `key: value` line of the `## Verified when` section into `rule`.
pub fn parse_markdown_line(
    rule: &mut VerificationRule,
    key: &str,
    value: &str,
) -> Result<(), String> {
    let duration = |v: &str| units::parse_duration(v).map_err(|e| format!("{key}: {e}"));
    match key {
        "service" => rule.service = crate::model::ServiceId::from(value),
        "rule" => rule.rule = value.to_string(),
        "breach" => {
            if let Some(signal) = value.strip_suffix("none") {
                let signal = signal.trim_end();
                let at = signal
                    .rfind(['<', '>'])
                    .ok_or_else(|| format!("breach: `{value}` is not `EXPR OP NUMBER`"))?;
                let op_start = if at > 0 && signal[..at].ends_with(['<', '>']) {
                    at - 1
                } else {
                    at
                };
                rule.signal = signal[..op_start].trim().to_string();
                rule.op = signal[op_start..].trim().to_string();
                rule.threshold = f64::NAN;
            } else {
                let (_, op, threshold) =
                    parse_condition(value).map_err(|e| format!("breach: {e}"))?;
                let at = value.find(['<', '>']).unwrap_or(value.len());
                rule.signal = value[..at].trim().to_string();
                rule.op = op.as_str().to_string();
                rule.threshold = threshold;
            }
        }
        "window" => rule.window_ms = duration(value)?,
        "hold-down" => rule.hold_down_ms = duration(value)?,
        "deadline" => rule.deadline_ms = duration(value)?,
        "also" => {
            parse_condition(value)?;
            rule.also.push(value.to_string());
        }
        other => {
            return Err(format!(
                "unknown field `{other}` (service, rule, breach, window, hold-down, deadline, also)"
            ))
        }
    }
    Ok(())
}

/// An empty rule the markdown lines fill in.
pub fn blank() -> VerificationRule {
    VerificationRule {
        service: crate::model::ServiceId::from(""),
        rule: String::new(),
        signal: String::new(),
        op: ">".into(),
        threshold: f64::NAN,
        also: vec![],
        window_ms: DEFAULT_WINDOW_MS,
        hold_down_ms: DEFAULT_HOLD_DOWN_MS,
        deadline_ms: DEFAULT_DEADLINE_MS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AlertState, ServiceId, Verdict};

    fn flag(rule: &str, metric: Metric, threshold: f64) -> Flag {
        Flag {
            service: ServiceId::from("api"),
            rule: rule.into(),
            metric,
            state: AlertState::Firing,
            value: 0.95,
            threshold,
            op: ">".into(),
            unit: Unit::Ratio,
            since: 0,
            onset: 0,
            verdict: Verdict::Actionable,
            reason: String::new(),
            eta_seconds: None,
        }
    }

    #[test]
    fn the_default_reads_as_the_issue_says() {
        let r = from_flag(&flag("memory-near-limit", Metric::Memory, 0.8), None, None);
        assert_eq!(r.signal, "memory / memory_limit");
        assert_eq!(
            words(&r),
            "verified when api's memory stays below 80% of its limit for 30m, from 5m after the change is live; not fixed if that has not happened 2h after"
        );
        let mut e = from_flag(&flag("error-rate-high", Metric::Errors, 0.05), None, None);
        e.also.push("errors / requests < 0.01".into());
        assert!(
            words(&e).starts_with("verified when api's 5xx share stays below 5.0% and `errors / requests < 0.01` holds for 30m"),
            "{}",
            words(&e)
        );
    }

    #[test]
    fn a_long_rule_gets_a_window_at_least_its_for() {
        let r = from_flag(&flag("m", Metric::Memory, 0.9), None, Some(60 * MIN));
        assert_eq!(r.window_ms, 60 * MIN);
        assert!(problems(&r, &flag("m", Metric::Memory, 0.9)).is_empty());
    }

    #[test]
    fn a_bad_model_rule_is_replaced_and_the_plan_says_why() {
        let f = flag("memory-near-limit", Metric::Memory, 0.9);
        let mut rule = from_flag(&f, None, None);
        rule.service = ServiceId::from("billing");
        rule.window_ms = 0;
        rule.also.push("rm -rf /".into());
        let mut plan = crate::plan::markdown::parse("# t\n").unwrap();
        plan.verification_rule = Some(rule);
        settle(&mut plan, &f, None, None);
        assert_eq!(plan.verification_rule, Some(from_flag(&f, None, None)));
        let note = plan.verification.last().unwrap();
        assert!(
            note.contains("`billing`") && note.contains("window"),
            "{note}"
        );
        // A good one stays as the planner wrote it.
        let mut tight = from_flag(&f, None, None);
        tight.threshold = 0.7;
        plan.verification_rule = Some(tight.clone());
        settle(&mut plan, &f, None, None);
        assert_eq!(plan.verification_rule, Some(tight));
    }

    #[test]
    fn conditions_parse_or_say_why() {
        let (_, op, n) = parse_condition("errors / requests <= 0.01").unwrap();
        assert_eq!((op, n), (Op::Le, 0.01));
        assert!(parse_condition("errors")
            .unwrap_err()
            .contains("EXPR OP NUMBER"));
        assert!(parse_condition("errors < NaN").is_err());
        assert!(parse_condition("nonsense_metric < 1").is_err());
    }

    #[test]
    fn markdown_lines_read_back() {
        let f = flag("memory-near-limit", Metric::Memory, 0.9);
        let mut r = from_flag(&f, None, None);
        r.also.push("errors / requests < 0.01".into());
        let mut back = blank();
        for line in markdown_lines(&r) {
            let (k, v) = line.split_once(':').unwrap();
            parse_markdown_line(&mut back, k.trim(), v.trim()).unwrap();
        }
        assert_eq!(back, r);
        assert!(parse_markdown_line(&mut back, "window", "soon").is_err());
        assert!(parse_markdown_line(&mut back, "colour", "red").is_err());
    }
}
