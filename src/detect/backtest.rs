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

    /// The default rules whose state depends only on the trailing window:
    /// anomaly rules learn from all history (the documented exception).
    fn window_rules() -> Vec<crate::detect::rules::Rule> {
        default_rules()
            .into_iter()
            .filter(|r| r.kind == crate::detect::rules::RuleKind::Threshold)
            .collect()
    }

    fn transitions(h: &[(Metric, Vec<f64>)], from: Millis) -> Vec<(String, String, Millis)> {
        run(&window_rules(), &replay_from(h, from))
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

    /// What live `scan` sees refreshing every `every` steps: the lookback
    /// window ending at each refresh, through one detector.
    fn live(
        h: &[(Metric, Vec<f64>)],
        first_end: Millis,
        every: i64,
    ) -> (Vec<(String, String, Millis)>, Millis) {
        const LOOKBACK: usize = 60;
        let n = h[0].1.len() as Millis;
        let mut d = Detector::new(window_rules());
        let mut out = Vec::new();
        let mut end = first_end;
        let mut last = end;
        while end < n * STEP {
            last = end;
            let from = end - (LOOKBACK as Millis - 1) * STEP;
            let mut snap = replay_from(h, from);
            for s in &mut snap.services {
                for series in s.series.iter_mut().flatten() {
                    series.values.truncate(LOOKBACK);
                }
            }
            snap.at = end;
            out.extend(
                d.ingest(&snap)
                    .into_iter()
                    .map(|t| (t.rule, t.state.json_word().to_string(), t.at)),
            );
            end += every * STEP;
        }
        (out, last)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn live_refreshes_agree_with_backtest(
            start in 0..30i64,
            after_start in 0..30i64,
            dips in any::<u64>(),
            every in 1..5i64,
            back in 0..50i64,
        ) {
            let start = start * MIN + 60 * MIN;
            let onset = start + after_start * MIN;
            let end = onset + 90 * MIN;
            let h = history(start, onset, end, dips);
            // The first refresh's lookback (an hour) reaches a window before the onset.
            let first_end = onset - WINDOW + 59 * MIN - back * MIN;
            let (live, last) = live(&h, first_end, every);
            let backtest: Vec<_> = transitions(&h, 0)
                .into_iter()
                .filter(|t| t.2 <= last)
                .collect();
            prop_assert!(!backtest.is_empty());
            prop_assert_eq!(live, backtest);
        }

        #[test]
        fn backtest_agrees_with_itself_for_any_from_a_window_before_the_onset(
            start in 0..60i64,
            after_start in 0..60i64,
            from_frac in 0.0f64..=1.0,
            dips in any::<u64>(),
        ) {
            let start = start * MIN + WINDOW;
            // The trouble may start with the series itself (a late-starting series).
            let onset = start + after_start * MIN;
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
