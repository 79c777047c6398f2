//! Differential conformance: medic's alert state machine (`min_fraction = 1.0`)
//! against Prometheus' own alerting-rule evaluation, run by the real
//! `promtool test rules`.
//!
//! Every run generates random cases (seeded splitmix64, reproducible with
//! `MEDIC_CONFORMANCE_SEED=<seed>`): one or two services, one rule (random
//! expression shape, operator, threshold, `for`, `keep_firing_for`, rule
//! labels) and gappy input series (gaps longer than the 5m lookback, input
//! every 1m or every 30s, rules evaluated every 1m). medic resamples the raw
//! samples with `Series::from_samples`, evaluates the expression with
//! `Expr::eval_into` and feeds `AlertMachine::observe` at every evaluation
//! time; its answers become the *expected* values of a promtool unit test, and
//! promtool must agree at every evaluation time.
//!
//! medic's own semantics are written out in PromQL on promtool's side:
//! - a limit (`cpu_limit`, `memory_limit`) of 0 or not finite is no limit,
//!   absent in medic: `(cpu_limit > 0 < Inf)` in PromQL;
//! - `errors` reads absent as 0 (`absent = "zero"`) where the service has
//!   another series: `(errors or requests * 0)` when the expression reads
//!   `requests` too, medic's side applying `sources::read_absent_as_zero`;
//! - series start late (absent for the first minutes) and the `errors`
//!   series is sometimes absent altogether, as a 5xx series is before the
//!   first 5xx.
//!
//! Environment:
//! - `MEDIC_CONFORMANCE_SEED`: the seed (default: derived from the clock).
//! - `MEDIC_CONFORMANCE_CASES`: how many cases (default 200).
//! - `MEDIC_CONFORMANCE_ONLY`: run only this case index (with the same seed).
//! - `MEDIC_CONFORMANCE_MUTANT=for-off-by-one`: medic's side uses `for` + one
//!   evaluation interval while promtool keeps the original; the test must fail.
//! - `MEDIC_PROMTOOL`: the promtool binary (default `promtool` on `PATH`).
//!
//! promtool is a hard requirement (CI installs it): when missing, the test
//! fails and says how to install it rather than silently passing.
//!
//! ## How the promtool side is laid out, and why
//!
//! A promtool test file's `rule_files` apply to every `tests:` entry of that
//! file, so one file holding all cases would evaluate all N rules in each of
//! the N test groups: quadratic, measured at ~50 s for 200 cases. Instead each
//! case gets its own rule file and its own test file (one `tests:` entry), and
//! a single `promtool test rules case_*.test.yml` invocation runs them all
//! (~2 s for 200 cases). Alert names are `Case<index>`, so every promtool
//! error line names its case.
//!
//! ## What is checked at each evaluation time `t` (0m, 1m, 2m, …)
//!
//! - `alert_rule_test`: the FIRING alerts (promtool ignores pending and
//!   resolved ones there), with labels = series labels minus `__name__` plus
//!   the rule's labels plus `alertname`, and no annotations.
//! - `promql_expr_test` of `ALERTS{alertname="Case<i>"}`: one sample per
//!   pending or firing alert with its `alertstate`, i.e. pending is checked
//!   too. Quirks of this formulation: promtool runs these queries after the
//!   last evaluation, against the ALERTS samples the rule group stored. Each
//!   evaluation writes `ALERTS{…}=1` at `t` for every pending/firing alert,
//!   and a staleness marker at `t` for every ALERTS series of the previous
//!   evaluation that is gone (an alert that resolved, or pending → firing,
//!   which changes the `alertstate` label). So an instant query at exactly an
//!   evaluation time sees exactly that evaluation's alerts; the 5m lookback
//!   never resurrects an old one because the stale marker is the latest
//!   sample. Between evaluations (or after the last one) the query would
//!   still see the previous evaluation's samples, so eval times must be
//!   exact multiples of the evaluation interval, which they are.
//!
//! ## Lookback: Prometheus 2.x vs 3.x
//!
//! `Series::from_samples` takes the latest sample in `(t - lookback, t]`,
//! Prometheus 3 semantics (3.0 made the lookback window left-open).
//! Prometheus 2.x, e.g. Debian's promtool 2.42, still includes a sample
//! exactly `lookback` old (`[t - 5m, t]`: promql/engine.go
//! `vectorSelectorSingle`, `t < refTime-durationMilliseconds(ev.lookbackDelta)`
//! rejects only strictly older samples). Input timestamps are whole
//! milliseconds, so for a 2.x promtool medic resamples with a lookback of
//! 5m + 1ms, which is exactly `[t - 5m, t]`; for 3.x it uses 5m.

