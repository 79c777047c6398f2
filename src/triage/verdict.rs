//! Verdicts: what kind of trouble a flag is, with reasons that carry numbers.
//!
//! The point is to stop spiky workloads, traffic surges and other people's
//! outages from turning into pull requests: only `actionable` flags go on
//! to a code or config change. Pure: signals in, judgement out.

use super::context::Signals;
use crate::model::{Flag, Metric, Verdict};
use crate::units;

/// A verdict and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Judgement {
    /// What kind of trouble.
    pub verdict: Verdict,
    /// Why, each with its numbers; the first is the deciding one.
    pub reasons: Vec<String>,
}

impl Judgement {
    /// The reasons as one line.
    pub fn reason(&self) -> String {
        self.reasons.join("; ")
    }
}

/// Share of the rest of the project that must be flagged to blame the platform.
pub const PLATFORM_SHARE: f64 = 0.6;
/// Traffic must rise at least this much to explain usage.
const LOAD_TRAFFIC_RISE: f64 = 1.4;
/// Restarts of OOMKilled containers in the window that make an OOM-kill loop.
const OOM_LOOP_RESTARTS: f64 = 2.0;
/// Firing/resolved changes per hour from which a flag is flapping.
const FLAPPING: usize = 4;

/// Decide the verdict for a flag from its signals.
pub fn judge(flag: &Flag, s: &Signals) -> Judgement {
    let others = s.other_flagged.len();
    let rest = s.project_size.saturating_sub(1).max(1);
    let pct = |x: f64| units::percent(x);

    // Most of the project at once: the platform, not this service.
    if others >= 3 && others as f64 / rest as f64 >= PLATFORM_SHARE {
        return Judgement {
            verdict: Verdict::Platform,
            reasons: vec![
                format!(
                    "{others} of {rest} other services are flagged at the same time ({}): the platform, not {}",
                    s.other_flagged.join(", "),
                    flag.service
                ),
                "escalate to the platform provider; do not patch services one by one".into(),
            ],
        };
    }

    // Every node under pressure: the cluster, not this workload.
    if let Some((n, of)) = s.nodes_under_pressure.filter(|(n, of)| *of > 0 && n >= of) {
        return Judgement {
            verdict: Verdict::Platform,
            reasons: vec![
                format!("all {n} of {of} nodes report a pressure condition (kube_node_status_condition): the cluster, not {}", flag.service),
                "add capacity or evict elsewhere; a change to this service will not help".into(),
            ],
        };
    }

    // An OOM-kill loop is a real problem whatever the flapping or traffic says.
    if let Some(r) = s.oom_restarts.filter(|r| *r >= OOM_LOOP_RESTARTS) {
        let mut reasons = vec![
            format!(
                "OOM-kill loop: {} restarted {r:.0} times, last terminated OOMKilled",
                flag.service
            ),
            flag.reason.clone(),
        ];
        if let Some((id, version, previous)) = &s.deploy_before_onset {
            reasons.push(format!(
                "rollout {id} ({previous} → {version}) precedes the onset"
            ));
        }
        return Judgement {
            verdict: Verdict::Actionable,
            reasons,
        };
    }

    // Someone else's outage.
    let upstream_logs = s.upstream_error_share >= 0.3;
    // Someone else's outage fails requests; it does not fill memory or burn
    // CPU unless the logs say the service is stuck on that upstream.
    let upstream_can_explain =
        upstream_logs || !matches!(flag.metric, Metric::Cpu | Metric::Memory);
    if let Some((name, started)) = &s.upstream_incident {
        if upstream_can_explain && (upstream_logs || s.deploy_before_onset.is_none()) {
            let mut reasons = vec![format!(
                "upstream {name} reports an open incident since {} UTC, {} the onset at {} UTC",
                units::clock(*started),
                if *started <= flag.onset {
                    "before"
                } else {
                    "right after"
                },
                units::clock(flag.onset)
            )];
            if s.upstream_error_share > 0.0 {
                reasons.push(format!(
                    "{} of error log lines since the onset are failed calls to an upstream",
                    pct(s.upstream_error_share)
                ));
            }
            if let Some((id, ..)) = &s.deploy_before_onset {
                reasons.push(format!(
                    "deploy {id} also precedes the onset, but the errors blame the upstream"
                ));
            }
            return Judgement {
                verdict: Verdict::External,
                reasons,
            };
        }
    }
    if flag.metric == Metric::Errors && s.upstream_error_share >= 0.6 {
        return Judgement {
            verdict: Verdict::External,
            reasons: vec![format!(
                "{} of error log lines since the onset are failed calls to an upstream, though no status page reports an incident",
                pct(s.upstream_error_share)
            )],
        };
    }

    // Flapping or too little traffic to mean anything.
    if s.recent_transitions >= FLAPPING {
        return Judgement {
            verdict: Verdict::Noise,
            reasons: vec![format!(
                "{} firing/resolved changes in the last hour: the rule is flapping; widen `for` or lower `min_fraction`",
                s.recent_transitions
            )],
        };
    }
    if flag.metric == Metric::Errors {
        if let Some(r) = s.requests_now.filter(|r| *r < 0.5) {
            return Judgement {
                verdict: Verdict::Noise,
                reasons: vec![format!(
                    "only {} of traffic: too little to judge an error rate",
                    units::per_second(r)
                )],
            };
        }
    }

    // Busy, not broken: usage rose in proportion to traffic, errors flat.
    if matches!(flag.metric, Metric::Cpu | Metric::Memory) {
        if let (Some(traffic), Some(usage)) = (s.traffic_ratio, s.usage_ratio) {
            let proportional = usage >= 0.6 * traffic.min(usage * 10.0) && usage <= 1.4 * traffic;
            let errors_flat = match (s.error_rate_before, s.error_rate_after) {
                (Some(b), Some(a)) => a <= b + 0.01,
                _ => true,
            };
            if traffic >= LOAD_TRAFFIC_RISE && proportional && errors_flat {
                return Judgement {
                    verdict: Verdict::Load,
                    reasons: vec![
                        format!(
                            "traffic rose ×{traffic:.2} since the onset and {} rose ×{usage:.2} with it",
                            flag.metric
                        ),
                        format!(
                            "5xx share stayed flat ({} → {}): scale, don't patch",
                            s.error_rate_before.map(pct).unwrap_or("—".into()),
                            s.error_rate_after.map(pct).unwrap_or("—".into())
                        ),
                    ],
                };
            }
        }
    }

    // A real problem in the service.
    let mut reasons = vec![flag.reason.clone()];
    if let Some(t) = s.traffic_ratio {
        reasons.push(format!(
            "traffic ×{t:.2} since the onset: not explained by load"
        ));
    }
    if let Some((id, version, previous)) = &s.deploy_before_onset {
        reasons.push(format!(
            "deploy {id} ({previous} → {version}) precedes the onset"
        ));
    }
    match &s.upstream_incident {
        None => reasons.push("no upstream incident overlaps the onset".into()),
        Some((name, _)) if !upstream_can_explain => reasons.push(format!(
            "upstream {name} has an open incident, but {} is not explained by it (no error line blames an upstream)",
            flag.metric
        )),
        Some(_) => {}
    }
    Judgement {
        verdict: Verdict::Actionable,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AlertState, ServiceId, Unit};

    fn flag() -> Flag {
        Flag {
            service: ServiceId::from("shop/checkout"),
            rule: "memory-near-limit".into(),
            metric: Metric::Memory,
            state: AlertState::Firing,
            value: 0.97,
            threshold: 0.9,
            op: ">".into(),
            unit: Unit::Ratio,
            since: 1_000_000,
            onset: 1_000_000,
            verdict: Verdict::Actionable,
            reason: "memory 97% of limit".into(),
            eta_seconds: None,
        }
    }

    #[test]
    fn an_oom_kill_loop_is_actionable_even_when_it_flaps() {
        let flapping = Signals {
            recent_transitions: 8,
            project_size: 4,
            ..Default::default()
        };
        assert_eq!(judge(&flag(), &flapping).verdict, Verdict::Noise);
        let looping = Signals {
            oom_restarts: Some(3.0),
            deploy_before_onset: Some((
                "checkout-5f6d7c8b94".into(),
                "1.5.0".into(),
                "1.4.2".into(),
            )),
            ..flapping
        };
        let j = judge(&flag(), &looping);
        assert_eq!(j.verdict, Verdict::Actionable, "{j:?}");
        assert!(j.reasons[0].contains("OOM-kill loop"), "{j:?}");
        assert!(
            j.reason()
                .contains("rollout checkout-5f6d7c8b94 (1.4.2 → 1.5.0)"),
            "{j:?}"
        );
    }

    #[test]
    fn all_nodes_under_pressure_is_the_platform() {
        let some = Signals {
            nodes_under_pressure: Some((1, 3)),
            oom_restarts: Some(3.0),
            ..Default::default()
        };
        assert_eq!(judge(&flag(), &some).verdict, Verdict::Actionable);
        let all = Signals {
            nodes_under_pressure: Some((3, 3)),
            ..some
        };
        let j = judge(&flag(), &all);
        assert_eq!(j.verdict, Verdict::Platform, "{j:?}");
        assert!(j.reasons[0].contains("all 3 of 3 nodes"), "{j:?}");
    }
}
