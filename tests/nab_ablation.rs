//! What each part of the anomaly score is worth on NAB: the default, then
//! one part switched off or moved at a time, with the per-category scores
//! at the corpus-wide threshold. A measurement, not a check:
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
            "no seasonal channel (gate 0)",
            AnomalyConfig {
                season_gate: 0.0,
                ..d.clone()
            },
        ),
        (
            "seasonal channel on looser series (gate 0.3)",
            AnomalyConfig {
                season_gate: 0.3,
                ..d.clone()
            },
        ),
        (
            "seasonal channel always on (gate 1e9)",
            AnomalyConfig {
                season_gate: 1e9,
                ..d.clone()
            },
        ),
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
    let loaded = nab::Corpus::load(&corpus).unwrap();
    let cats: Vec<String> = loaded.categories();
    println!(
        "{:<44} {:>8} {:>8} {:>8}  per category (standard)",
        "variant", "standard", "low_FP", "low_FN"
    );
    for (name, cfg) in variants {
        let report = nab::report(&loaded, &loaded.score(&cfg));
        let s: Vec<f64> = report.profiles.iter().map(|p| p.score).collect();
        let per: Vec<String> = report
            .categories
            .iter()
            .map(|c| {
                if c.windows > 0 {
                    format!("{:.1}", c.score)
                } else {
                    format!("fp {:.2}", c.raw)
                }
            })
            .collect();
        println!(
            "{name:<44} {:>8.1} {:>8.1} {:>8.1}  {}",
            s[0],
            s[1],
            s[2],
            per.join(" / ")
        );
    }
    println!("categories: {}", cats.join(" / "));
}

/// What the seasonal channel is worth on categories it was not tuned on:
/// leave-one-category-out with the gate searched, then with it held at 0.
#[test]
#[ignore = "a measurement; run it by name with --release --ignored --nocapture"]
fn cross_validated_seasonal_channel() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nab");
    let loaded = nab::Corpus::load(&corpus).unwrap();
    // The gate alone, everything else at its default (`medic eval nab --cv`
    // searches the full grid and chooses the same in every fold).
    let d = AnomalyConfig::default();
    let grid: Vec<AnomalyConfig> = [d.season_gate, 0.0, 0.2]
        .into_iter()
        .map(|season_gate| AnomalyConfig {
            season_gate,
            ..d.clone()
        })
        .collect();
    let without = vec![grid[1].clone()];
    for (name, g) in [("gate searched", grid), ("gate 0 (off)", without)] {
        let cv = nab::cv::loco(&loaded, &g);
        let folds: Vec<String> = cv
            .folds
            .iter()
            .map(|f| match f.held_out {
                Some(s) => format!("{} {s:.1}", f.category),
                None => format!("{} fp {:.2}", f.category, f.held_out_raw),
            })
            .collect();
        println!(
            "{name:<14} held-out mean {:.1}, all-in {:.1}: {}",
            cv.mean,
            cv.all_in,
            folds.join(", ")
        );
    }
}