use medic::detect::expr::Expr;
use medic::detect::rules::{evaluate, AlertMachine, Op, Rule, RuleKind};
use medic::model::{AlertState, Metric, Millis, Series, ServiceId, ServiceMetrics};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

/// The rule evaluation interval (promtool's `evaluation_interval`).
const EVAL_MS: Millis = 60_000;
/// Evaluations per case: at 0m, 1m, …, (EVALS - 1)m.
const EVALS: usize = 30;
/// Prometheus' default lookback delta.
const LOOKBACK_MS: Millis = 5 * 60_000;
const DEFAULT_CASES: usize = 200;

/// medic at one evaluation: the expression's value (NaN = absent) and the state.
type Step = (f64, AlertState);

// ---------------------------------------------------------------------------
// PRNG

/// splitmix64: tiny, good enough, and no new crate.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.next_u64() as usize % xs.len()].clone()
    }
}

// ---------------------------------------------------------------------------
// Cases

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mutant {
    None,
    ForOffByOne,
}

/// One input series: `samples[k]` is at `k * input_step_ms`, `None` = gap.
struct InputSeries {
    metric: Metric,
    service: String,
    samples: Vec<Option<f64>>,
}

struct Case {
    index: usize,
    input_step_ms: Millis,
    services: Vec<String>,
    /// Labels every series of the case carries besides `service`.
    extra_labels: Vec<(String, String)>,
    /// The rule as promtool gets it (never mutated).
    rule: Rule,
    rule_labels: Vec<(String, String)>,
    series: Vec<InputSeries>,
    /// Per service, per evaluation: medic's expression value and state.
    timeline: Vec<Vec<Step>>,
}

impl Case {
    fn alertname(&self) -> String {
        format!("Case{}", self.index)
    }

    /// The labels of `service`'s series, without `__name__`.
    fn series_labels(&self, service: &str) -> BTreeMap<String, String> {
        let mut l: BTreeMap<String, String> = self.extra_labels.iter().cloned().collect();
        l.insert("service".into(), service.into());
        l
    }

    /// The labels promtool's alert carries besides `alertname`.
    fn alert_labels(&self, service: &str) -> BTreeMap<String, String> {
        let mut l = self.series_labels(service);
        l.extend(self.rule_labels.iter().cloned());
        l
    }

    fn promql(&self) -> String {
        let metrics = self.rule.expr.metrics();
        format!(
            "{} {} {}",
            promql_of(&self.rule.expr, &metrics),
            self.rule.op.as_str(),
            self.rule.threshold
        )
    }
}

/// medic's expression as PromQL with medic's absent semantics spelled out.
fn promql_of(e: &Expr, metrics: &[Metric]) -> String {
    use medic::detect::expr::BinOp;
    match e {
        Expr::Number(n) => format!("{n}"),
        Expr::Metric(m @ (Metric::CpuLimit | Metric::MemoryLimit)) => format!("({m} > 0 < Inf)"),
        Expr::Metric(Metric::Errors) if metrics.contains(&Metric::Requests) => {
            "(errors or requests * 0)".to_string()
        }
        Expr::Metric(m) => m.to_string(),
        Expr::Neg(a) => format!("-({})", promql_of(a, metrics)),
        Expr::Binary(a, op, b) => {
            let o = match op {
                BinOp::Add => "+",
                BinOp::Sub => "-",
                BinOp::Mul => "*",
                BinOp::Div => "/",
            };
            format!("({} {o} {})", promql_of(a, metrics), promql_of(b, metrics))
        }
    }
}

/// Late-starting series: absent for a first stretch; `errors` now and then
/// absent altogether (no 5xx yet).
fn start_late(r: &mut Rng, metric: Metric, samples: &mut [Option<f64>], per_min: i64) {
    if metric == Metric::Errors && r.chance(0.15) {
        samples.iter_mut().for_each(|v| *v = None);
    } else if r.chance(0.3) {
        let k = (r.range(1, 20 * per_min) as usize).min(samples.len());
        samples[..k].iter_mut().for_each(|v| *v = None);
    }
}

/// The raw samples with their timestamps.
fn timed(samples: &[Option<f64>], step: Millis) -> Vec<(Millis, f64)> {
    samples
        .iter()
        .enumerate()
        .filter_map(|(k, v)| v.map(|v| (k as Millis * step, v)))
        .collect()
}

