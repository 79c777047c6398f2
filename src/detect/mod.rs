//! Detection: series in, rule states out. Pure and synchronous: no I/O, no
//! clock, no logging, so the same code runs live, in `backtest` and in tests.

pub mod anomaly;
pub mod backtest;
pub mod expr;
pub mod rules;
pub mod trend;

use crate::model::{
    AlertState, Flag, FleetSnapshot, Metric, Millis, ServiceId, ServiceMetrics, Transition, Verdict,
};
use rules::{AlertMachine, Rule, RuleKind};
use std::collections::{HashMap, HashSet};

/// Ends the words of an anomaly flag's reason, before the rule it quotes.
pub const ANOMALY_WORDS_END: &str = " — ";

/// The words of an anomaly flag's reason ("error rate 6× its usual level for
/// this hour (usual 0.40%, now 2.50%)"), for screens short of room; `None`
/// for other flags.
pub fn reason_in_words(reason: &str) -> Option<&str> {
    reason
        .split_once(ANOMALY_WORDS_END)
        .map(|(words, _)| words)
        .filter(|w| w.contains("its usual level") || w.contains("from about 0"))
}

/// How long a resolved flag stays listed (Prometheus keeps resolved alerts 15m).
pub const RESOLVED_RETENTION: Millis = 15 * 60_000;

/// Every rule's state machine for every service, fed snapshot after snapshot.
#[derive(Debug, Clone)]
pub struct Detector {
    rules: Vec<Rule>,
    /// Per service, one machine per rule (by rule index): one hash lookup
    /// per service per refresh, not one ordered search per (service, rule).
    machines: HashMap<ServiceId, Vec<AlertMachine>>,
    scratch: Vec<f64>,
}

impl Detector {
    /// A detector for these rules, with no history yet.
    pub fn new(rules: Vec<Rule>) -> Detector {
        Detector {
            rules,
            machines: HashMap::new(),
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
            // The service name is cloned only the first time it is seen.
            if !self.machines.contains_key(&svc.service) {
                self.machines.insert(
                    svc.service.clone(),
                    vec![AlertMachine::default(); self.rules.len()],
                );
            }
            let Some(machines) = self.machines.get_mut(&svc.service) else {
                continue;
            };
            for (rule, machine) in self.rules.iter().zip(machines.iter_mut()) {
                out.extend(rules::evaluate(rule, svc, machine, &mut self.scratch));
            }
        }
        out.sort_by(|a, b| (a.at, &a.service, &a.rule).cmp(&(b.at, &b.service, &b.rule)));
        self.forget_gone(snap);
        out
    }

    /// Drop the state of services missing from the snapshot whose last
    /// evaluation is older than [`RESOLVED_RETENTION`]: a fleet that churns
    /// (pods, preview apps) must not grow the detector without bound. A
    /// stale snapshot repeats the last good one, so it never drops anything.
    fn forget_gone(&mut self, snap: &FleetSnapshot) {
        if self.machines.len() <= snap.services.len()
            && snap
                .services
                .iter()
                .all(|s| self.machines.contains_key(&s.service))
        {
            // Every service held is in the snapshot: nothing can be gone.
            return;
        }
        let present: HashSet<&ServiceId> = snap.services.iter().map(|s| &s.service).collect();
        self.machines.retain(|service, ms| {
            present.contains(service)
                || ms.iter().any(|m| {
                    m.last_eval
                        .is_some_and(|t| snap.at - t <= RESOLVED_RETENTION)
                })
        });
    }

    /// How many (service, rule) states are held: bounded by the live fleet.
    pub fn tracked(&self) -> usize {
        self.machines.values().map(Vec::len).sum()
    }

    /// The state of `rule` (by index) for `service`.
    pub fn machine(&self, service: &ServiceId, rule: usize) -> Option<&AlertMachine> {
        self.machines.get(service)?.get(rule)
    }

    /// The worst state any rule is in for `service`.
    pub fn worst_state(&self, service: &ServiceId) -> AlertState {
        self.machines
            .get(service)
            .into_iter()
            .flatten()
            .map(|m| m.state)
            .filter(|s| *s != AlertState::Resolved)
            .max_by_key(|s| s.severity())
            .unwrap_or(AlertState::Inactive)
    }

    /// An anomaly rule's flag adds nothing while a threshold rule on the same
    /// expression is pending or firing for the service (one problem, one
    /// flag): the anomaly rule is for trouble below the fixed thresholds.
    fn said_by_a_threshold_rule(&self, service: &ServiceId, i: usize) -> bool {
        let rule = &self.rules[i];
        rule.kind == RuleKind::Anomaly
            && self.rules.iter().enumerate().any(|(j, other)| {
                other.kind == RuleKind::Threshold
                    && other.expr == rule.expr
                    && self.machine(service, j).is_some_and(|m| {
                        matches!(m.state, AlertState::Pending | AlertState::Firing)
                    })
            })
    }

