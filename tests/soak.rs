//! The soak test (ignored: it runs for 10 minutes). The Alertmanager webhook
//! under a steady alert stream (each alert fires, then resolves; services
//! come and go) beside a refreshing source and the detector, as `medic`
//! runs them for days. Reports RSS at start and end (from /proc/self/status)
//! and fails if memory grew past a generous bound, or if an alert was lost.
//!
//! Run: `cargo test --release --test soak -- --ignored --nocapture`
//! (`MEDIC_SOAK_SECS` shortens or lengthens it; default 600).

use medic::detect::Detector;
use medic::sources::alertmanager::{self, Inbox};
use medic::sources::demo::DEFAULT_SEED;
use medic::sources::Source;
use std::time::{Duration, Instant};

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// A version-4 payload with `n` alerts of one service, all `status`.
fn payload(status: &str, service: &str, first: u64, n: u64) -> String {
    let alerts: Vec<serde_json::Value> = (first..first + n)
        .map(|i| {
            serde_json::json!({
                "status": status,
                "labels": {"alertname": format!("Soak{i}"), "service": service},
                "annotations": {"summary": "soak", "value": "0.95"},
                "startsAt": "2026-11-28T12:00:00Z",
                "endsAt": if status == "resolved" { "2026-11-28T12:30:00Z" } else { "0001-01-01T00:00:00Z" },
                "generatorURL": "http://prometheus/graph",
                "fingerprint": format!("{i:016x}")
            })
        })
        .collect();
    serde_json::json!({
        "version": "4",
        "groupKey": format!("{{}}:{{service=\"{service}\"}}"),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "medic",
        "groupLabels": {"service": service},
        "commonLabels": {"service": service},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": alerts
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a 10-minute soak; run with --ignored (see the module doc)"]
async fn webhook_and_source_for_ten_minutes() {
    let secs: u64 = std::env::var("MEDIC_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let inbox = Inbox::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}{}",
        listener.local_addr().unwrap(),
        alertmanager::PATH
    );
    let serving = inbox.clone();
    tokio::spawn(async move { alertmanager::serve(listener, serving, None).await });

    // The refreshing source: the demo at 60× (an hour of fleet per minute).
    let mut source = Source::demo(DEFAULT_SEED, 60.0);
    let mut detector = Detector::new(medic::config::Config::default().rules());
    let start_rss = rss_kib();
    eprintln!("soak: {secs} s; RSS at start {} MiB", start_rss / 1024);
    let started = Instant::now();
    let client = reqwest::Client::new();
    let (mut sent, mut refreshes, mut next_id) = (0u64, 0u64, 0u64);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while started.elapsed() < Duration::from_secs(secs) {
        tick.tick().await;
        // 20 alerts fire for a service that exists for this batch only, then resolve.
        let service = format!("svc-{}", next_id / 20 % 5_000);
        for status in ["firing", "resolved"] {
            let res = client
                .post(&url)
                .body(payload(status, &service, next_id, 20))
                .header("content-type", "application/json")
                .send()
                .await
                .expect("the webhook answers");
            assert!(res.status().is_success(), "{}", res.status());
        }
        next_id += 20;
        sent += 40;
        if refreshes * 1_000 < started.elapsed().as_millis() as u64 {
            let now = source.now();
            let snap = source.latest(now, 3_600_000, 15_000).await.unwrap();
            detector.ingest(&snap);
            let _ = detector.flags(&snap);
            refreshes += 1;
        }
        if next_id % 20_000 == 0 {
            eprintln!(
                "soak: {:>4} s, {sent} alert changes, {} in the inbox, RSS {} MiB",
                started.elapsed().as_secs(),
                inbox.alerts().len(),
                rss_kib() / 1024
            );
        }
    }
    let end_rss = rss_kib();
    let kept = inbox.alerts().len();
    eprintln!(
        "soak: done after {} s: {sent} alert changes, {refreshes} refreshes, {kept} alerts kept; \
         RSS at start {} MiB, at end {} MiB ({:+} MiB)",
        started.elapsed().as_secs(),
        start_rss / 1024,
        end_rss / 1024,
        (end_rss as i64 - start_rss as i64) / 1024
    );
    assert!(sent > 0 && refreshes > 0);
    // Generous: the point is the printed figures; this catches a runaway.
    assert!(
        end_rss < start_rss + 512 * 1024,
        "RSS grew from {start_rss} KiB to {end_rss} KiB"
    );
}