/// Values around the thresholds, in runs so `for` can be met, with gaps from
/// one sample up to 13 minutes (longer than the 5m lookback).
fn level_samples(r: &mut Rng, n: usize, per_min: i64, gap_p: f64) -> Vec<Option<f64>> {
    let mut out = Vec::with_capacity(n + 16 * per_min as usize);
    let mut level = r.range(0, 8) as f64;
    while out.len() < n {
        if r.chance(gap_p) {
            let len = r.range(1, 13 * per_min) as usize;
            out.extend(std::iter::repeat_n(None, len));
        } else {
            let len = r.range(1, 8 * per_min);
            if r.chance(0.6) {
                level = r.range(0, 8) as f64;
            }
            for _ in 0..len {
                let v = if r.chance(0.15) {
                    r.range(0, 8) as f64
                } else {
                    level
                };
                out.push(Some(v));
            }
        }
    }
    out.truncate(n);
    out
}

/// A denominator: long steady runs of 1, 2 or 4, rarely 3 (inexact ratios)
/// or 0 (x/0 = ±Inf, 0/0 = NaN: both engines follow IEEE 754), few gaps.
fn limit_samples(r: &mut Rng, n: usize, per_min: i64) -> Vec<Option<f64>> {
    let mut out = Vec::with_capacity(n + 16 * per_min as usize);
    while out.len() < n {
        if r.chance(0.1) {
            let len = r.range(1, 9 * per_min) as usize;
            out.extend(std::iter::repeat_n(None, len));
        } else {
            let level = if r.chance(0.08) {
                r.pick(&[0.0, 3.0])
            } else {
                r.pick(&[1.0, 2.0, 4.0])
            };
            let len = r.range(2 * per_min, 15 * per_min) as usize;
            out.extend(std::iter::repeat_n(Some(level), len));
        }
    }
    out.truncate(n);
    out
}

