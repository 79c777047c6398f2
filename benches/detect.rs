//! Rule evaluation throughput on the default rules (issue: ≥ 20 M samples/s).
//!
//! One "sample" is one value of one input series; the snapshot holds
//! services × 6 metrics × points of them. Each iteration evaluates the
//! three default rules from a clean state over the whole snapshot.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medic::config::default_rules;
use medic::detect::Detector;
use medic::model::{FleetSnapshot, ServiceId};
use medic::sources::demo::{Demo, DEFAULT_SEED};

fn fleet(copies: usize, points: usize) -> FleetSnapshot {
    let anchor = 1_790_000_000_000;
    let step = 15_000;
    let base = Demo::new(DEFAULT_SEED, anchor).range(
        anchor - (points as i64 - 1) * step,
        anchor,
        step,
        anchor,
    );
    let mut services = Vec::new();
    for c in 0..copies {
        for s in &base.services {
            let mut s = s.clone();
            s.service = ServiceId(format!("{}-{c}", s.service));
            services.push(s);
        }
    }
    FleetSnapshot {
        services,
        at: anchor,
        stale: false,
        missing: Vec::new(),
    }
}

fn bench(c: &mut Criterion) {
    let snap = fleet(25, 2_880); // 200 services × 12 h at 15 s
    let samples: usize = snap
        .services
        .iter()
        .map(|s| {
            s.series
                .iter()
                .flatten()
                .map(|x| x.values.len())
                .sum::<usize>()
        })
        .sum();
    let rules = default_rules();
    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Elements(samples as u64));
    g.bench_function("default_rules_200_services_12h", |b| {
        b.iter(|| {
            let mut d = Detector::new(rules.clone());
            d.ingest(std::hint::black_box(&snap)).len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
