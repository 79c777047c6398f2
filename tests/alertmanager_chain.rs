//! Alertmanager, both ways, for real on loopback.
//!
//! The chain: `medic demo exporter` → Prometheus (1 s scrape, an alert rule
//! on api's memory/limit) → Alertmanager (short group_wait) → its webhook
//! receiver → `medic scan --json` with `[alertmanager]` → a flag for `api`
//! with a verdict. Then medic's silence appears active in Alertmanager's
//! `GET /api/v2/silences`, is never created twice, and expires.
//!
//! The receiver's HTTP answers are checked in-process: garbage, a huge
//! body, a missing or wrong token, a replay, a resolve.
//! `.ci/run` installs prometheus and prometheus-alertmanager; without them this fails.

mod common;

use common::*;
use medic::sources::alertmanager::{self, Inbox};
use medic::sources::silences::{matchers, Silences};
use medic::workflow::journal::Journal;
use medic::workflow::silence;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TOKEN: &str = "webhook-test-token-5d1f";

#[test]
#[ignore = "needs prometheus and prometheus-alertmanager (apt install); .ci/run installs them and runs ignored tests"]
fn prometheus_to_alertmanager_to_medic_then_a_silence() {
    let started = Instant::now();
    let prometheus = require("prometheus");
    let am_bin = require("prometheus-alertmanager");
    let dir = tempfile::tempdir().unwrap();
    let (exporter_port, prom_port, am_port, hook_port) =
        (free_port(), free_port(), free_port(), free_port());

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_medic"));
    cmd.args(["demo", "exporter", "--listen"])
        .arg(format!("127.0.0.1:{exporter_port}"))
        .env_remove("MEDIC_CONFIG");
    let mut exporter = Running::start("medic demo exporter", cmd, &dir.path().join("exporter.log"));
    exporter.wait_ready(exporter_port, "/metrics", Duration::from_secs(10));

    // Alertmanager: one route to medic's webhook, with the bearer token.
    let am_cfg = dir.path().join("alertmanager.yml");
    std::fs::write(
        &am_cfg,
        format!(
            "route:\n  receiver: medic\n  group_by: ['alertname', 'service']\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: medic\n    webhook_configs:\n      - url: 'http://127.0.0.1:{hook_port}/webhook/alertmanager'\n        send_resolved: true\n        http_config:\n          authorization:\n            type: Bearer\n            credentials: '{TOKEN}'\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new(am_bin);
    cmd.arg(format!("--config.file={}", am_cfg.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("am").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=");
    let mut am = Running::start("alertmanager", cmd, &dir.path().join("alertmanager.log"));
    am.wait_ready(am_port, "/-/ready", Duration::from_secs(30));

    // Prometheus: scrape the demo every second, alert on api's memory/limit.
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: medic-demo\n    interval: 1s\n    rules:\n      - alert: ApiMemoryNearLimit\n        expr: sum by (service) (container_memory_working_set_bytes{service=\"api\"}) / sum by (service) (container_spec_memory_limit_bytes{service=\"api\"}) > 0.9\n        for: 1s\n        labels:\n          severity: page\n        annotations:\n          summary: api memory above 90% of its limit\n          value: '{{ $value }}'\n",
    )
    .unwrap();
    let prom_cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files: ['{}']\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\n\
             scrape_configs:\n  - job_name: medic-demo\n    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n",
            rules.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(prometheus);
    cmd.arg(format!("--config.file={}", prom_cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"));
    let mut prom = Running::start("prometheus", cmd, &dir.path().join("prometheus.log"));
    prom.wait_ready(prom_port, "/-/ready", Duration::from_secs(30));

    // medic scan, watching, with the webhook receiver.
    let config = dir.path().join("medic.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\nkind = \"prometheus\"\nurl = \"http://127.0.0.1:{prom_port}\"\nstep = \"1s\"\nlookback = \"30s\"\n\n\
             [[rules]]\nname = \"memory-near-limit\"\nexpr = \"memory / memory_limit\"\nthreshold = 0.9\nfor = \"3s\"\n\n\
             [alertmanager]\nlisten = \"127.0.0.1:{hook_port}\"\ntoken_env = \"MEDIC_TEST_WEBHOOK_TOKEN\"\nurl = \"http://127.0.0.1:{am_port}\"\n"
        ),
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut scan = Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(["scan", "--json", "--config"])
        .arg(&config)
        .env("MEDIC_DATA_DIR", data.path())
        .env("MEDIC_TEST_WEBHOOK_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("scan.err")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let stdout = scan.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = Vec::new();
    let alert_flag = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|_| {
            let _ = scan.kill();
            panic!(
                "no flag from Alertmanager within 90 s; medic printed {seen:#?}\nscan stderr: {}\nalertmanager:\n{}\nprometheus:\n{}",
                std::fs::read_to_string(dir.path().join("scan.err")).unwrap_or_default(),
                am.log_tail(),
                prom.log_tail()
            )
        });
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
        if v["rule"] == "ApiMemoryNearLimit" {
            break v;
        }
        seen.push(v);
    };
    let _ = scan.kill();
    let _ = scan.wait();
    let to_flag = started.elapsed();
    assert_eq!(alert_flag["service"], "api", "{alert_flag}");
    assert_eq!(alert_flag["state"], "firing", "{alert_flag}");
    assert_eq!(alert_flag["metric"], "memory", "{alert_flag}");
    let verdict = alert_flag["verdict"].as_str().unwrap();
    assert!(
        ["actionable", "load", "external", "platform", "noise"].contains(&verdict),
        "{alert_flag}"
    );
    assert!(
        !alert_flag["reason"].as_str().unwrap().is_empty(),
        "{alert_flag}"
    );

    // medic takes the incident: a silence, once, then expired.
    let am_url = format!("http://127.0.0.1:{am_port}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let journal_dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(journal_dir.path()).unwrap();
    let client = Silences::new(&am_url);
    let labels: BTreeMap<String, String> =
        [("alertname", "ApiMemoryNearLimit"), ("service", "api")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let incident = "20261128-1200-api-chain";
    let now = now_ms();
    let id = rt
        .block_on(silence::take(
            &journal,
            &client,
            incident,
            "api ApiMemoryNearLimit",
            &matchers(&labels),
            now,
        ))
        .unwrap();
    let again = rt
        .block_on(silence::take(
            &journal,
            &client,
            incident,
            "api ApiMemoryNearLimit",
            &matchers(&labels),
            now,
        ))
        .unwrap();
    assert_eq!(id, again, "a second take reuses the journaled silence");
    let (status, body) = http("GET", am_port, "/api/v2/silences", None).unwrap();
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mine: Vec<&serde_json::Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["createdBy"] == "medic")
        .collect();
    assert_eq!(mine.len(), 1, "exactly one silence: {body}");
    assert_eq!(mine[0]["id"], id.as_str());
    assert_eq!(mine[0]["status"]["state"], "active", "{body}");
    assert!(
        mine[0]["comment"].as_str().unwrap().contains(incident),
        "{body}"
    );

    assert_eq!(
        rt.block_on(silence::release(&journal, &client, incident))
            .unwrap(),
        Some(id.clone())
    );
    assert_eq!(
        rt.block_on(silence::release(&journal, &client, incident))
            .unwrap(),
        None,
        "expired once"
    );
    let (_, body) = http("GET", am_port, &format!("/api/v2/silence/{id}"), None).unwrap();
    let s: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(s["status"]["state"], "expired", "{body}");
    // A crash after the POST but before the id was journaled: the next take
    // adopts the silence Alertmanager already has instead of making another.
    let crashed = "20261128-1201-api-crash";
    journal
        .log_effect(&medic::workflow::journal::EffectEntry {
            incident: crashed.into(),
            key: silence::key(crashed),
            phase: "intent".into(),
            detail: "api ApiMemoryNearLimit".into(),
            at: now,
        })
        .unwrap();
    let made = rt
        .block_on(client.create(
            &matchers(&labels),
            &silence::comment(crashed, "api ApiMemoryNearLimit"),
            now,
            now + 3_600_000,
        ))
        .unwrap();
    let adopted = rt
        .block_on(silence::take(
            &journal,
            &client,
            crashed,
            "api ApiMemoryNearLimit",
            &matchers(&labels),
            now,
        ))
        .unwrap();
    assert_eq!(adopted, made, "adopted, not created again");
    let effects = journal.effects(crashed).unwrap();
    assert!(
        effects
            .iter()
            .any(|e| e.phase == "adopted" && e.detail == made),
        "{effects:?}"
    );
    let crash_comment = silence::comment(crashed, "api ApiMemoryNearLimit");
    let (_, body) = http("GET", am_port, "/api/v2/silences", None).unwrap();
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let same = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["comment"] == crash_comment.as_str())
        .count();
    assert_eq!(same, 1, "{body}");

    // The workflow's own hook: `medic fix` takes the incident (silence active
    // while it waits for approval) and expires it when the PR closes it.
    let fix_cfg = dir.path().join("fix.toml");
    std::fs::write(
        &fix_cfg,
        format!("[source]\nkind = \"demo\"\n\n[alertmanager]\nurl = \"{am_url}\"\n"),
    )
    .unwrap();
    let fix_data = tempfile::tempdir().unwrap();
    let fix = |yes: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_medic"));
        cmd.arg("--config")
            .arg(&fix_cfg)
            .arg("--data-dir")
            .arg(fix_data.path());
        cmd.args(["fix", "checkout"]);
        if yes {
            cmd.arg("--yes");
        }
        let out = cmd.env_remove("MEDIC_CONFIG").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let checkout_silences = || -> Vec<serde_json::Value> {
        let (_, body) = http("GET", am_port, "/api/v2/silences", None).unwrap();
        let list: serde_json::Value = serde_json::from_str(&body).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .filter(|s| {
                s["createdBy"] == "medic" && s["comment"].as_str().unwrap().contains("checkout")
            })
            .cloned()
            .collect()
    };
    fix(false);
    let waiting = checkout_silences();
    assert_eq!(waiting.len(), 1, "{waiting:#?}");
    assert_eq!(waiting[0]["status"]["state"], "active");
    let m = &waiting[0]["matchers"];
    let matches = |name: &str, value: &str| {
        m.as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == name && m["value"] == value)
    };
    assert!(matches("service", "checkout"), "{m}");
    // medic's own rule: the alerts that carry it as `medic_rule` are silenced.
    assert!(matches("medic_rule", "error-rate-high"), "{m}");
    fix(true);
    let done = checkout_silences();
    assert_eq!(done.len(), 1, "never created twice: {done:#?}");
    assert_eq!(done[0]["status"]["state"], "expired", "{done:#?}");

    eprintln!(
        "chain: {alert_flag}\nchain: alert flag after {:.1}s, whole test {:.1}s",
        to_flag.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// A version-4 payload as Alertmanager sends it.
fn payload(status: &str, fingerprint: &str) -> String {
    serde_json::json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"ApiMemoryNearLimit\", service=\"api\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "medic",
        "groupLabels": {"alertname": "ApiMemoryNearLimit", "service": "api"},
        "commonLabels": {"alertname": "ApiMemoryNearLimit", "service": "api", "severity": "page"},
        "commonAnnotations": {"summary": "api memory above 90% of its limit"},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [{
            "status": status,
            "labels": {"alertname": "ApiMemoryNearLimit", "service": "api", "severity": "page"},
            "annotations": {"summary": "api memory above 90% of its limit", "value": "0.93"},
            "startsAt": "2026-11-28T12:00:00.123456789Z",
            "endsAt": if status == "resolved" { "2026-11-28T12:30:00Z" } else { "0001-01-01T00:00:00Z" },
            "generatorURL": "http://prometheus/graph?g0.expr=x",
            "fingerprint": fingerprint
        }]
    })
    .to_string()
}

#[tokio::test]
async fn the_receiver_answers_right_and_never_loses_or_duplicates() {
    let inbox = Inbox::default();
    let mut changes = inbox.subscribe();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}{}",
        listener.local_addr().unwrap(),
        alertmanager::PATH
    );
    let server = inbox.clone();
    tokio::spawn(async move { alertmanager::serve(listener, server, Some(TOKEN.into())).await });
    let client = reqwest::Client::new();
    let post = |body: Vec<u8>, token: Option<&str>| {
        let mut req = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let good = payload("firing", "3f2a9c1d0b7e6a55").into_bytes();

    assert_eq!(post(good.clone(), None).await.0, 401, "no token");
    assert_eq!(
        post(good.clone(), Some("wrong")).await.0,
        401,
        "wrong token"
    );
    assert!(inbox.flags().is_empty(), "refused requests record nothing");

    let (s, body) = post(b"{\"version\": \"4\", \"alerts\": [".to_vec(), Some(TOKEN)).await;
    assert_eq!(s, 400, "{body}");
    let (s, body) = post(b"{\"hello\": \"world\"}".to_vec(), Some(TOKEN)).await;
    assert_eq!(s, 422, "{body}");
    let no_service = payload("firing", "x")
        .replace("\"service\": \"api\"", "\"team\": \"core\"")
        .replace("\"service\":\"api\"", "\"team\":\"core\"");
    let (s, body) = post(no_service.into_bytes(), Some(TOKEN)).await;
    assert_eq!(s, 422, "{body}");
    assert!(body.contains("alerts[0]"), "{body}");
    let (s, body) = post(
        payload("firing", "y")
            .replace("\"4\"", "\"3\"")
            .into_bytes(),
        Some(TOKEN),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    let mut huge = payload("firing", "z").into_bytes();
    huge.extend(std::iter::repeat_n(b' ', alertmanager::MAX_BODY + 1));
    let (s, _) = post(huge, Some(TOKEN)).await;
    assert_eq!(s, 413, "over the size limit");
    assert!(inbox.flags().is_empty(), "bad payloads record nothing");

    // The real one, then Alertmanager's resend: one alert, one change.
    let (s, body) = post(good.clone(), Some(TOKEN)).await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = post(good.clone(), Some(TOKEN)).await;
    assert_eq!(s, 200, "a replay is accepted: {body}");
    let flags = inbox.flags();
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(
        (flags[0].service.0.as_str(), flags[0].rule.as_str()),
        ("api", "ApiMemoryNearLimit")
    );
    assert_eq!(flags[0].state, medic::model::AlertState::Firing);
    assert_eq!(flags[0].metric, medic::model::Metric::Memory);
    assert_eq!(flags[0].value, 0.93);
    let first = changes.try_recv().unwrap();
    assert_eq!(first.fingerprint, "3f2a9c1d0b7e6a55");
    assert!(changes.try_recv().is_err(), "the replay announced nothing");

    // Resolved resolves (and its replay changes nothing).
    for _ in 0..2 {
        let (s, _) = post(
            payload("resolved", "3f2a9c1d0b7e6a55").into_bytes(),
            Some(TOKEN),
        )
        .await;
        assert_eq!(s, 200);
    }
    let flags = inbox.flags();
    assert_eq!(flags.len(), 1);
    assert_eq!(flags[0].state, medic::model::AlertState::Resolved);
    assert_eq!(
        medic::units::rfc3339(flags[0].since),
        "2026-11-28T12:30:00Z"
    );
    assert_eq!(
        changes.try_recv().unwrap().flag.state,
        medic::model::AlertState::Resolved
    );
    assert!(changes.try_recv().is_err());

    // A late resend of the firing notification does not reopen it.
    let (s, _) = post(good.clone(), Some(TOKEN)).await;
    assert_eq!(s, 200);
    assert_eq!(inbox.flags()[0].state, medic::model::AlertState::Resolved);
    assert!(changes.try_recv().is_err());
}