fn gen_case(seed: u64, index: usize, lookback: Millis, mutant: Mutant) -> Case {
    let mut r = Rng(seed);
    let input_step_ms = if r.chance(0.3) { 30_000 } else { 60_000 };
    let per_min = EVAL_MS / input_step_ms;
    let n = EVALS * per_min as usize;

    let services: Vec<String> = match r.range(1, 2) {
        1 => vec![r.pick(&["api", "web", "db", "worker"]).to_string()],
        _ => vec!["api".to_string(), "worker".to_string()],
    };
    let extra_labels = if r.chance(0.4) {
        vec![("env".to_string(), r.pick(&["prod", "staging"]).to_string())]
    } else {
        Vec::new()
    };

    // The expression: (source text, metrics read as levels, metrics read as limits).
    use Metric::*;
    let pairs = [(Cpu, CpuLimit), (Memory, MemoryLimit), (Errors, Requests)];
    let (num, den) = r.pick(&pairs);
    let single = r.pick(&Metric::ALL);
    let (src, levels, limits): (String, Vec<Metric>, Vec<Metric>) = match r.range(0, 5) {
        0 => (single.name().into(), vec![single], vec![]),
        1 => (format!("{num} / {den}"), vec![num], vec![den]),
        2 => {
            let k = r.pick(&["2", "3", "0.5"]);
            let (op, c) = r.pick(&[("+", "1"), ("-", "1"), ("+", "0.5"), ("-", "3")]);
            (format!("{single} * {k} {op} {c}"), vec![single], vec![])
        }
        3 => (format!("10 - {single}"), vec![single], vec![]),
        4 => (format!("{num} / {den} * 100"), vec![num], vec![den]),
        _ => (format!("({num} + {den}) / 2"), vec![num, den], vec![]),
    };
    let expr = Expr::parse(&src).unwrap_or_else(|e| panic!("test bug: `{src}`: {e}"));

    let mut series = Vec::new();
    for svc in &services {
        let gap_p = r.pick(&[0.0, 0.15, 0.3]);
        for &m in &levels {
            let mut samples = level_samples(&mut r, n, per_min, gap_p);
            start_late(&mut r, m, &mut samples, per_min);
            series.push(InputSeries {
                metric: m,
                service: svc.clone(),
                samples,
            });
        }
        for &m in &limits {
            // Now and then a service lacks its denominator altogether: no
            // match in PromQL, absent in medic.
            if services.len() > 1 && r.chance(0.1) {
                continue;
            }
            let mut samples = limit_samples(&mut r, n, per_min);
            start_late(&mut r, m, &mut samples, per_min);
            series.push(InputSeries {
                metric: m,
                service: svc.clone(),
                samples,
            });
        }
    }

    // medic's view: resample on the evaluation grid, evaluate the expression.
    let (_, values) = medic_inputs(&services, &series, input_step_ms, &expr, lookback);

    // A threshold the values straddle: one of them (ties exercise >= / <=),
    // half-way between two, or one ± 0.5.
    let mut seen: Vec<f64> = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    seen.sort_by(f64::total_cmp);
    seen.dedup();
    let threshold = if seen.is_empty() {
        1.5
    } else {
        let j = r.range(0, seen.len() as i64 - 1) as usize;
        match r.range(0, 9) {
            0..=2 => seen[j],
            3..=6 if j + 1 < seen.len() => (seen[j] + seen[j + 1]) / 2.0,
            _ => seen[j] + r.pick(&[-0.5, 0.5]),
        }
    };

    let for_ms = r.pick(&[0, 0, 30, 60, 90, 120, 150, 180, 240, 300, 420]) * 1000;
    let keep_firing_for_ms = if r.chance(0.5) {
        0
    } else {
        r.pick(&[30, 60, 90, 120, 150, 180, 300]) * 1000
    };
    let rule = Rule {
        name: format!("Case{index}"),
        kind: RuleKind::Threshold,
        expr,
        op: r.pick(&[Op::Gt, Op::Ge, Op::Lt, Op::Le]),
        threshold,
        for_ms,
        keep_firing_for_ms,
        min_fraction: 1.0,
        min_requests: 0.0,
    };
    let rule_labels = if r.chance(0.3) {
        vec![(
            "severity".to_string(),
            r.pick(&["page", "ticket"]).to_string(),
        )]
    } else {
        Vec::new()
    };

    let mut case = Case {
        index,
        input_step_ms,
        services,
        extra_labels,
        rule,
        rule_labels,
        series,
        timeline: Vec::new(),
    };
    // The mutant changes medic's side only; promtool keeps `case.rule`.
    let mut medic_rule = case.rule.clone();
    if mutant == Mutant::ForOffByOne {
        medic_rule.for_ms += EVAL_MS;
    }
    let (metrics, values) = medic_inputs(
        &case.services,
        &case.series,
        input_step_ms,
        &medic_rule.expr,
        lookback,
    );
    case.timeline = metrics
        .iter()
        .zip(&values)
        .map(|(sm, vals)| medic_timeline(&medic_rule, sm, vals))
        .collect();
    case
}

/// Per service: its series resampled onto the evaluation grid, and the
/// expression's value at each evaluation (NaN = absent).
fn medic_inputs(
    services: &[String],
    series: &[InputSeries],
    step: Millis,
    expr: &Expr,
    lookback: Millis,
) -> (Vec<ServiceMetrics>, Vec<Vec<f64>>) {
    let metrics: Vec<ServiceMetrics> = services
        .iter()
        .map(|svc| {
            let mut sm = ServiceMetrics::new(ServiceId::from(svc.as_str()));
            for s in series.iter().filter(|s| &s.service == svc) {
                let raw = timed(&s.samples, step);
                sm.set(
                    s.metric,
                    Series::from_samples(&raw, 0, EVAL_MS, EVALS, lookback),
                );
            }
            // As the Prometheus source does for `absent = "zero"` (errors).
            if expr.metrics().contains(&Metric::Requests) {
                medic::sources::read_absent_as_zero(&mut sm, Metric::Errors, 0, EVAL_MS, EVALS);
            }
            sm
        })
        .collect();
    let values = metrics
        .iter()
        .map(|sm| {
            let mut out = Vec::new();
            expr.eval_into(sm, EVALS, &mut out);
            out
        })
        .collect();
    (metrics, values)
}

/// Feed medic's machine one evaluation at a time; cross-check the batch
/// `evaluate` tells the same story.
fn medic_timeline(rule: &Rule, sm: &ServiceMetrics, values: &[f64]) -> Vec<Step> {
    let mut machine = AlertMachine::default();
    let mut steps = Vec::with_capacity(values.len());
    let mut changes = Vec::new();
    for (i, &v) in values.iter().enumerate() {
        let ts = i as Millis * EVAL_MS;
        if let Some(s) = machine.observe(rule, ts, v) {
            changes.push((ts, s));
        }
        steps.push((v, machine.state));
    }
    let mut fresh = AlertMachine::default();
    let batch: Vec<(Millis, AlertState)> = evaluate(rule, sm, &mut fresh, &mut Vec::new())
        .into_iter()
        .map(|t| (t.at, t.state))
        .collect();
    assert_eq!(
        batch, changes,
        "medic's evaluate() and observe() disagree for {}",
        rule.name
    );
    steps
}

