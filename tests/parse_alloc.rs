//! The query_range parser allocates per series, never per sample: counted
//! with a global allocator around one parse of 200 series × 240 samples.

use medic::sources::prometheus::{Grid, QueryResult};
use medic::sources::promql_json::parse_query_range_into;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SERIES: usize = 200;
const SAMPLES: usize = 240;

fn body(grid: &Grid) -> String {
    let mut out = String::from(r#"{"status":"success","data":{"resultType":"matrix","result":["#);
    for s in 0..SERIES {
        if s > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            r#"{{"metric":{{"service":"svc-{s}","namespace":"prod"}},"values":["#
        ));
        for i in 0..SAMPLES {
            if i > 0 {
                out.push(',');
            }
            let ts = (grid.start + i as i64 * grid.step) as f64 / 1000.0;
            out.push_str(&format!(r#"[{ts},"{}.25"]"#, i * 7 + s));
        }
        out.push_str("]}");
    }
    out.push_str("]}}");
    out
}

#[test]
fn parsing_allocates_per_series_not_per_sample() {
    let grid = Grid {
        start: 1_700_000_000_000,
        step: 15_000,
        len: SAMPLES,
    };
    let text = body(&grid);
    let mut result = QueryResult::default();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    parse_query_range_into(text.as_bytes(), &grid, "service", &mut result).unwrap();
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(result.series.len(), SERIES);
    assert_eq!(result.series["svc-3"].values[2], 17.25);
    // Per series: its name, its grid, a map node and a seen-set slot (~4);
    // per sample: nothing. The reference parser made ~SERIES × SAMPLES.
    assert!(
        allocations <= SERIES * 6,
        "{allocations} allocations for {} samples",
        SERIES * SAMPLES
    );
}
