//! 2,000 alerts in one Alertmanager webhook payload: `medic scan` judges and
//! prints every one of them (a broadcast lag used to drop ~900 silently).

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ALERTS: usize = 2_000;

fn payload() -> String {
    let alerts: Vec<serde_json::Value> = (0..ALERTS)
        .map(|i| {
            serde_json::json!({
                "status": "firing",
                "labels": {"alertname": format!("Burst{i}"), "service": format!("burst-{i}")},
                "annotations": {"summary": "burst"},
                "startsAt": "2026-11-28T12:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus/graph",
                "fingerprint": format!("{i:016x}")
            })
        })
        .collect();
    serde_json::json!({
        "version": "4", "groupKey": "{}:{alertname=~\"Burst.*\"}", "truncatedAlerts": 0,
        "status": "firing", "receiver": "medic", "groupLabels": {}, "commonLabels": {},
        "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093", "alerts": alerts
    })
    .to_string()
}

#[tokio::test]
async fn every_alert_of_a_burst_is_judged() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("medic.toml");
    std::fs::write(
        &config,
        format!("[source]\nkind = \"demo\"\n\n[alertmanager]\nlisten = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let mut scan = Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(["scan", "--json", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("MEDIC_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = scan.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let url = format!("http://127.0.0.1:{port}/webhook/alertmanager");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let sent = client
            .post(&url)
            .header("content-type", "application/json")
            .body(payload())
            .send()
            .await;
        if matches!(&sent, Ok(r) if r.status().is_success()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the webhook never answered: {sent:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut judged = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while judged.len() < ALERTS && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if let Some(s) = v["service"].as_str().filter(|s| s.starts_with("burst-")) {
                    judged.insert(s.to_string());
                }
            }
        } else if !judged.is_empty() {
            break;
        }
    }
    let _ = scan.kill();
    let _ = scan.wait();
    assert_eq!(
        judged.len(),
        ALERTS,
        "only {} of {ALERTS} alerts were judged",
        judged.len()
    );
}