// ---------------------------------------------------------------------------
// promtool files

fn labels_str(l: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(","))
}

fn duration(ms: Millis) -> String {
    format!("{}s", ms / 1000)
}

fn values_str(samples: &[Option<f64>]) -> String {
    let parts: Vec<String> = samples
        .iter()
        .map(|v| v.map_or_else(|| "_".to_string(), |v| format!("{v}")))
        .collect();
    parts.join(" ")
}

fn rule_file(case: &Case) -> String {
    let mut y = String::new();
    let _ = writeln!(y, "groups:");
    let _ = writeln!(y, "- name: case{}", case.index);
    let _ = writeln!(y, "  rules:");
    let _ = writeln!(y, "  - alert: {}", case.alertname());
    let _ = writeln!(y, "    expr: '{}'", case.promql());
    let _ = writeln!(y, "    for: {}", duration(case.rule.for_ms));
    if case.rule.keep_firing_for_ms > 0 {
        let _ = writeln!(
            y,
            "    keep_firing_for: {}",
            duration(case.rule.keep_firing_for_ms)
        );
    }
    if !case.rule_labels.is_empty() {
        let _ = writeln!(y, "    labels:");
        for (k, v) in &case.rule_labels {
            let _ = writeln!(y, "      {k}: '{v}'");
        }
    }
    y
}

fn test_file(case: &Case, rule_file_name: &str) -> String {
    let name = case.alertname();
    let mut y = String::new();
    let _ = writeln!(y, "rule_files:\n- {rule_file_name}");
    let _ = writeln!(y, "evaluation_interval: {}", duration(EVAL_MS));
    let _ = writeln!(y, "tests:");
    let _ = writeln!(y, "- name: case {}", case.index);
    let _ = writeln!(y, "  interval: {}", duration(case.input_step_ms));
    let _ = writeln!(y, "  input_series:");
    // A series with no sample at all does not exist (a 5xx series before the first 5xx).
    for s in case
        .series
        .iter()
        .filter(|s| s.samples.iter().any(Option::is_some))
    {
        let _ = writeln!(
            y,
            "  - series: '{}{}'",
            s.metric.name(),
            labels_str(&case.series_labels(&s.service))
        );
        let _ = writeln!(y, "    values: '{}'", values_str(&s.samples));
    }
    let _ = writeln!(y, "  alert_rule_test:");
    for i in 0..EVALS {
        let _ = writeln!(y, "  - eval_time: {}", duration(i as Millis * EVAL_MS));
        let _ = writeln!(y, "    alertname: {name}");
        let firing: Vec<&String> = case
            .services
            .iter()
            .zip(&case.timeline)
            .filter(|(_, t)| t[i].1 == AlertState::Firing)
            .map(|(s, _)| s)
            .collect();
        if firing.is_empty() {
            let _ = writeln!(y, "    exp_alerts: []");
            continue;
        }
        let _ = writeln!(y, "    exp_alerts:");
        for svc in firing {
            let _ = writeln!(y, "    - exp_labels:");
            for (k, v) in case.alert_labels(svc) {
                let _ = writeln!(y, "        {k}: '{v}'");
            }
        }
    }
    let _ = writeln!(y, "  promql_expr_test:");
    for i in 0..EVALS {
        let _ = writeln!(y, "  - expr: 'ALERTS{{alertname=\"{name}\"}}'");
        let _ = writeln!(y, "    eval_time: {}", duration(i as Millis * EVAL_MS));
        let mut samples = Vec::new();
        for (svc, t) in case.services.iter().zip(&case.timeline) {
            let state = match t[i].1 {
                AlertState::Pending => "pending",
                AlertState::Firing => "firing",
                // Resolved is "was firing, now not": Prometheus keeps it 15m
                // as inactive, with no ALERTS sample.
                AlertState::Inactive | AlertState::Resolved => continue,
            };
            let mut l = case.alert_labels(svc);
            l.insert("alertname".into(), name.clone());
            l.insert("alertstate".into(), state.into());
            samples.push(format!("ALERTS{}", labels_str(&l)));
        }
        if samples.is_empty() {
            let _ = writeln!(y, "    exp_samples: []");
            continue;
        }
        let _ = writeln!(y, "    exp_samples:");
        for s in samples {
            let _ = writeln!(y, "    - labels: '{s}'\n      value: 1");
        }
    }
    y
}

