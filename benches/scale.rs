//! What one refresh costs at fleet scale, without the network:
//! - `parse`: one `query_range` answer of 2,000 series × 240 points, the
//!   grid parser (`sources::promql_json`) against the reference (bytes/s);
//! - `incremental refresh 50k`: slide a 50,000-service window (6 metrics,
//!   1 h at 15 s) by one step with the newest points (5 per series, the
//!   settling ones included), run the rules over the new points only and
//!   list the flags: what `medic` does per 15 s step besides waiting for HTTP.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medic::config::default_rules;
use medic::detect::Detector;
use medic::model::{FleetSnapshot, Metric, Millis, Series, ServiceId, ServiceMetrics};
use medic::refresh::window;
use medic::sources::prometheus::{self, Grid, QueryResult};
use medic::sources::promql_json;
use std::hint::black_box;

const STEP: Millis = 15_000;
const HOUR: Millis = 3_600_000;
const T0: Millis = 1_790_000_000_000;

fn body(grid: &Grid, services: usize) -> String {
    let mut out = String::from(r#"{"status":"success","data":{"resultType":"matrix","result":["#);
    for s in 0..services {
        if s > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            r#"{{"metric":{{"service":"service-{s:05}","namespace":"prod"}},"values":["#
        ));
        for i in 0..grid.len {
            if i > 0 {
                out.push(',');
            }
            let ts = (grid.start + i as i64 * grid.step) as f64 / 1000.0;
            let v = 1.0e9 + (s * 7919 + i * 104_729) as f64 * 1.2345;
            out.push_str(&format!(r#"[{ts},"{v}"]"#));
        }
        out.push_str("]}");
    }
    out.push_str("]}}");
    out
}

fn parse(c: &mut Criterion) {
    let grid = Grid::window(T0, HOUR, STEP);
    let text = body(&grid, 2_000);
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(20);
    group.bench_function("grid parser 2000 x 240", |b| {
        b.iter(|| {
            let mut r = QueryResult::default();
            promql_json::parse_query_range_into(
                black_box(text.as_bytes()),
                &grid,
                "service",
                &mut r,
            )
            .unwrap();
            r
        })
    });
    group.bench_function("reference parser 2000 x 240", |b| {
        b.iter(|| {
            let mut r = QueryResult::default();
            prometheus::parse_query_range_into(
                black_box(text.as_bytes()),
                &grid,
                "service",
                &mut r,
            )
            .unwrap();
            r
        })
    });
    group.finish();
}

/// A fleet of `n` services on `grid`: healthy values, a few in trouble.
fn fleet(n: usize, grid: &Grid, at: Millis) -> FleetSnapshot {
    let services = (0..n)
        .map(|s| {
            let mut m = ServiceMetrics::new(ServiceId(format!("service-{s:05}")));
            for metric in Metric::ALL {
                let values = (0..grid.len)
                    .map(|i| {
                        let t = grid.start + i as Millis * grid.step;
                        let wave = (((t / STEP) as f64 + s as f64) / 40.0).sin();
                        match metric {
                            Metric::Cpu if s % 1000 == 0 => 1.5,
                            Metric::Cpu => 0.4 + 0.2 * wave,
                            Metric::CpuLimit => 1.0,
                            Metric::Memory => 1e9 * (1.0 + 0.1 * wave),
                            Metric::MemoryLimit => 4e9,
                            Metric::Requests => 50.0 + 5.0 * wave,
                            Metric::Errors => 0.1,
                        }
                    })
                    .collect();
                m.set(
                    metric,
                    Series {
                        start: grid.start,
                        step: grid.step,
                        values,
                    },
                );
            }
            m
        })
        .collect();
    FleetSnapshot {
        services,
        at,
        stale: false,
        missing: vec![],
    }
}

fn incremental(c: &mut Criterion) {
    const N: usize = 50_000;
    let grid = Grid::window(T0, HOUR, STEP);
    let mut held = fleet(N, &grid, T0);
    let mut detector = Detector::new(default_rules());
    detector.ingest(&held);
    let mut group = c.benchmark_group("refresh");
    group.sample_size(10);
    let mut now = T0;
    group.bench_function("incremental refresh 50k services", |b| {
        b.iter_custom(|iters| {
            let mut spent = std::time::Duration::ZERO;
            for _ in 0..iters {
                now += STEP;
                let next = Grid::window(now, HOUR, STEP);
                let from = window::next_start(&held, &next).unwrap().unwrap();
                // The newest points, as the source would answer them (not timed).
                let delta = fleet(N, &Grid::range(from, next.end(), STEP), now);
                let started = std::time::Instant::now();
                assert!(window::slide(&mut held, &delta, &next));
                detector.ingest(&held);
                black_box(detector.flags(&held).len());
                spent += started.elapsed();
            }
            spent
        })
    });
    group.finish();
}

criterion_group!(benches, parse, incremental);
criterion_main!(benches);
