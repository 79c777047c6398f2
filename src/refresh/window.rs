//! The incremental refresh: after one full fetch, each refresh asks the
//! source only for the newest points (plus the ones still settling) and
//! slides every series' window along, instead of fetching the whole
//! lookback again. Anything that does not line up (a new service, a series
//! that appeared or vanished, a changed no-data list, a gap longer than the
//! window, another step) is answered by a full fetch.

use crate::model::{FleetSnapshot, Metric, Millis, Series, ServiceMetrics};
use crate::sources::prometheus::Grid;
use std::cmp::Ordering;

/// How far back an incremental refresh asks again: points this recent may
/// still change (VictoriaMetrics hides the latest 30 s by default, scrapes
/// and rule evaluations land up to an interval late). At least one step.
pub const SETTLING: Millis = 60_000;

/// Where the next fetch should start, or `None` for a full fetch.
/// `Some(None)`: nothing new since the window's end, no fetch at all.
pub fn next_start(window: &FleetSnapshot, grid: &Grid) -> Option<Option<Millis>> {
    let held = held_grid(window)?;
    if held.step != grid.step || held.len != grid.len || window.stale {
        return None;
    }
    let (end, new_end) = (held.end(), grid.end());
    if new_end < end || new_end - end >= grid.step * grid.len as Millis {
        // The clock went back, or a gap longer than the window.
        return None;
    }
    if new_end == end {
        return Some(None);
    }
    let settle = SETTLING.max(grid.step).div_euclid(grid.step) * grid.step;
    Some(Some((end - settle + grid.step).max(grid.start)))
}

/// The grid every series of the window is on (the first series found).
fn held_grid(window: &FleetSnapshot) -> Option<Grid> {
    window
        .services
        .iter()
        .flat_map(|s| s.series.iter().flatten())
        .map(|s| Grid {
            start: s.start,
            step: s.step,
            len: s.values.len(),
        })
        .next()
}

/// Slide `window` onto `grid` and write the points of `delta` (fetched
/// from `next_start` to the grid's end) over it. Returns false, leaving the
/// window untouched, when the delta does not line up with it: then only a
/// full fetch is right.
pub fn slide(window: &mut FleetSnapshot, delta: &FleetSnapshot, grid: &Grid) -> bool {
    if delta.missing != window.missing || delta.stale || !lines_up(window, delta, grid) {
        return false;
    }
    let mut fresh = delta.services.iter().peekable();
    for svc in &mut window.services {
        let update = match fresh.peek() {
            Some(d) if d.service == svc.service => fresh.next(),
            _ => None,
        };
        for metric in Metric::ALL {
            let Some(series) = svc.series[metric.index()].as_mut() else {
                continue;
            };
            shift(series, grid);
            if let Some(points) = update.and_then(|d| d.get(metric)) {
                for (i, v) in points.values.iter().enumerate() {
                    if let Some(at) = grid.index(points.time_at(i)) {
                        series.values[at] = *v;
                    }
                }
            }
        }
    }
    // A service with nothing left in the window is gone, as a full fetch says.
    window.services.retain(|s| {
        s.series
            .iter()
            .flatten()
            .any(|s| s.values.iter().any(|v| !v.is_nan()))
    });
    window.at = delta.at;
    true
}

/// Every service of the delta is held, with the same series (present or
/// absent per metric), and every held series is on the window's grid.
fn lines_up(window: &FleetSnapshot, delta: &FleetSnapshot, grid: &Grid) -> bool {
    let mut held = window.services.iter();
    'next: for d in &delta.services {
        for w in held.by_ref() {
            match w.service.cmp(&d.service) {
                // Held but silent in the newest points: its window slides on.
                Ordering::Less => continue,
                Ordering::Equal if same_series(w, d) => continue 'next,
                _ => return false,
            }
        }
        // A service the window does not hold: its history needs a full fetch.
        return false;
    }
    window.services.iter().all(|s| {
        s.series
            .iter()
            .flatten()
            .all(|s| s.step == grid.step && s.values.len() == grid.len && s.start <= grid.start)
    })
}

fn same_series(w: &ServiceMetrics, d: &ServiceMetrics) -> bool {
    w.series
        .iter()
        .zip(&d.series)
        .all(|(a, b)| a.is_some() == b.is_some())
}

/// Move a series' window forward to start at `grid.start`: older points
/// fall off the front, new instants are absent until written.
fn shift(series: &mut Series, grid: &Grid) {
    let by = ((grid.start - series.start) / grid.step) as usize;
    let len = series.values.len();
    if by >= len {
        series.values.fill(f64::NAN);
    } else if by > 0 {
        series.values.copy_within(by.., 0);
        series.values[len - by..].fill(f64::NAN);
    }
    series.start = grid.start;
}