/// How many cases exercise each behaviour (medic's view; promtool agrees or
/// the test fails anyway).
#[derive(Debug, Default)]
struct Coverage {
    fire: usize,
    resolve: usize,
    /// Pending, then the condition cleared before `for` elapsed.
    pending_dropped: usize,
    /// Firing while the condition is false (`keep_firing_for`).
    kept_firing: usize,
    /// An evaluation with no sample at that instant read an older one.
    lookback_filled: usize,
    /// An evaluation whose latest sample was exactly 5m old (where
    /// Prometheus 2.x and 3.x differ).
    lookback_boundary: usize,
    /// A value exactly equal to the threshold.
    tie: usize,
    input_30s: usize,
    two_services: usize,
    /// A series absent for its first minutes.
    late_start: usize,
    /// An `errors` series that never exists, read as 0 beside `requests`.
    absent_errors_read_as_zero: usize,
    /// A limit of 0: no limit, absent.
    zero_limit: usize,
}

impl Coverage {
    fn of(cases: &[Case]) -> Coverage {
        let mut cov = Coverage::default();
        for c in cases {
            let any = |f: &dyn Fn(&[Step]) -> bool| c.timeline.iter().any(|t| f(t)) as usize;
            let (op, th) = (c.rule.op, c.rule.threshold);
            cov.fire += any(&|t| t.iter().any(|x| x.1 == AlertState::Firing));
            cov.resolve += any(&|t| t.iter().any(|x| x.1 == AlertState::Resolved));
            cov.pending_dropped += any(&|t| {
                t.windows(2)
                    .any(|w| w[0].1 == AlertState::Pending && w[1].1 == AlertState::Inactive)
            });
            cov.kept_firing += any(&|t| {
                t.iter()
                    .any(|&(v, s)| s == AlertState::Firing && !op.breaches(v, th))
            });
            cov.tie += any(&|t| t.iter().any(|&(v, _)| v == th));
            // Age of the latest sample at or before each evaluation.
            let per_min = (EVAL_MS / c.input_step_ms) as usize;
            let ages = |s: &InputSeries| -> Vec<Option<Millis>> {
                (0..EVALS)
                    .map(|i| {
                        let k = i * per_min;
                        (0..=k)
                            .rev()
                            .find(|&j| s.samples[j].is_some())
                            .map(|j| (k - j) as Millis * c.input_step_ms)
                    })
                    .collect()
            };
            let all: Vec<Option<Millis>> = c.series.iter().flat_map(ages).collect();
            cov.lookback_filled +=
                all.iter()
                    .any(|a| a.is_some_and(|a| a > 0 && a < LOOKBACK_MS)) as usize;
            cov.lookback_boundary += all.contains(&Some(LOOKBACK_MS)) as usize;
            cov.input_30s += (c.input_step_ms != EVAL_MS) as usize;
            cov.two_services += (c.services.len() > 1) as usize;
            cov.late_start += c
                .series
                .iter()
                .any(|s| s.samples[0].is_none() && s.samples.iter().any(Option::is_some))
                as usize;
            let reads_requests = c.rule.expr.metrics().contains(&Metric::Requests);
            cov.absent_errors_read_as_zero += (reads_requests
                && c.series
                    .iter()
                    .any(|s| s.metric == Metric::Errors && s.samples.iter().all(Option::is_none)))
                as usize;
            cov.zero_limit += c.series.iter().any(|s| {
                matches!(s.metric, Metric::CpuLimit | Metric::MemoryLimit)
                    && s.samples.contains(&Some(0.0))
            }) as usize;
        }
        cov
    }
}

// ---------------------------------------------------------------------------
// Reporting

fn state_char(s: AlertState) -> char {
    match s {
        AlertState::Inactive => '.',
        AlertState::Pending => 'P',
        AlertState::Firing => 'F',
        AlertState::Resolved => 'r',
    }
}

