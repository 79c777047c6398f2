//! Alerting rules and their state machine: inactive → pending → firing → resolved.
//!
//! With `min_fraction = 1.0` the machine is Prometheus' alerting-rule
//! evaluation (`for`, `keep_firing_for`) step for step, proven against
//! `promtool` in `tests/promtool_conformance.rs`. With `min_fraction < 1.0`
//! the rule judges the trailing `for` window instead: it is pending once a
//! full window holds at least that fraction of breaching samples, and fires
//! when that has lasted `for` since the episode's first breach, so a spiky
//! workload never fires and no rule fires sooner than its window. Pure: time is always an argument.
//!
//! What the window counts (the semantics `backtest` and live share):
//! * an absent sample (NaN) is neither a breach nor a non-breach; the
//!   source decides beforehand whether a query's absent samples read as 0
//!   (`absent = "zero"`, the default for `errors`: no 5xx series yet means
//!   0 errors), see [`crate::config::Absent`];
//! * a window is full only once the series has been present for the whole
//!   `for`, counted from its first present sample, not from the first
//!   evaluation: a fresh series, or a replay starting mid-history, waits a
//!   full window before it can fire. A window with no present sample at all
//!   starts the count again;
//! * so `backtest` gives the same transitions for any `--from` at least one
//!   window before the onset, and live (which replays its lookback) agrees.
//!   (Anomaly rules learn from all history and are the exception.)

use super::anomaly::{AnomalyConfig, AnomalyScorer, Unusual};
use super::expr::Expr;
use crate::model::{AlertState, Metric, Millis, ServiceMetrics, Transition, Unit};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// A comparison between the expression and the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
}

impl Op {
    /// Parse `>`, `>=`, `<`, `<=`.
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "<" => Op::Lt,
            "<=" => Op::Le,
            _ => return None,
        })
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }

    /// Does `value` breach `threshold`? Absent (NaN) never does.
    #[inline]
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
        }
    }
}

/// How a rule judges its expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    /// Compare the expression with a fixed threshold.
    #[default]
    Threshold,
    /// Compare the expression's streaming anomaly score (0..1) with the threshold.
    Anomaly,
}

/// One alerting rule, validated and ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Name shown everywhere (`memory-near-limit`).
    pub name: String,
    /// Threshold on the value, or on its anomaly score.
    pub kind: RuleKind,
    /// What to compute per service.
    pub expr: Expr,
    /// How to compare it.
    pub op: Op,
    /// What to compare it with.
    pub threshold: f64,
    /// How long the condition must hold before firing (ms).
    pub for_ms: Millis,
    /// How long to keep firing after the condition clears (ms).
    pub keep_firing_for_ms: Millis,
    /// Fraction of the window's samples that must breach; 1.0 = Prometheus.
    pub min_fraction: f64,
    /// Below this many requests/s the sample is ignored (absent); 0 = off.
    pub min_requests: f64,
}

impl Rule {
    /// The metric the rule is about: the first one its expression reads.
    pub fn metric(&self) -> Metric {
        self.expr.metrics().first().copied().unwrap_or(Metric::Cpu)
    }

    /// The unit of the expression's value: a ratio for `a / b` of two
    /// metrics, the metric's own unit for a bare metric.
    pub fn unit(&self) -> Unit {
        if self.kind == RuleKind::Anomaly {
            return Unit::Number;
        }
        self.value_unit()
    }

    /// The unit of the expression's own value (for an anomaly rule, of what
    /// it scores, not of the score).
    pub fn value_unit(&self) -> Unit {
        match &self.expr {
            Expr::Metric(m) => m.unit(),
            Expr::Binary(a, super::expr::BinOp::Div, b)
                if matches!(**a, Expr::Metric(_)) && matches!(**b, Expr::Metric(_)) =>
            {
                Unit::Ratio
            }
            _ => Unit::Number,
        }
    }

