//! After the change is live: the plan's verification rule judged over the
//! service's metrics (verified, not fixed, regressed), and what the watch
//! leaves in the journal. The judgement is pure (time and series are
//! parameters), so a watch resumed after a crash mid-window judges the same
//! history again and reaches the same answer; nothing is counted twice.

use crate::detect::expr::Expr;
use crate::detect::rules::{Op, Rule, RuleKind};
use crate::model::{Millis, Plan, ServiceMetrics, VerificationRule};
use serde::{Deserialize, Serialize};

/// Where the watch stands at one instant.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// Not decided yet: the signal has been good for `good_ms` of the window.
    Watching {
        /// How long the current good stretch lasts so far.
        good_ms: Millis,
    },
    /// The signal recovered and stayed so for the whole window.
    Verified {
        /// When the window completed.
        at: Millis,
    },
    /// The deadline passed without a complete good window.
    NotFixed {
        /// The deadline.
        at: Millis,
    },
    /// The same service breaches another rule since the change.
    Regressed {
        /// The rule it breaches now.
        rule: String,
        /// When that breach had lasted the rule's `for`.
        at: Millis,
    },
}

/// The verdict on a change, as the journal keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Recovered and stayed so.
    Verified,
    /// Still breaching at the deadline: the incident reopens.
    NotFixed,
    /// The service flags something new after the change.
    Regressed,
}

impl Verdict {
    /// Glyph and word: `✔ verified`, `✖ not fixed`, `▲ regressed`.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Verified => "✔ verified",
            Verdict::NotFixed => "✖ not fixed",
            Verdict::Regressed => "▲ regressed",
        }
    }
}

/// The `live` step's output: when the change reached the workload, and how medic knows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Live {
    /// When it went live (the source's clock).
    pub at: Millis,
    /// The merge commit that went live.
    pub commit: String,
    /// How medic knows (`the demo fleet deploys the merge at once`).
    pub how: String,
}

/// The `watch` step's output: what came of the change, with the figures
/// the PR comment shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Watched {
    /// Verified, not fixed or regressed.
    pub verdict: Verdict,
    /// When it was decided.
    pub at: Millis,
    /// When the change went live.
    pub live_at: Millis,
    /// The rule in words, as declared in the plan.
    pub rule: String,
    /// The other rule the service breaches now (regressed only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regressed_rule: Option<String>,
    /// The signal when the incident was flagged.
    #[serde(with = "crate::model::absent")]
    pub before: f64,
    /// The signal at the end of the watch.
    #[serde(with = "crate::model::absent")]
    pub after: f64,
    /// The worst value since the hold-down ended.
    #[serde(with = "crate::model::absent")]
    pub worst_after: f64,
    /// The signal from a window before the change to the end of the watch.
    pub spark: String,
    /// A plan that reverts the change (not fixed and regressed only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revert: Option<Plan>,
}

impl Watched {
    /// One line for lists: `✔ verified 31m after deploy`.
    pub fn line(&self) -> String {
        let after = crate::units::duration(((self.at - self.live_at).max(0) / 60_000) * 60_000);
        match self.verdict {
            Verdict::Verified => format!("{} {after} after deploy", self.verdict.label()),
            Verdict::NotFixed => format!("{} {after} after deploy", self.verdict.label()),
            Verdict::Regressed => format!(
                "{} {after} after deploy: {}",
                self.verdict.label(),
                crate::terminal::one_line(self.regressed_rule.as_deref().unwrap_or("?"))
            ),
        }
    }
}

/// A condition that must hold (`good`) or that means trouble (`bad`).
struct Condition {
    expr: Expr,
    op: Op,
    threshold: f64,
}

impl Condition {
    /// The values of the expression on the service's grid.
    fn values(&self, svc: &ServiceMetrics, len: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(len);
        self.expr.eval_into(svc, len, &mut out);
        out
    }
}