fn describe(case: &Case, seed: u64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "case {} (MEDIC_CONFORMANCE_SEED={seed} MEDIC_CONFORMANCE_ONLY={}):",
        case.index, case.index
    );
    let _ = writeln!(
        s,
        "  rule {}: {} for {} keep_firing_for {} labels {:?}",
        case.alertname(),
        case.promql(),
        duration(case.rule.for_ms),
        duration(case.rule.keep_firing_for_ms),
        case.rule_labels
    );
    let _ = writeln!(
        s,
        "  input interval {}, evaluation interval {}",
        duration(case.input_step_ms),
        duration(EVAL_MS)
    );
    for se in &case.series {
        let _ = writeln!(
            s,
            "  {}{}: {}",
            se.metric.name(),
            labels_str(&case.series_labels(&se.service)),
            values_str(&se.samples)
        );
    }
    let _ = writeln!(
        s,
        "  medic per evaluation (. inactive, P pending, F firing, r resolved):"
    );
    for (svc, t) in case.services.iter().zip(&case.timeline) {
        let states: String = t.iter().map(|(_, st)| state_char(*st)).collect();
        let vals: Vec<String> = t
            .iter()
            .enumerate()
            .map(|(i, (v, _))| {
                let v = if v.is_nan() {
                    "_".into()
                } else {
                    format!("{v}")
                };
                format!("{i}m={v}")
            })
            .collect();
        let _ = writeln!(s, "    {svc}: {states}");
        let _ = writeln!(s, "    {svc} values: {}", vals.join(" "));
    }
    s
}