    /// What the expression measures, in the on-call engineer's words:
    /// `errors / requests` is the "error rate"; others are named as written.
    pub fn subject(&self) -> String {
        let expr = strip_outer_parens(&self.expr.to_string()).to_string();
        match expr.as_str() {
            "errors / requests" => "error rate".into(),
            "cpu / cpu_limit" => "CPU use".into(),
            "memory / memory_limit" => "memory use".into(),
            "errors" => "5xx rate".into(),
            "requests" => "request rate".into(),
            _ => expr,
        }
    }

    /// The rule as one line: `memory / memory_limit > 0.9 for 5m`.
    pub fn describe(&self) -> String {
        let expr = strip_outer_parens(&self.expr.to_string()).to_string();
        let subject = match self.kind {
            RuleKind::Threshold => expr,
            RuleKind::Anomaly => format!("anomaly score of {expr}"),
        };
        let mut s = format!(
            "{} {} {} for {}",
            subject,
            self.op.as_str(),
            self.threshold,
            crate::units::duration(self.for_ms)
        );
        if self.min_fraction < 1.0 {
            s.push_str(&format!(" ({:.0}% of samples)", self.min_fraction * 100.0));
        }
        s
    }

    /// Does this rule use the windowed (`min_fraction < 1`) semantics?
    pub fn windowed(&self) -> bool {
        self.min_fraction < 1.0
    }
}

/// An expression's text without the parentheses around the whole of it.
pub fn strip_outer_parens(s: &str) -> &str {
    s.strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .unwrap_or(s)
}

/// The state of one rule for one service, fed one evaluation at a time.
#[derive(Debug, Clone)]
pub struct AlertMachine {
    /// Current state.
    pub state: AlertState,
    /// When the current state was entered.
    pub since: Millis,
    /// When the current pending/firing episode became active.
    pub active_at: Millis,
    /// First evaluation where the condition was false while firing.
    keep_firing_since: Option<Millis>,
    /// Last evaluation fed in (evaluations at or before it are skipped).
    pub last_eval: Option<Millis>,
    /// The expression's value at the last evaluation (NaN when absent).
    pub last_value: f64,
    /// Windowed mode: the first present sample of the current run of data.
    first_present: Option<Millis>,
    /// Windowed mode: (timestamp, present, breached) over the trailing `for`.
    window: VecDeque<(Millis, bool, bool)>,
    present: usize,
    breached: usize,
    /// Anomaly rules: the streaming scorer of the expression's values.
    scorer: Option<Box<AnomalyScorer>>,
    /// Anomaly rules: the expression's own value at the last evaluation
    /// (`last_value` holds its score).
    pub last_input: f64,
}

impl Default for AlertMachine {
    fn default() -> Self {
        AlertMachine {
            state: AlertState::Inactive,
            since: 0,
            active_at: 0,
            keep_firing_since: None,
            last_eval: None,
            last_value: f64::NAN,
            first_present: None,
            window: VecDeque::new(),
            present: 0,
            breached: 0,
            scorer: None,
            last_input: f64::NAN,
        }
    }
}

impl AlertMachine {
    /// Anomaly rules: how the last value compares with its usual level
    /// ("6× its usual level for this hour"); `None` for threshold rules or
    /// before any value.
    pub fn unusual(&self) -> Option<Unusual> {
        let scorer = self.scorer.as_ref()?;
        if !self.last_input.is_finite() {
            return None;
        }
        scorer.unusual(self.last_eval?, self.last_input)
    }

    /// Feed the expression's value at evaluation time `ts` (NaN = absent).
    /// Returns the new state when it changed.
    pub fn observe(&mut self, rule: &Rule, ts: Millis, value: f64) -> Option<AlertState> {
        if self.last_eval.is_some_and(|last| ts <= last) {
            return None;
        }
        self.last_eval = Some(ts);
        self.last_value = value;
        let breach = rule.op.breaches(value, rule.threshold);
        let before = self.state;
        if rule.windowed() {
            self.observe_windowed(rule, ts, !value.is_nan(), breach);
        } else {
            self.observe_prometheus(rule, ts, breach);
        }
        (self.state != before).then(|| {
            self.since = ts;
            self.state
        })
    }

