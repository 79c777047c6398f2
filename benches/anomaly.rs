//! Per-sample cost of `AnomalyScorer::score` (no clock) and `score_at` (with
//! the seasonal channel, as `eval nab` and the fleet rules run it) on a
//! synthetic 100k-point series at 5-minute steps.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medic::detect::anomaly::{AnomalyConfig, AnomalyScorer};
use std::hint::black_box;

fn series(n: usize) -> Vec<f64> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let noise = (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            let daily = (i as f64 * std::f64::consts::TAU / 288.0).sin();
            let shift = if i > n / 2 { 20.0 } else { 0.0 };
            let spike = if i % 5000 == 4999 { 50.0 } else { 0.0 };
            50.0 + 10.0 * daily + 4.0 * noise + shift + spike
        })
        .collect()
}

fn bench_score(c: &mut Criterion) {
    let data = series(100_000);
    let mut group = c.benchmark_group("anomaly");
    group.throughput(Throughput::Elements(data.len() as u64));
    group.bench_function("score_100k", |b| {
        b.iter(|| {
            let mut scorer = AnomalyScorer::new(AnomalyConfig::default());
            let mut acc = 0.0;
            for &v in &data {
                acc += scorer.score(black_box(v));
            }
            black_box(acc)
        })
    });
    group.bench_function("score_at_100k", |b| {
        b.iter(|| {
            let mut scorer = AnomalyScorer::new(AnomalyConfig::default());
            let mut acc = 0.0;
            for (i, &v) in data.iter().enumerate() {
                acc += scorer.score_at(i as i64 * 300_000, black_box(v));
            }
            black_box(acc)
        })
    });
    group.finish();
}

criterion_group!(benches, bench_score);
criterion_main!(benches);