/// Every `Case<N>` mentioned in promtool's output.
fn failing_cases(output: &str) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    let mut rest = output;
    while let Some(p) = rest.find("Case") {
        rest = &rest[p + 4..];
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        if let Ok(n) = digits.parse() {
            out.insert(n);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Environment

fn promtool_bin() -> String {
    std::env::var("MEDIC_PROMTOOL").unwrap_or_else(|_| "promtool".to_string())
}

/// promtool's major version; panics (never skips) when it is missing.
fn promtool_major(bin: &str) -> u32 {
    let out = Command::new(bin).arg("--version").output();
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!(
            "cannot run `{bin}` ({e}). The promtool conformance test needs Prometheus' \
             promtool >= 2.42 (for keep_firing_for): `apt-get install prometheus` \
             (Debian/Ubuntu; .ci/run installs it in CI), or set MEDIC_PROMTOOL=/path/to/promtool"
        ),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let version = text
        .split("version ")
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or_else(|| panic!("cannot parse `{bin} --version` output: {text}"));
    let mut parts = version
        .split(['.', '+', '-'])
        .map(|p| p.parse::<u32>().ok());
    let (major, minor) = (parts.next().flatten(), parts.next().flatten());
    match (major, minor) {
        (Some(maj), Some(min)) if (maj, min) >= (2, 42) => maj,
        _ => panic!(
            "promtool {version} is too old or unparsable: keep_firing_for needs >= 2.42 \
             (`apt-get install prometheus` on a recent Debian/Ubuntu)"
        ),
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a non-negative integer"))
    })
}

fn run_promtool(bin: &str, dir: &Path, files: &[String]) -> Output {
    Command::new(bin)
        .args(["test", "rules"])
        .args(files)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running `{bin} test rules`: {e}"))
}

fn output_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

// ---------------------------------------------------------------------------
// The test

#[test]
#[ignore = "needs promtool (apt install prometheus); .ci/run installs it and runs ignored tests"]
fn medic_alert_machine_matches_promtool() {
    let started = Instant::now();
    let bin = promtool_bin();
    let major = promtool_major(&bin);
    let lookback = if major >= 3 {
        LOOKBACK_MS
    } else {
        // Prometheus 2.x: [t - 5m, t] (see the module docs).
        LOOKBACK_MS + 1
    };

    let seed = env_u64("MEDIC_CONFORMANCE_SEED").unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Rng(nanos ^ u64::from(std::process::id()).rotate_left(32)).next_u64()
    });
    let n = env_u64("MEDIC_CONFORMANCE_CASES").unwrap_or(DEFAULT_CASES as u64) as usize;
    assert!(n > 0, "MEDIC_CONFORMANCE_CASES must be > 0");
    let only = env_u64("MEDIC_CONFORMANCE_ONLY").map(|i| i as usize);
    let mutant = match std::env::var("MEDIC_CONFORMANCE_MUTANT").as_deref() {
        Err(_) | Ok("") => Mutant::None,
        Ok("for-off-by-one") => Mutant::ForOffByOne,
        Ok(other) => panic!("unknown MEDIC_CONFORMANCE_MUTANT={other:?} (known: for-off-by-one)"),
    };
    eprintln!(
        "promtool conformance: seed={seed} cases={n} promtool major={major} lookback={lookback}ms mutant={mutant:?}"
    );

    // Case i's seed depends only on (seed, i), so MEDIC_CONFORMANCE_ONLY and
    // a different case count replay the same case.
    let mut master = Rng(seed);
    let case_seeds: Vec<u64> = (0..n.max(only.map_or(0, |i| i + 1)))
        .map(|_| master.next_u64())
        .collect();
    let indices: Vec<usize> = match only {
        Some(i) => vec![i],
        None => (0..n).collect(),
    };
    let cases: Vec<Case> = indices
        .iter()
        .map(|&i| gen_case(case_seeds[i], i, lookback, mutant))
        .collect();

    // Coverage, so a degenerate generator cannot pass silently.
    let cov = Coverage::of(&cases);
    eprintln!("coverage (cases): {cov:?}");
    if only.is_none() && n >= 100 && mutant == Mutant::None {
        assert!(
            cov.fire * 5 >= n,
            "generator too tame: only {}/{n} cases fire",
            cov.fire
        );
        assert!(
            [
                cov.resolve,
                cov.pending_dropped,
                cov.kept_firing,
                cov.lookback_filled,
                cov.lookback_boundary,
                cov.tie,
                cov.input_30s,
                cov.two_services,
                cov.late_start,
                cov.absent_errors_read_as_zero,
                cov.zero_limit,
            ]
            .iter()
            .all(|&c| c > 0),
            "generator misses a behaviour: {cov:?}"
        );
    }

    // One rule file + one test file per case, one promtool run for all.
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "medic-promtool-conformance-{}-{seed}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let mut test_files = Vec::new();
    let mut by_index = BTreeMap::new();
    for c in &cases {
        let rules = format!("case_{:04}.rules.yml", c.index);
        let test = format!("case_{:04}.test.yml", c.index);
        std::fs::write(dir.join(&rules), rule_file(c)).expect("write rule file");
        std::fs::write(dir.join(&test), test_file(c, &rules)).expect("write test file");
        by_index.insert(c.index, (c, test.clone()));
        test_files.push(test);
    }
    let generated = started.elapsed();
    let out = run_promtool(&bin, &dir, &test_files);
    eprintln!(
        "{} cases: generated in {:.2?}, promtool ran in {:.2?}",
        cases.len(),
        generated,
        started.elapsed() - generated
    );
    if out.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }

    // Failure: show each failing case in isolation, reproducibly.
    let text = output_text(&out);
    let mut failing = failing_cases(&String::from_utf8_lossy(&out.stderr));
    failing.retain(|i| by_index.contains_key(i));
    if failing.is_empty() {
        // An error naming no alert (say a file promtool could not load):
        // find the failing files one at a time.
        failing = by_index
            .iter()
            .filter(|(_, (_, test))| {
                !run_promtool(&bin, &dir, std::slice::from_ref(test))
                    .status
                    .success()
            })
            .map(|(i, _)| *i)
            .take(3)
            .collect();
    }
    let mut report = String::new();
    let listed: Vec<String> = failing.iter().take(30).map(|i| i.to_string()).collect();
    let more = if failing.len() > listed.len() {
        ", …"
    } else {
        ""
    };
    let _ = writeln!(
        report,
        "promtool disagrees with medic (seed {seed}, mutant {mutant:?}) \
         on {} of {} cases: {}{more}",
        failing.len(),
        cases.len(),
        listed.join(", "),
    );
    let _ = writeln!(
        report,
        "reproduce: MEDIC_CONFORMANCE_SEED={seed} MEDIC_CONFORMANCE_CASES={n}{} \
         cargo test --test promtool_conformance -- --nocapture\nfiles kept in {}\n",
        match mutant {
            Mutant::None => "",
            Mutant::ForOffByOne => " MEDIC_CONFORMANCE_MUTANT=for-off-by-one",
        },
        dir.display()
    );
    for i in failing.iter().take(3) {
        let Some((c, test)) = by_index.get(i) else {
            continue;
        };
        let _ = writeln!(report, "{}", describe(c, seed));
        let single = run_promtool(&bin, &dir, std::slice::from_ref(test));
        let _ = writeln!(
            report,
            "  promtool on {} alone:\n{}\n",
            dir.join(test).display(),
            clip(&output_text(&single), 6000)
        );
    }
    if failing.is_empty() {
        let _ = writeln!(report, "promtool output:\n{}", clip(&text, 20_000));
    }
    panic!("{report}");
}
