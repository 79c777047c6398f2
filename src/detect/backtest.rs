//! Replay rules over history: every state change, in time order.

use super::rules::Rule;
use super::Detector;
use crate::model::{FleetSnapshot, Transition};

/// Evaluate `rules` over every point of `history`, from a clean state.
pub fn run(rules: &[Rule], history: &FleetSnapshot) -> Vec<Transition> {
    Detector::new(rules.to_vec()).ingest(history)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::default_rules;
    use crate::model::{Metric, Millis, Series, ServiceId, ServiceMetrics};
    use proptest::prelude::*;

    const STEP: Millis = 60_000;
    const MIN: Millis = 60_000;
    /// The longest window among the default rules.
    const WINDOW: Millis = 10 * MIN;

    /// One service whose series start at `start` (absent before), healthy until
    /// `onset`, then in trouble (CPU, memory and 5xx) with a few dips; the
    /// 5xx series does not exist until the onset, as on a real Prometheus.
    fn history(start: Millis, onset: Millis, end: Millis, dips: u64) -> Vec<(Metric, Vec<f64>)> {
        let n = (end / STEP) as usize + 1;
        let at = |i: usize| i as Millis * STEP;
        let shape = |healthy: f64, sick: f64| -> Vec<f64> {
            (0..n)
                .map(|i| {
                    let t = at(i);
                    let dip = (dips >> (i % 64)) & 1 == 1 && i % 3 == 0;
                    if t < start {
                        f64::NAN
                    } else if t < onset || dip {
                        healthy
                    } else {
                        sick
                    }
                })
                .collect()
        };
        let present = |v: f64| -> Vec<f64> {
            (0..n)
                .map(|i| if at(i) < start { f64::NAN } else { v })
                .collect()
        };
        let errors = shape(f64::NAN, 2.0);
        vec![
            (Metric::Cpu, shape(0.5, 0.97)),
            (Metric::CpuLimit, present(1.0)),
            (Metric::Memory, shape(0.5e9, 0.95e9)),
            (Metric::MemoryLimit, present(1e9)),
            (Metric::Requests, present(10.0)),
            (Metric::Errors, errors),
        ]
    }

    /// What the source hands the detector for `--from from`: the grid from
    /// `from`, absent errors read as zero.
    fn replay_from(h: &[(Metric, Vec<f64>)], from: Millis) -> FleetSnapshot {
        let skip = (from / STEP) as usize;
        let mut svc = ServiceMetrics::new(ServiceId::from("s"));
        for (m, values) in h {
            svc.set(
                *m,
                Series {
                    start: from,
                    step: STEP,
                    values: values[skip..].to_vec(),
                },
            );
        }
        let len = h[0].1.len() - skip;
        crate::sources::read_absent_as_zero(&mut svc, Metric::Errors, from, STEP, len);
        FleetSnapshot {
            services: vec![svc],
            at: from + (len as Millis - 1) * STEP,
            stale: false,
            missing: Vec::new(),
        }
    }

    fn transitions(h: &[(Metric, Vec<f64>)], from: Millis) -> Vec<(String, String, Millis)> {
        run(&default_rules(), &replay_from(h, from))
            .into_iter()
            .map(|t| (t.rule, t.state.json_word().to_string(), t.at))
            .collect()
    }

    #[test]
    fn the_error_rule_waits_its_window_after_the_first_5xx() {
        // Traffic for an hour, the first 5xx at minute 60, all 5xx after.
        let h = history(0, 60 * MIN, 90 * MIN, 0);
        let t = transitions(&h, 0);
        let fired = t
            .iter()
            .find(|(r, s, _)| r == "error-rate-high" && s == "firing")
            .expect("fires");
        assert!(
            fired.2 >= 65 * MIN,
            "fired {} min after the first 5xx",
            (fired.2 - 60 * MIN) / MIN
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn backtest_agrees_with_itself_for_any_from_a_window_before_the_onset(
            start in 0..60i64,
            after_start in 0..60i64,
            from_frac in 0.0f64..=1.0,
            dips in any::<u64>(),
        ) {
            let start = start * MIN;
            let onset = start + after_start * MIN + WINDOW;
            let end = onset + 40 * MIN;
            let h = history(start, onset, end, dips);
            let reference = transitions(&h, 0);
            prop_assert!(!reference.is_empty());
            let latest_from = (onset - WINDOW) / STEP;
            let from = ((latest_from as f64 * from_frac) as Millis) * STEP;
            prop_assert_eq!(transitions(&h, from), reference, "from {} min", from / MIN);
        }
    }
}