/// The service's grid: (start, step, len) of its first series.
fn grid(svc: &ServiceMetrics) -> Option<(Millis, Millis, usize)> {
    svc.series
        .iter()
        .flatten()
        .next()
        .map(|s| (s.start, s.step, s.values.len()))
}

/// The signal's values on the service's grid, NaN where absent.
pub fn signal(rule: &VerificationRule, svc: &ServiceMetrics) -> Vec<f64> {
    let Some((_, _, len)) = grid(svc) else {
        return vec![];
    };
    match Expr::parse(&rule.signal) {
        Ok(expr) => {
            let mut out = Vec::with_capacity(len);
            expr.eval_into(svc, len, &mut out);
            out
        }
        Err(_) => vec![f64::NAN; len],
    }
}

/// Judge `rule` for a change live at `live_at`, at instant `now`, from the
/// service's metrics (a grid covering at least hold-down end to `now`).
/// `others` are the service's other rules: one that breaches for its `for`
/// after the hold-down is a regression. Absent samples are never good: a
/// series that vanished has not recovered.
pub fn judge(
    rule: &VerificationRule,
    others: &[Rule],
    svc: &ServiceMetrics,
    live_at: Millis,
    now: Millis,
) -> Reading {
    let start = live_at + rule.hold_down_ms;
    let deadline = live_at + rule.deadline_ms;
    let Some((g0, step, len)) = grid(svc) else {
        return past_deadline(now, deadline, 0);
    };
    let main = Expr::parse(&rule.signal).ok().and_then(|expr| {
        Some(Condition {
            expr,
            op: Op::parse(&rule.op)?,
            threshold: rule.threshold,
        })
    });
    let Some(main) = main else {
        return past_deadline(now, deadline, 0);
    };
    let main_values = main.values(svc, len);
    let also: Vec<(Condition, Vec<f64>)> = rule
        .also
        .iter()
        .filter_map(|a| crate::plan::verify::parse_condition(a).ok())
        .map(|(expr, op, threshold)| {
            let c = Condition {
                expr,
                op,
                threshold,
            };
            let v = c.values(svc, len);
            (c, v)
        })
        .collect();
    let watched: Vec<(&Rule, Vec<f64>)> = others
        .iter()
        .filter(|r| r.name != rule.rule && r.kind == RuleKind::Threshold)
        .map(|r| {
            let mut v = Vec::with_capacity(len);
            r.expr.eval_into(svc, len, &mut v);
            (r, v)
        })
        .collect();
    let mut breach_since: Vec<Option<Millis>> = vec![None; watched.len()];
    let mut streak: Option<Millis> = None;
    let mut last_good_ms = 0;
    for i in 0..len {
        let t = g0 + i as Millis * step;
        if t < start || t > now {
            continue;
        }
        if t > deadline {
            break;
        }
        for (k, (other, values)) in watched.iter().enumerate() {
            let v = values[i];
            if v.is_finite() && other.op.breaches(v, other.threshold) {
                let since = *breach_since[k].get_or_insert(t);
                if t - since >= other.for_ms.max(step) {
                    return Reading::Regressed {
                        rule: other.name.clone(),
                        at: t,
                    };
                }
            } else {
                breach_since[k] = None;
            }
        }
        let v = main_values[i];
        let good = main.threshold.is_finite()
            && v.is_finite()
            && !main.op.breaches(v, main.threshold)
            && also.iter().all(|(c, values)| {
                let v = values[i];
                v.is_finite() && c.op.breaches(v, c.threshold)
            });
        if good {
            let since = *streak.get_or_insert(t);
            last_good_ms = t - since;
            if last_good_ms >= rule.window_ms {
                return Reading::Verified { at: t };
            }
        } else {
            streak = None;
            last_good_ms = 0;
        }
    }
    past_deadline(now, deadline, last_good_ms)
}

