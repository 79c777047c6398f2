//! Detection: series in, rule states out. Pure and synchronous: no I/O, no
//! clock, no logging, so the same code runs live, in `backtest` and in tests.

pub mod backtest;
pub mod expr;
pub mod rules;

use crate::model::{AlertState, FleetSnapshot, Flag, Millis, ServiceId, Transition, Verdict};
use rules::{AlertMachine, Rule};
use std::collections::BTreeMap;

/// How long a resolved flag stays listed (Prometheus keeps resolved alerts 15m).
pub const RESOLVED_RETENTION: Millis = 15 * 60_000;

/// Every rule's state machine for every service, fed snapshot after snapshot.
#[derive(Debug, Clone)]
pub struct Detector {
    rules: Vec<Rule>,
    machines: BTreeMap<(ServiceId, usize), AlertMachine>,
    scratch: Vec<f64>,
}

impl Detector {
    /// A detector for these rules, with no history yet.
    pub fn new(rules: Vec<Rule>) -> Detector {
        Detector {
            rules,
            machines: BTreeMap::new(),
            scratch: Vec::new(),
        }
    }

    /// The rules being evaluated.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Feed a snapshot; evaluations already seen are skipped, so overlapping
    /// windows are fine. Returns the state changes, oldest first.
    pub fn ingest(&mut self, snap: &FleetSnapshot) -> Vec<Transition> {
        let mut out = Vec::new();
        for svc in &snap.services {
            for (i, rule) in self.rules.iter().enumerate() {
                let machine = self
                    .machines
                    .entry((svc.service.clone(), i))
                    .or_default();
                out.extend(rules::evaluate(rule, svc, machine, &mut self.scratch));
            }
        }
        out.sort_by(|a, b| (a.at, &a.service, &a.rule).cmp(&(b.at, &b.service, &b.rule)));
        out
    }

    /// The state of `rule` (by index) for `service`.
    pub fn machine(&self, service: &ServiceId, rule: usize) -> Option<&AlertMachine> {
        self.machines.get(&(service.clone(), rule))
    }

    /// The worst state any rule is in for `service`.
    pub fn worst_state(&self, service: &ServiceId) -> AlertState {
        (0..self.rules.len())
            .filter_map(|i| self.machine(service, i))
            .map(|m| m.state)
            .filter(|s| *s != AlertState::Resolved)
            .max_by_key(|s| s.severity())
            .unwrap_or(AlertState::Inactive)
    }

    /// Flags as of `now`: pending and firing rules, and ones resolved within
    /// [`RESOLVED_RETENTION`]; worst first, then by service.
    pub fn flags(&self, now: Millis) -> Vec<Flag> {
        let mut out: Vec<Flag> = self
            .machines
            .iter()
            .filter(|(_, m)| match m.state {
                AlertState::Pending | AlertState::Firing => true,
                AlertState::Resolved => now - m.since <= RESOLVED_RETENTION,
                AlertState::Inactive => false,
            })
            .map(|((service, i), m)| {
                let rule = &self.rules[*i];
                Flag {
                    service: service.clone(),
                    rule: rule.name.clone(),
                    metric: rule.metric(),
                    state: m.state,
                    value: m.last_value,
                    threshold: rule.threshold,
                    op: rule.op.as_str().to_string(),
                    unit: rule.unit(),
                    since: m.since,
                    verdict: Verdict::Actionable,
                    reason: describe_flag(rule, m),
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.state
                .severity()
                .cmp(&a.state.severity())
                .then(a.since.cmp(&b.since))
                .then(a.service.cmp(&b.service))
        });
        out
    }
}

/// "memory / memory_limit > 0.9 for 5m: now 95.3%, firing since 03:14".
fn describe_flag(rule: &Rule, m: &AlertMachine) -> String {
    let now = crate::units::value(m.last_value, rule.unit());
    format!(
        "{}: now {now}, {} since {} UTC",
        rule.describe(),
        m.state.word(),
        crate::units::clock(m.since)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::default_rules;
    use crate::sources::demo::{Demo, DEFAULT_SEED};

    const ANCHOR: Millis = 1_790_000_000_000;

    #[test]
    fn demo_flags_api_and_checkout_never_batch() {
        let snap = Demo::new(DEFAULT_SEED, ANCHOR).snapshot(ANCHOR, 3_600_000, 15_000);
        let mut d = Detector::new(default_rules());
        d.ingest(&snap);
        let flags = d.flags(ANCHOR);
        let firing = |svc: &str, rule: &str| {
            flags
                .iter()
                .any(|f| f.service.0 == svc && f.rule == rule && f.state == AlertState::Firing)
        };
        assert!(firing("api", "memory-near-limit"), "{flags:#?}");
        assert!(firing("checkout", "error-rate-high"), "{flags:#?}");
        assert!(firing("web", "cpu-saturated"), "{flags:#?}");
        assert!(firing("email", "error-rate-high"), "{flags:#?}");
        for healthy in ["batch", "auth", "search", "billing"] {
            assert!(!flags.iter().any(|f| f.service.0 == healthy), "{healthy}: {flags:#?}");
        }
    }

    #[test]
    fn batch_is_never_flagged_over_a_day() {
        let demo = Demo::new(DEFAULT_SEED, ANCHOR);
        let snap = demo.range(ANCHOR - 12 * 3_600_000, ANCHOR + 12 * 3_600_000, 15_000, ANCHOR);
        let t = backtest::run(&default_rules(), &snap);
        assert!(!t.iter().any(|t| t.service.0 == "batch"), "{t:#?}");
    }
}