    /// Prometheus `AlertingRule.Eval` for one series (rules/alerting.go).
    fn observe_prometheus(&mut self, rule: &Rule, ts: Millis, cond: bool) {
        if cond {
            self.keep_firing_since = None;
            if matches!(self.state, AlertState::Inactive | AlertState::Resolved) {
                self.state = AlertState::Pending;
                self.active_at = ts;
            }
            if self.state == AlertState::Pending && ts - self.active_at >= rule.for_ms {
                self.state = AlertState::Firing;
            }
            return;
        }
        match self.state {
            AlertState::Pending => self.state = AlertState::Inactive,
            AlertState::Firing => {
                if rule.keep_firing_for_ms > 0 {
                    let since = *self.keep_firing_since.get_or_insert(ts);
                    if ts - since < rule.keep_firing_for_ms {
                        return;
                    }
                }
                self.keep_firing_since = None;
                self.state = AlertState::Resolved;
            }
            AlertState::Inactive | AlertState::Resolved => {}
        }
    }

    /// Windowed semantics: pending when a full `for` window holds at least
    /// `min_fraction` breaching samples among its present ones; firing once
    /// that has held since the episode's first breach for `for`.
    fn observe_windowed(&mut self, rule: &Rule, ts: Millis, present: bool, breach: bool) {
        if present && self.first_present.is_none() {
            self.first_present = Some(ts);
        }
        self.window.push_back((ts, present, breach));
        self.present += present as usize;
        self.breached += breach as usize;
        while let Some(&(t, p, b)) = self.window.front() {
            if t > ts - rule.for_ms {
                break;
            }
            self.window.pop_front();
            self.present -= p as usize;
            self.breached -= b as usize;
        }
        if self.present == 0 {
            // A whole window without data: the series starts over.
            self.first_present = None;
        }
        let full = self
            .first_present
            .is_some_and(|first| ts - first >= rule.for_ms);
        let cond = full
            && self.present > 0
            && self.breached as f64 >= rule.min_fraction * self.present as f64;
        if !cond {
            self.observe_prometheus(rule, ts, false);
            return;
        }
        self.keep_firing_since = None;
        if matches!(self.state, AlertState::Inactive | AlertState::Resolved) {
            self.state = AlertState::Pending;
            // The episode began with the window's first breaching sample.
            self.active_at = self
                .window
                .iter()
                .find(|(_, _, b)| *b)
                .map_or(ts, |&(t, ..)| t);
        }
        // Never firing sooner than `for` after the episode's first breach.
        if self.state == AlertState::Pending && ts - self.active_at >= rule.for_ms {
            self.state = AlertState::Firing;
        }
    }
}