fn past_deadline(now: Millis, deadline: Millis, good_ms: Millis) -> Reading {
    if now >= deadline {
        Reading::NotFixed { at: deadline }
    } else {
        Reading::Watching { good_ms }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Metric, Series, ServiceId};

    const MIN: Millis = 60_000;

    fn rule() -> VerificationRule {
        VerificationRule {
            service: ServiceId::from("api"),
            rule: "memory-near-limit".into(),
            signal: "memory / memory_limit".into(),
            op: ">".into(),
            threshold: 0.9,
            also: vec![],
            window_ms: 30 * MIN,
            hold_down_ms: 5 * MIN,
            deadline_ms: 120 * MIN,
        }
    }

    /// api with memory/limit following `ratio(minute)` every minute from 0.
    fn api(minutes: usize, ratio: impl Fn(usize) -> f64) -> ServiceMetrics {
        let mut svc = ServiceMetrics::new(ServiceId::from("api"));
        let series = |values: Vec<f64>| Series {
            start: 0,
            step: MIN,
            values,
        };
        svc.set(
            Metric::Memory,
            series((0..minutes).map(|m| ratio(m) * 100.0).collect()),
        );
        svc.set(Metric::MemoryLimit, series(vec![100.0; minutes]));
        svc.set(Metric::Cpu, series(vec![1.0; minutes]));
        svc.set(Metric::CpuLimit, series(vec![4.0; minutes]));
        svc
    }

    #[test]
    fn verified_once_a_full_window_is_good_after_the_hold_down() {
        let svc = api(200, |m| if m < 10 { 0.95 } else { 0.6 });
        // Live at 0: hold-down to 5m, bad until 10m, good from 10m, window done at 40m.
        assert_eq!(
            judge(&rule(), &[], &svc, 0, 39 * MIN),
            Reading::Watching { good_ms: 29 * MIN }
        );
        assert_eq!(
            judge(&rule(), &[], &svc, 0, 100 * MIN),
            Reading::Verified { at: 40 * MIN }
        );
    }

    #[test]
    fn a_relapse_restarts_the_window_and_the_deadline_says_not_fixed() {
        // Good, then a breach at 30m, again and again: never 30 good minutes in a row.
        let svc = api(200, |m| if m % 20 == 19 { 0.95 } else { 0.5 });
        assert!(matches!(
            judge(&rule(), &[], &svc, 0, 119 * MIN),
            Reading::Watching { .. }
        ));
        assert_eq!(
            judge(&rule(), &[], &svc, 0, 130 * MIN),
            Reading::NotFixed { at: 120 * MIN }
        );
    }

    #[test]
    fn an_absent_signal_is_not_a_recovery() {
        let svc = api(200, |m| if m < 10 { 0.95 } else { f64::NAN });
        assert_eq!(
            judge(&rule(), &[], &svc, 0, 150 * MIN),
            Reading::NotFixed { at: 120 * MIN }
        );
    }

    #[test]
    fn a_new_breach_of_another_rule_is_a_regression() {
        let mut svc = api(200, |_| 0.5);
        let cpu = Series {
            start: 0,
            step: MIN,
            values: (0..200).map(|m| if m >= 12 { 3.9 } else { 1.0 }).collect(),
        };
        svc.set(Metric::Cpu, cpu);
        let rules = crate::config::default_rules();
        assert_eq!(
            judge(&rule(), &rules, &svc, 0, 100 * MIN),
            Reading::Regressed {
                rule: "cpu-saturated".into(),
                at: 22 * MIN
            }
        );
    }

    #[test]
    fn an_also_condition_must_hold_too() {
        let svc = api(200, |_| 0.5);
        let mut r = rule();
        r.also.push("cpu / cpu_limit < 0.1".into());
        assert_eq!(
            judge(&r, &[], &svc, 0, 200 * MIN),
            Reading::NotFixed { at: 120 * MIN }
        );
        r.also[0] = "cpu / cpu_limit < 0.5".into();
        assert_eq!(
            judge(&r, &[], &svc, 0, 200 * MIN),
            Reading::Verified { at: 35 * MIN }
        );
    }
}
