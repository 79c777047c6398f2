//! Tests of the streaming anomaly score, its held score and its reason words.

use super::*;

fn noise(i: usize) -> f64 {
    // Deterministic pseudo-noise in [-1, 1].
    let x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    (x as f64 / (1u64 << 24) as f64) * 2.0 - 1.0
}

fn run(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut s = AnomalyScorer::new(AnomalyConfig::default());
    values.map(|v| s.score(v)).collect()
}

#[test]
fn scores_are_in_unit_interval() {
    let out =
        run((0..5000).map(|i| 50.0 + 10.0 * noise(i) + if i % 700 == 0 { 90.0 } else { 0.0 }));
    assert!(out.iter().all(|s| (0.0..=1.0).contains(s)));
}

#[test]
fn level_shift_fires_once_then_settles() {
    let out = run((0..3000).map(|i| if i < 2000 { 10.0 } else { 40.0 } + noise(i)));
    assert!(
        out[..2000].iter().all(|&s| s < 0.6),
        "no never-seen score before the shift"
    );
    assert!(out[2000] > 0.9, "onset scores high: {}", out[2000]);
    assert!(
        out[2001..].iter().all(|&s| s < 0.6),
        "repeats suppressed while the new level becomes familiar"
    );
}

#[test]
fn spike_is_flagged_in_noisy_series() {
    let out = run((0..3000).map(|i| 100.0 + 5.0 * noise(i) + if i == 2500 { 80.0 } else { 0.0 }));
    assert!(out[2500] > 0.9);
    assert!(out[200..2500].iter().all(|&s| s < 0.6));
}

#[test]
fn non_finite_is_absent() {
    let mut a = AnomalyScorer::new(AnomalyConfig::default());
    let mut b = AnomalyScorer::new(AnomalyConfig::default());
    for i in 0..1000 {
        let v = 3.0 + noise(i);
        if i % 10 == 0 {
            assert_eq!(a.score(f64::NAN), 0.0);
            assert_eq!(a.score(f64::INFINITY), 0.0);
            assert_eq!(a.score(f64::NEG_INFINITY), 0.0);
        }
        assert_eq!(a.score(v), b.score(v));
    }
}

#[test]
fn flat_series_is_quiet_and_deterministic() {
    let a = run(std::iter::repeat_n(7.0, 2000));
    assert!(a.iter().all(|&s| s < 0.05));
    let b = run((0..2000).map(noise));
    assert_eq!(b, run((0..2000).map(noise)));
}

#[test]
fn a_sustained_shift_holds_its_score_a_spike_does_not() {
    let mut s = AnomalyScorer::new(AnomalyConfig::default());
    let min = 60_000;
    let mut held = Vec::new();
    let mut scores = Vec::new();
    for i in 0..700usize {
        let v = 10.0
            + noise(i)
            + if (500..600).contains(&i) { 30.0 } else { 0.0 }
            + if i == 300 { 40.0 } else { 0.0 };
        scores.push(s.observe(i as i64 * min, v));
        held.push(s.held());
    }
    assert!(scores[500] > 0.9 && scores[501..600].iter().all(|&x| x < 0.6));
    assert!(
        held[500..600].iter().all(|&h| h >= scores[500]),
        "the onset score is held while the shift lasts"
    );
    assert!(held[300] > 0.9, "the spike scores");
    assert!(held[301..310].iter().all(|&h| h < 0.5), "and is not held");
    assert!(held[620..].iter().all(|&h| h < 0.5), "back to normal");
}

#[test]
fn usual_level_for_this_hour_needs_a_day_of_history() {
    let mut s = AnomalyScorer::new(AnomalyConfig::default());
    let step = 5 * 60_000;
    // Two days at 5-minute steps: 1% errors, 3% between 09:00 and 10:00.
    let rate = |i: i64| {
        let hour = (i * step / 3_600_000) % 24;
        (if hour == 9 { 0.03 } else { 0.01 }) * (1.0 + 0.05 * noise(i as usize))
    };
    let day = 86_400_000 / step;
    for i in 0..day / 2 {
        s.observe(i * step, rate(i));
    }
    let noon = day / 2;
    let u = s.unusual(noon * step, 0.06).unwrap();
    assert!(!u.hourly, "half a day is not yet a usual hour: {u:?}");
    for i in day / 2..2 * day {
        s.observe(i * step, rate(i));
    }
    // Day three, 09:05 and 12:05: the same 6% reads differently.
    let nine = (2 * day + 9 * 12 + 1) * step;
    let u = s.unusual(nine, 0.06).unwrap();
    assert!(u.hourly, "{u:?}");
    assert_eq!(u.words(), "2× its usual level for this hour", "{u:?}");
    let twelve = (2 * day + 12 * 12 + 1) * step;
    let u = s.unusual(twelve, 0.06).unwrap();
    assert!(u.hourly && (5.5..6.5).contains(&(u.now / u.usual)), "{u:?}");
    assert!(u.words().ends_with("× its usual level for this hour"));
}

#[test]
fn unusual_words() {
    let w = |now, usual, hourly| Unusual { now, usual, hourly }.words();
    assert_eq!(w(0.06, 0.01, true), "6× its usual level for this hour");
    assert_eq!(w(0.025, 0.01, false), "2.5× its usual level");
    assert_eq!(w(120.0, 10.0, false), "12× its usual level");
    assert_eq!(w(0.3, 1.0, true), "30% of its usual level for this hour");
    assert_eq!(w(0.02, 0.0, false), "up from about 0 (its usual level)");
}