    /// Flags as of the snapshot's instant: pending and firing rules, and ones
    /// resolved within [`RESOLVED_RETENTION`]; worst first, then by service.
    /// Memory flags carry the projected time until the limit.
    pub fn flags(&self, snap: &FleetSnapshot) -> Vec<Flag> {
        let now = snap.at;
        // Services keyed once per call: one hash lookup per flag, not a search.
        let index = snap.index();
        let mut out: Vec<(usize, Flag)> = Vec::new();
        for (service, machines) in &self.machines {
            for (i, m) in machines.iter().enumerate() {
                let shown = match m.state {
                    AlertState::Pending | AlertState::Firing => true,
                    AlertState::Resolved => now - m.since <= RESOLVED_RETENTION,
                    AlertState::Inactive => false,
                };
                if shown && !self.said_by_a_threshold_rule(service, i) {
                    let svc = index.get(service).copied();
                    out.push((i, self.flag(service, i, m, svc)));
                }
            }
        }
        // Worst first, then oldest, then by service and rule order: the same
        // order whatever the map's.
        out.sort_by(|(ia, a), (ib, b)| {
            b.state
                .severity()
                .cmp(&a.state.severity())
                .then(a.since.cmp(&b.since))
                .then(a.service.cmp(&b.service))
                .then(ia.cmp(ib))
        });
        out.into_iter().map(|(_, f)| f).collect()
    }

    /// One rule's flag for one service, from its machine and its metrics.
    fn flag(
        &self,
        service: &ServiceId,
        i: usize,
        m: &AlertMachine,
        svc: Option<&ServiceMetrics>,
    ) -> Flag {
        let rule = &self.rules[i];
        let eta_seconds = svc.and_then(|s| time_to_limit(s, rule.metric()));
        let mut reason = describe_flag(rule, m);
        if let (Some(eta), Some(limit)) = (eta_seconds, svc.and_then(|s| s.limit_of(rule.metric())))
        {
            reason.push_str(&format!(
                "; at this rate {service} hits its {} limit in ~{}",
                crate::units::value(limit, rule.metric().unit()),
                crate::units::duration((eta / 60.0).round() as Millis * 60_000)
            ));
        }
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
            onset: m.active_at,
            verdict: Verdict::Actionable,
            reason,
            eta_seconds,
        }
    }
}

/// Seconds until `metric` reaches its limit at the trend of the window, for
/// metrics that run out (memory); `None` when not meaningfully rising.
pub fn time_to_limit(svc: &ServiceMetrics, metric: Metric) -> Option<f64> {
    if metric != Metric::Memory {
        return None;
    }
    let series = svc.get(metric)?;
    let limit = svc.limit_of(metric)?;
    let samples: Vec<(Millis, f64)> = series
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| (series.time_at(i), *v))
        .collect();
    trend::time_to_exhaustion(&samples, limit)
}

