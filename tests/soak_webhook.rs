//! Soak (ignored by default, a measurement): the real `medic scan` on the
//! demo fleet with the Alertmanager receiver, under a steady stream of
//! webhook payloads (20 new alerts every 100 ms, 120k in 10 minutes, each
//! resolved a minute later), for `MEDIC_SOAK_SECS` seconds (default 600). Reports medic's RSS
//! at the start and the end, and fails if it grew by more than 64 MiB.
//!
//! Run: `MEDIC_SOAK_SECS=600 cargo test --test soak_webhook -- --ignored --nocapture`

mod common;

use common::*;
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// New alerts per webhook (one webhook every 100 ms).
const BATCH: usize = 20;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn payload(first: usize, n: usize, status: &str, at: i64) -> Vec<u8> {
    let alerts: Vec<_> = (first..first + n)
        .map(|i| {
            json!({
                "status": status,
                "labels": {"alertname": "HighErrorRate", "service": format!("svc-{}", i % 300), "pod": format!("pod-{i}")},
                "annotations": {"summary": "5xx above 5%", "value": "0.07"},
                "startsAt": medic::units::rfc3339(at),
                "endsAt": if status == "resolved" { medic::units::rfc3339(at + 60_000) } else { "0001-01-01T00:00:00Z".into() },
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": format!("{i:016x}"),
            })
        })
        .collect();
    serde_json::to_vec(&json!({
        "version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "truncatedAlerts": 0,
        "status": status, "receiver": "medic", "groupLabels": {}, "commonLabels": {},
        "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "alerts": alerts,
    }))
    .unwrap()
}

#[test]
#[ignore = "a 10-minute measurement; run with --ignored"]
fn scan_with_the_webhook_keeps_its_memory_under_a_steady_alert_stream() {
    let secs: u64 = std::env::var("MEDIC_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = dir.path().join("medic.toml");
    std::fs::write(
        &cfg,
        format!("[source]\nkind = \"demo\"\n\n[alertmanager]\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(["scan", "--json", "--config"])
        .arg(&cfg)
        .env("MEDIC_DATA_DIR", dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = Instant::now();
    while http("GET", port, "/", None).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the receiver never listened"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (mut sent, mut warm, mut last_print) = (0usize, None, Instant::now());
    let run = Instant::now();
    while run.elapsed() < Duration::from_secs(secs) {
        let at = now_ms();
        let (status, _) = http(
            "POST",
            port,
            "/webhook/alertmanager",
            Some(&payload(sent, BATCH, "firing", at)),
        )
        .unwrap();
        assert_eq!(status, 200);
        if sent >= 600 * BATCH {
            // The batch sent a minute ago (600 batches) resolves.
            let r = sent - 600 * BATCH;
            http(
                "POST",
                port,
                "/webhook/alertmanager",
                Some(&payload(r, BATCH, "resolved", at - 60_000)),
            )
            .unwrap();
        }
        sent += BATCH;
        if warm.is_none() && run.elapsed() > Duration::from_secs(5) {
            warm = Some(rss_kib(pid));
        }
        if last_print.elapsed() > Duration::from_secs(30) {
            eprintln!(
                "{:>5.0} s: {sent} alerts sent, RSS {} KiB",
                run.elapsed().as_secs_f64(),
                rss_kib(pid)
            );
            last_print = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let end = rss_kib(pid);
    let _ = child.kill();
    let _ = child.wait();
    let start = warm.unwrap_or(end);
    eprintln!("{sent} alerts in {secs} s: RSS {start} KiB after 5 s, {end} KiB at the end");
    assert!(
        end < start + 64 * 1024,
        "RSS grew from {start} to {end} KiB"
    );
}
