//! Journal speed: event append throughput, and opening a journal holding
//! 10,000 incidents and listing them (what `medic incidents` does; goal ≤ 200 ms).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medic::workflow::engine::{EventKind, WorkflowEvent};
use medic::workflow::journal::Journal;

fn event(i: u64) -> WorkflowEvent {
    WorkflowEvent {
        incident: "20261128-0415-api-1f39".into(),
        at: 1_790_000_000_000 + i as i64,
        kind: EventKind::StepStarted {
            step: "agent".into(),
            attempt: 1,
        },
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    let mut g = c.benchmark_group("journal");
    g.throughput(Throughput::Elements(1000));
    let mut n = 0u64;
    g.bench_function("append_1000_events", |b| {
        b.iter(|| {
            for _ in 0..1000 {
                n += 1;
                journal
                    .append_event("20261128-0415-api-1f39", &event(n))
                    .unwrap();
            }
        })
    });
    g.finish();
    drop(journal);

    // 10,000 incidents, each a realistic record.
    let big = tempfile::tempdir().unwrap();
    {
        let j = Journal::open(big.path()).unwrap();
        for i in 0..10_000 {
            let id = format!("20261128-{i:04}-svc{i}-abcd");
            let record = serde_json::json!({
                "id": id, "service": format!("svc{i}"), "rule": "memory-near-limit",
                "status": "pr_opened", "opened_at": 1_790_000_000_000i64 + i,
                "pr": {"url": format!("local://forge/sample/pull/{i}"), "number": i},
                "reason": "memory / memory_limit > 0.9 for 5m: now 95%, firing since 03:14 UTC",
            });
            j.put_step(&id, "plan", &record).unwrap();
            j.put_incident(&id, &record).unwrap();
        }
    }
    let mut g = c.benchmark_group("journal");
    g.sample_size(10);
    g.bench_function("open_and_list_10k_incidents", |b| {
        b.iter(|| {
            let j = Journal::open(big.path()).unwrap();
            let all: Vec<serde_json::Value> = j.incidents().unwrap();
            assert_eq!(all.len(), 10_000);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