/// "memory / memory_limit > 0.9 for 5m: now 95.3%, firing since 03:14".
/// Anomaly rules lead with the words: "error rate 6× its usual level for
/// this hour (usual 0.40%, now 2.50%) — anomaly score of ...".
fn describe_flag(rule: &Rule, m: &AlertMachine) -> String {
    let now = crate::units::value(m.last_value, rule.unit());
    if let (RuleKind::Anomaly, Some(u)) = (rule.kind, m.unusual()) {
        let unit = rule.value_unit();
        return format!(
            "{} {} (usual {}, now {}){ANOMALY_WORDS_END}{}: score {now}, {} since {} UTC",
            rule.subject(),
            u.words(),
            crate::units::value(u.usual, unit),
            crate::units::value(u.now, unit),
            rule.describe(),
            m.state.word(),
            crate::units::clock(m.since)
        );
    }
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

    /// Two days of 1% errors at ~100 req/s, then `surge` from 12:00 on day
    /// three; the snapshot one hour into the surge.
    fn error_surge(surge: f64) -> FleetSnapshot {
        use crate::model::{Series, ServiceId};
        let step = 5 * 60_000;
        let start = 1_700_006_400_000; // a midnight, UTC
        let day = 86_400_000 / step;
        let n = 2 * day + 12 * 12 + 12;
        let requests: Vec<f64> = (0..n).map(|i| 100.0 + (i % 7) as f64).collect();
        let errors: Vec<f64> = (0..n)
            .map(|i| {
                let rate = if i >= 2 * day + 12 * 12 { surge } else { 0.01 };
                requests[i as usize] * rate * (1.0 + 0.02 * ((i * 7919) % 5) as f64)
            })
            .collect();
        let mut svc = ServiceMetrics::new(ServiceId::from("checkout"));
        let series = |values: Vec<f64>| Series {
            start,
            step,
            values,
        };
        svc.set(Metric::Requests, series(requests));
        svc.set(Metric::Errors, series(errors));
        FleetSnapshot {
            services: vec![svc],
            at: start + (n - 1) * step,
            stale: false,
            missing: Vec::new(),
        }
    }

    #[test]
    fn an_anomaly_flag_says_why_in_words() {
        let rule = default_rules()
            .into_iter()
            .find(|r| r.name == "error-rate-unusual")
            .unwrap();
        let snap = error_surge(0.06);
        let mut d = Detector::new(vec![rule]);
        d.ingest(&snap);
        let flags = d.flags(&snap);
        assert_eq!(flags.len(), 1, "{flags:#?}");
        assert_eq!(flags[0].state, AlertState::Firing, "{flags:#?}");
        let words = reason_in_words(&flags[0].reason).expect("words first");
        // About 6× (the last sample is noisy): "error rate 6.2× its usual ...".
        assert!(words.starts_with("error rate 6"), "{words}");
        assert!(words.contains("× its usual level for this hour"), "{words}");
        assert!(words.contains("(usual 1.0%, now 6."), "{words}");
    }

    #[test]
    fn the_anomaly_rule_speaks_below_the_threshold_rule_not_over_it() {
        let flagged = |surge| {
            let snap = error_surge(surge);
            let mut d = Detector::new(default_rules());
            d.ingest(&snap);
            d.flags(&snap)
                .into_iter()
                .map(|f| (f.rule, f.state))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            flagged(0.06),
            vec![("error-rate-high".to_string(), AlertState::Firing)],
            "one problem, one flag"
        );
        assert_eq!(
            flagged(0.03),
            vec![("error-rate-unusual".to_string(), AlertState::Firing)],
            "3% is below the 5% threshold but 3× usual"
        );
    }

    #[test]
    fn demo_flags_api_and_checkout_never_batch() {
        let snap = Demo::new(DEFAULT_SEED, ANCHOR).snapshot(ANCHOR, 3_600_000, 15_000);
        let mut d = Detector::new(default_rules());
        d.ingest(&snap);
        let flags = d.flags(&snap);
        let firing = |svc: &str, rule: &str| {
            flags
                .iter()
                .any(|f| f.service.0 == svc && f.rule == rule && f.state == AlertState::Firing)
        };
        assert!(firing("api", "memory-near-limit"), "{flags:#?}");
        assert!(firing("checkout", "error-rate-high"), "{flags:#?}");
        assert!(firing("web", "cpu-saturated"), "{flags:#?}");
        assert!(firing("email", "error-rate-high"), "{flags:#?}");
        let api = flags.iter().find(|f| f.service.0 == "api").unwrap();
        let eta = api.eta_seconds.expect("api's leak has an ETA");
        assert!((10.0 * 60.0..30.0 * 60.0).contains(&eta), "{eta}");
        assert!(
            api.reason.contains("hits its 32 GB limit in ~"),
            "{}",
            api.reason
        );
        for healthy in ["batch", "auth", "search", "billing"] {
            assert!(
                !flags.iter().any(|f| f.service.0 == healthy),
                "{healthy}: {flags:#?}"
            );
        }
    }

    #[test]
    fn services_that_disappeared_are_forgotten() {
        let mut d = Detector::new(default_rules());
        let demo = Demo::new(DEFAULT_SEED, ANCHOR);
        let mut snap = demo.snapshot(ANCHOR, 3_600_000, 15_000);
        d.ingest(&snap);
        let full = d.tracked();
        assert_eq!(full, snap.services.len() * default_rules().len());
        // Churn: every refresh, the fleet's services come back under new names.
        for k in 1..=50 {
            let at = ANCHOR + k * 20 * 60_000;
            let mut next = demo.snapshot(at, 3_600_000, 15_000);
            for s in &mut next.services {
                s.service = ServiceId(format!("{}-{k}", s.service));
            }
            d.ingest(&next);
            assert!(d.tracked() <= 2 * full, "{} states after {k}", d.tracked());
            snap = next;
        }
        assert_eq!(d.tracked(), full, "only the live fleet is kept");
        assert!(d.machine(&snap.services[0].service, 0).is_some());
    }

    #[test]
    fn an_unlimited_container_is_not_full() {
        let mut snap = Demo::new(DEFAULT_SEED, ANCHOR).snapshot(ANCHOR, 3_600_000, 15_000);
        for s in &mut snap.services {
            let limit = s.get(Metric::MemoryLimit).unwrap().clone();
            s.set(
                Metric::MemoryLimit,
                crate::model::Series {
                    values: vec![0.0; limit.values.len()],
                    ..limit
                },
            );
        }
        let mut d = Detector::new(default_rules());
        d.ingest(&snap);
        let flags = d.flags(&snap);
        assert!(
            !flags.iter().any(|f| f.rule == "memory-near-limit"),
            "{flags:#?}"
        );
        let api = snap.services.iter().find(|s| s.service.0 == "api").unwrap();
        assert_eq!(time_to_limit(api, Metric::Memory), None);
    }

    #[test]
    fn batch_is_never_flagged_over_a_day() {
        let demo = Demo::new(DEFAULT_SEED, ANCHOR);
        let snap = demo.range(
            ANCHOR - 12 * 3_600_000,
            ANCHOR + 12 * 3_600_000,
            15_000,
            ANCHOR,
        );
        let t = backtest::run(&default_rules(), &snap);
        assert!(!t.iter().any(|t| t.service.0 == "batch"), "{t:#?}");
    }
}
