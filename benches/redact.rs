//! Redaction throughput over a realistic log (mostly ordinary lines, a few
//! in a hundred holding a credential), reported in bytes per second: it runs
//! over every log line of every evidence bundle before anything leaves.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medic::triage::redact::redact_str;

/// About 1 MiB of log lines from a seeded generator: access logs, JSON
/// lines, stack traces, k8s events, and now and then a secret.
fn log() -> String {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alnum = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::new();
    let mut n = 0u64;
    while out.len() < 1 << 20 {
        n += 1;
        let r = next();
        let rand: String = (0..32)
            .map(|i| alnum[((r >> (i % 8 * 8)) as usize + i) % alnum.len()] as char)
            .collect();
        let line = match r % 10 {
            0 => format!(
                "10.0.{}.{} - - [04/Dec/2026:18:{:02}:00 +0000] \"GET /api/v1/orders/{} HTTP/1.1\" 200 {} \"-\" \"Mozilla/5.0\"",
                r % 255, n % 255, n % 60, n, r % 9000
            ),
            1 => format!(
                "{{\"ts\":\"2026-12-04T18:{:02}:00Z\",\"level\":\"info\",\"msg\":\"request done\",\"trace_id\":\"{:032x}\",\"duration_ms\":{}}}",
                n % 60, r as u128 * 7919, r % 500
            ),
            2 => format!(
                "    at com.example.orders.OrderService.place(OrderService.java:{})",
                r % 900
            ),
            3 => format!(
                "Normal Scheduled pod/checkout-7d9f8b6c5d-{:05x} Successfully assigned default/checkout to node-{}",
                r % 0xfffff, n % 7
            ),
            4 => format!(
                "WARN slow query ({} ms): SELECT * FROM orders WHERE id = {} AND status = 'open'",
                r % 3000, n
            ),
            5 if n % 7 == 0 => format!("connecting with password={rand} to db"),
            6 if n % 5 == 0 => format!("Authorization: Bearer {rand}"),
            _ => format!(
                "2026-12-04T18:{:02}:00.123Z INFO api: cache hit ratio {}.{}% image sha256:{:064x}",
                n % 60, r % 100, n % 10, r as u128
            ),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn bench(c: &mut Criterion) {
    let text = log();
    let mut g = c.benchmark_group("redact");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.sample_size(10);
    g.bench_function("log_1mib", |b| b.iter(|| redact_str(&text)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
