//! Parse and ingest one `query_range` answer of 2,000 services × 240 points
//! (one metric, one hour at 15 s): what one query costs medic per refresh.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medic::sources::prometheus::{parse_query_range_into, Grid, QueryResult};
use std::hint::black_box;

const SERVICES: usize = 2_000;
const POINTS: usize = 240;

fn body(grid: &Grid) -> String {
    let mut out = String::from(r#"{"status":"success","data":{"resultType":"matrix","result":["#);
    for s in 0..SERVICES {
        if s > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            r#"{{"metric":{{"service":"service-{s:04}","namespace":"prod"}},"values":["#
        ));
        for i in 0..POINTS {
            if i > 0 {
                out.push(',');
            }
            let ts = (grid.start + i as i64 * grid.step) as f64 / 1000.0;
            // Realistic values: many digits, like a byte count or a rate.
            let v = 1.0e9 + (s * 7919 + i * 104_729) as f64 * 1.2345;
            out.push_str(&format!(r#"[{ts},"{v}"]"#));
        }
        out.push_str("]}");
    }
    out.push_str("]}}");
    out
}

fn ingest(c: &mut Criterion) {
    let grid = Grid::window(1_790_000_000_000, 3_600_000, 15_000);
    assert_eq!(grid.len, POINTS);
    let text = body(&grid);
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(20);
    group.bench_function("query_range 2000 series x 240 points", |b| {
        b.iter(|| {
            let mut r = QueryResult::default();
            parse_query_range_into(black_box(text.as_bytes()), &grid, "service", &mut r).unwrap();
            assert_eq!(r.series.len(), SERVICES);
            r
        })
    });
    group.finish();
    eprintln!("body: {:.1} MB", text.len() as f64 / 1e6);
}

criterion_group!(benches, ingest);
criterion_main!(benches);