/// Evaluate `rule` for one service over its series, feeding `machine` every
/// grid point after its last evaluation. `scratch` avoids re-allocating.
pub fn evaluate(
    rule: &Rule,
    svc: &ServiceMetrics,
    machine: &mut AlertMachine,
    scratch: &mut Vec<f64>,
) -> Vec<Transition> {
    let Some(grid) = rule
        .expr
        .metrics()
        .into_iter()
        .find_map(|m| svc.get(m))
        .map(|s| (s.start, s.step, s.values.len()))
    else {
        return Vec::new();
    };
    let (start, step, len) = grid;
    let first = match machine.last_eval {
        Some(last) if last >= start => ((last - start) / step + 1) as usize,
        _ => 0,
    };
    // Only the points not evaluated yet: a refresh costs what is new.
    rule.expr.eval_from(svc, first, len, scratch);
    if rule.min_requests > 0.0 {
        match svc.get(Metric::Requests) {
            Some(req) => {
                let req = req.values.get(first..).unwrap_or_default();
                for (v, r) in scratch.iter_mut().zip(req) {
                    // Absent traffic (NaN) also masks the sample.
                    if r.is_nan() || *r < rule.min_requests {
                        *v = f64::NAN;
                    }
                }
            }
            None => scratch.iter_mut().for_each(|v| *v = f64::NAN),
        }
    }
    let mut out = Vec::new();
    for (k, &v) in scratch.iter().enumerate() {
        let ts = start + (first + k) as Millis * step;
        let v = match rule.kind {
            RuleKind::Threshold => v,
            // Each value reaches the scorer exactly once: points already
            // evaluated were skipped above. The rule judges the held score,
            // so `for` and `min_fraction` see a sustained shift as sustained.
            RuleKind::Anomaly if v.is_finite() => {
                let scorer = machine
                    .scorer
                    .get_or_insert_with(|| Box::new(AnomalyScorer::new(AnomalyConfig::default())));
                scorer.observe(ts, v);
                machine.last_input = v;
                scorer.held()
            }
            RuleKind::Anomaly => {
                machine.last_input = f64::NAN;
                f64::NAN
            }
        };
        if let Some(state) = machine.observe(rule, ts, v) {
            out.push(Transition {
                service: svc.service.clone(),
                rule: rule.name.clone(),
                state,
                at: ts,
                value: v,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Series, ServiceId};

    fn rule(for_ms: Millis, keep: Millis, mf: f64) -> Rule {
        Rule {
            name: "r".into(),
            kind: RuleKind::Threshold,
            expr: Expr::parse("cpu").unwrap(),
            op: Op::Gt,
            threshold: 1.0,
            for_ms,
            keep_firing_for_ms: keep,
            min_fraction: mf,
            min_requests: 0.0,
        }
    }

    fn run(rule: &Rule, values: &[f64]) -> Vec<(i64, AlertState)> {
        let mut svc = ServiceMetrics::new(ServiceId::from("s"));
        svc.set(
            Metric::Cpu,
            Series {
                start: 0,
                step: 60_000,
                values: values.to_vec(),
            },
        );
        let mut m = AlertMachine::default();
        evaluate(rule, &svc, &mut m, &mut Vec::new())
            .into_iter()
            .map(|t| (t.at / 60_000, t.state))
            .collect()
    }

    use AlertState::*;

    #[test]
    fn for_counts_from_the_first_breach() {
        let r = rule(2 * 60_000, 0, 1.0);
        assert_eq!(
            run(&r, &[0., 2., 2., 2., 0.]),
            vec![(1, Pending), (3, Firing), (4, Resolved)]
        );
        assert_eq!(
            run(&r, &[2., 2., 0., 2.]),
            vec![(0, Pending), (2, Inactive), (3, Pending)]
        );
        assert_eq!(run(&rule(0, 0, 1.0), &[0., 2.]), vec![(1, Firing)]);
    }

    #[test]
    fn keep_firing_for_holds_then_resolves() {
        let r = rule(0, 2 * 60_000, 1.0);
        assert_eq!(
            run(&r, &[2., 0., 0., 0., 0.]),
            vec![(0, Firing), (3, Resolved)]
        );
        // Condition back during keep-firing: never resolved.
        assert_eq!(run(&r, &[2., 0., 2., 0., 0.]), vec![(0, Firing)]);
    }

    #[test]
    fn absent_is_not_a_breach_and_not_zero() {
        let r = rule(0, 0, 1.0);
        assert_eq!(
            run(&r, &[2., f64::NAN, 2.]),
            vec![(0, Firing), (1, Resolved), (2, Firing)]
        );
        let lt = Rule { op: Op::Lt, ..r };
        assert_eq!(
            run(&lt, &[f64::NAN, f64::NAN]),
            vec![],
            "absent is not below anything"
        );
    }

    #[test]
    fn windowed_rule_ignores_spikes_and_fires_on_sustained_breach() {
        let r = rule(5 * 60_000, 0, 0.8);
        let spiky: Vec<f64> = (0..60).map(|i| if i % 8 < 2 { 2.0 } else { 0.5 }).collect();
        assert_eq!(run(&r, &spiky), vec![]);
        let mut sustained = vec![0.5; 10];
        sustained.extend((0..20).map(|i| if i % 7 == 3 { 0.5 } else { 2.0 }));
        let t = run(&r, &sustained);
        let fired = t.iter().find(|x| x.1 == Firing).expect("fires");
        assert!(fired.0 >= 15, "needs a full window of trouble first: {t:?}");
    }

    #[test]
    fn anomaly_rule_fires_on_a_level_shift_not_on_noise() {
        let mut r = rule(0, 0, 1.0);
        r.kind = RuleKind::Anomaly;
        r.threshold = 0.8;
        let mut values: Vec<f64> = (0..400)
            .map(|i| 10.0 + ((i * 7919) % 11) as f64 / 10.0)
            .collect();
        assert_eq!(run(&r, &values), vec![], "noise alone is familiar");
        values.extend((0..50).map(|i| 40.0 + (i % 3) as f64));
        let t = run(&r, &values);
        assert_eq!(t.first().map(|x| (x.0, x.1)), Some((400, Firing)), "{t:?}");
    }

    #[test]
    fn anomaly_rule_with_noise_control_fires_on_a_sustained_shift_not_a_spike() {
        let mut r = rule(5 * 60_000, 0, 0.8);
        r.kind = RuleKind::Anomaly;
        r.threshold = 0.5;
        let base: Vec<f64> = (0..400)
            .map(|i| 10.0 + ((i * 7919) % 11) as f64 / 10.0)
            .collect();
        let mut spike = base.clone();
        spike[300] = 60.0;
        assert_eq!(
            run(&r, &spike),
            vec![],
            "one odd sample is not a 5m episode"
        );
        let mut shift = base.clone();
        shift.extend((0..30).map(|i| 40.0 + (i % 3) as f64));
        let t = run(&r, &shift);
        assert_eq!(t.first(), Some(&(403, Pending)), "{t:?}");
        assert!(t.contains(&(405, Firing)), "{t:?}");
    }

    #[test]
    fn incremental_feeding_equals_batch() {
        let r = rule(3 * 60_000, 60_000, 1.0);
        let values: Vec<f64> = (0..50).map(|i| ((i * 7919) % 13) as f64 / 6.0).collect();
        let batch = run(&r, &values);
        let mut m = AlertMachine::default();
        let mut got = Vec::new();
        for end in [10, 11, 30, 50] {
            let mut svc = ServiceMetrics::new(ServiceId::from("s"));
            svc.set(
                Metric::Cpu,
                Series {
                    start: 0,
                    step: 60_000,
                    values: values[..end].to_vec(),
                },
            );
            got.extend(
                evaluate(&r, &svc, &mut m, &mut Vec::new())
                    .into_iter()
                    .map(|t| (t.at / 60_000, t.state)),
            );
        }
        assert_eq!(got, batch);
    }

    #[test]
    fn a_windowed_rule_waits_a_full_window_from_the_first_sample() {
        let r = rule(5 * 60_000, 0, 0.8);
        // The series only starts at minute 10, breaching from its first sample.
        let mut late = vec![f64::NAN; 10];
        late.extend([2.0; 20]);
        assert_eq!(run(&r, &late), vec![(15, Pending), (16, Firing)]);
        // A gap as long as the window starts the count again.
        let mut gap = vec![0.5; 10];
        gap.extend([f64::NAN; 6]);
        gap.extend([2.0; 10]);
        assert_eq!(run(&r, &gap), vec![(21, Pending), (22, Firing)]);
        // A short gap does not.
        let mut short = vec![0.5; 10];
        short.extend([f64::NAN; 2]);
        short.extend([2.0; 10]);
        let t = run(&r, &short);
        assert_eq!(t, vec![(14, Pending), (17, Firing)]);
    }
}
