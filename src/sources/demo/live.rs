//! The demo's deployment: changes that went live (a merged demo pull
//! request), and how the simulated fleet answers to them — a raised limit
//! stops api's approach to it, a rollback ends checkout's 5xx.

use super::Demo;
use crate::model::Millis;

/// Changes that went live in this process, by (seed, anchor): the demo's
/// deployment. The TUI's fleet and the incident's watch share one fleet.
static LIVE: std::sync::Mutex<Vec<(u64, Millis, Millis, crate::model::Mitigation)>> =
    std::sync::Mutex::new(Vec::new());

/// The demo fleet with this seed and anchor runs `change` from `at` on (a
/// merged demo pull request went live); recorded once.
pub fn go_live(seed: u64, anchor: Millis, at: Millis, change: crate::model::Mitigation) {
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    let entry = (seed, anchor, at, change);
    if !live.contains(&entry) {
        live.push(entry);
    }
}

impl Demo {
    /// The fleet after `change` went live at `at` (a merged demo pull request).
    pub fn with_change(mut self, at: Millis, change: crate::model::Mitigation) -> Demo {
        self.changes.push((at, change));
        self
    }

    /// The memory limit api was raised to, and when, if that is live at `t`.
    pub(super) fn api_raised_limit(&self, t: Millis) -> Option<(Millis, f64)> {
        use crate::model::Mitigation;
        self.changes.iter().rev().find_map(|(at, c)| match c {
            Mitigation::RaiseMemoryLimit { service, bytes } if service.0 == "api" && t >= *at => {
                Some((*at, *bytes as f64))
            }
            _ => None,
        })
    }

    /// True when checkout was rolled back by `t`.
    pub(super) fn checkout_rolled_back(&self, t: Millis) -> bool {
        use crate::model::Mitigation;
        self.changes.iter().any(|(at, c)| {
            matches!(c, Mitigation::RollbackImage { service, .. } if service.0 == "checkout")
                && t >= *at
        })
    }

    /// This fleet plus the changes [`go_live`] recorded for its seed and
    /// anchor that it does not hold yet (`None`: nothing to add).
    pub(super) fn with_live(&self) -> Option<Demo> {
        let live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Option<Demo> = None;
        for (seed, anchor, at, change) in live.iter() {
            let held = self.changes.iter().any(|(t, c)| t == at && c == change);
            if *seed == self.seed && *anchor == self.anchor && !held {
                out.get_or_insert_with(|| self.clone())
                    .changes
                    .push((*at, change.clone()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;

    const ANCHOR: Millis = 1_790_000_000_000;

    #[test]
    fn the_fleet_answers_to_a_change_that_went_live() {
        use crate::model::Mitigation;
        let live = ANCHOR + 5 * MIN;
        let d = Demo::new(DEFAULT_SEED, ANCHOR)
            .with_change(
                live,
                Mitigation::RaiseMemoryLimit {
                    service: ServiceId::from("api"),
                    bytes: 48_000_000_000,
                },
            )
            .with_change(
                live,
                Mitigation::RollbackImage {
                    service: ServiceId::from("checkout"),
                    tag: "v3.8.0".into(),
                },
            );
        let ratio = |t| {
            d.value("api", Metric::Memory, t).unwrap()
                / d.value("api", Metric::MemoryLimit, t).unwrap()
        };
        assert!(ratio(live - MIN) > 0.9, "before: {}", ratio(live - MIN));
        for m in 0..60 {
            let r = ratio(live + m * MIN);
            assert!(r < 0.8, "{m}m after the change: {r}");
        }
        assert!(
            ratio(live + 60 * MIN) > ratio(live),
            "still leaking, just not near the limit"
        );
        let err = |t| {
            d.value("checkout", Metric::Errors, t).unwrap()
                / d.value("checkout", Metric::Requests, t).unwrap()
        };
        assert!(err(live - MIN) > 0.06 && err(live + MIN) < 0.01);
        // Without the change, nothing answers.
        let plain = Demo::new(DEFAULT_SEED, ANCHOR);
        assert!(plain.value("checkout", Metric::Errors, live + MIN).unwrap() > 0.06 * 20.0);
    }
}
