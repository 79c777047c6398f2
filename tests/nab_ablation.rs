//! What each part of the anomaly score is worth on NAB: the default, then
//! one part switched off or moved at a time. A measurement, not a check:
//!
//! ```text
//! cargo test --release --test nab_ablation -- --ignored --nocapture
//! ```

use medic::detect::anomaly::AnomalyConfig;
use medic::eval::nab;
use std::path::Path;

#[test]
#[ignore = "a measurement; run it by name with --ignored --nocapture"]
fn ablation_table() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nab");
    let d = AnomalyConfig::default();
    let variants: Vec<(&str, AnomalyConfig)> = vec![
        ("default", d.clone()),
        (
            "no repeat suppression (margin 0)",
            AnomalyConfig {
                margin: 0.0,
                ..d.clone()
            },
        ),
        (
            "short suppression (rest 20)",
            AnomalyConfig {
                rest: 20,
                ..d.clone()
            },
        ),
        (
            "long suppression (rest 500)",
            AnomalyConfig {
                rest: 500,
                ..d.clone()
            },
        ),
        (
            "no relative radius (rel 0)",
            AnomalyConfig {
                rel: 0.0,
                ..d.clone()
            },
        ),
        (
            "tight radius (0.15)",
            AnomalyConfig {
                radius: 0.15,
                ..d.clone()
            },
        ),
        (
            "loose radius (0.6)",
            AnomalyConfig {
                radius: 0.6,
                ..d.clone()
            },
        ),
        (
            "never forget (decay 0)",
            AnomalyConfig {
                decay: 0.0,
                ..d.clone()
            },
        ),
        (
            "fast forget (decay 0.001)",
            AnomalyConfig {
                decay: 0.001,
                ..d.clone()
            },
        ),
        (
            "no winsorising (clip 1e9)",
            AnomalyConfig {
                clip: 1e9,
                ..d.clone()
            },
        ),
        (
            "fast level (alpha 0.05)",
            AnomalyConfig {
                alpha: 0.05,
                ..d.clone()
            },
        ),
        (
            "no warm-up (0)",
            AnomalyConfig {
                warmup: 0,
                ..d.clone()
            },
        ),
    ];
    println!(
        "{:<36} {:>9} {:>14} {:>14}",
        "variant", "standard", "reward_low_FP", "reward_low_FN"
    );
    for (name, cfg) in variants {
        let out = tempfile::tempdir().unwrap();
        let report = nab::run_with(&corpus, out.path(), &cfg).unwrap();
        let s: Vec<f64> = report.profiles.iter().map(|p| p.score).collect();
        println!("{name:<36} {:>9.1} {:>14.1} {:>14.1}", s[0], s[1], s[2]);
    }
}
