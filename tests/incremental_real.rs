//! The incremental refresh against a real VictoriaMetrics on loopback: every
//! refresh that asks only for the newest points must give exactly the
//! snapshot (and the detector exactly the transitions and flags) that a
//! full fetch of the whole window gives at the same instant; a service that
//! appears mid-way is answered by a full fetch, and so is a gap.
//!
//! The server is installed by `.ci/run`; without it this test fails.

mod common;

use common::*;
use medic::config::{default_rules, Config};
use medic::detect::Detector;
use medic::model::{AlertState, FleetSnapshot, Millis};
use medic::refresh::Pipeline;
use medic::sources::prometheus::Prometheus;
use medic::sources::Source;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const STEP: Millis = 15_000;
const LOOKBACK: Millis = 3_600_000;
const SERVICES: usize = 40;
const GAUGES: [&str; 6] = ["cpu", "cpu_limit", "mem", "mem_limit", "req", "err"];

/// One gauge of one service at `t`, or none (a gap, a late series, no 5xx series).
fn value(svc: usize, gauge: usize, t: Millis, anchor: Millis) -> Option<f64> {
    let minutes = (t - anchor) as f64 / 60_000.0;
    // Service 3 is silent for 7 minutes; service 5 starts 40 minutes ago;
    // only every fourth service has a 5xx series.
    if svc == 3 && (-25.0..-18.0).contains(&minutes) {
        return None;
    }
    if svc == 5 && minutes < -40.0 {
        return None;
    }
    if gauge == 5 && svc % 4 != 0 {
        return None;
    }
    let wave = ((minutes + svc as f64) / 7.0).sin();
    Some(match gauge {
        0 => {
            0.5 + 0.45 * wave
                + if svc == 7 && minutes > -15.0 {
                    1.0
                } else {
                    0.0
                }
        }
        1 => 1.0,
        2 => {
            1e9 * (1.0 + 0.1 * wave)
                + if svc == 9 {
                    2e7 * (minutes + 180.0)
                } else {
                    0.0
                }
        }
        3 => 4e9,
        4 => 50.0 + 10.0 * wave,
        _ => {
            if svc == 8 && minutes > -12.0 {
                20.0
            } else {
                0.1
            }
        }
    })
}

fn import_text(names: &[(usize, String)], anchor: Millis) -> String {
    let mut out = String::new();
    for (svc, name) in names {
        for (g, gauge) in GAUGES.iter().enumerate() {
            let mut t = anchor - 3 * LOOKBACK;
            while t <= anchor + 10 * 60_000 {
                if let Some(v) = value(*svc, g, t, anchor) {
                    out.push_str(&format!("medic_{gauge}{{service=\"{name}\"}} {v} {t}\n"));
                }
                t += STEP;
            }
        }
    }
    out
}

/// Import and wait until VictoriaMetrics can search every sample of `name`.
fn import(port: u16, text: &str, name: &str, want: usize, last: Millis) {
    let (status, body) = http(
        "POST",
        port,
        "/api/v1/import/prometheus",
        Some(text.as_bytes()),
    )
    .unwrap();
    assert_eq!(status, 204, "import: {body}");
    let path = format!(
        "/api/v1/query?query=sum(count_over_time(%7Bservice%3D~%22{name}%22%7D%5B4h%5D))&time={}&nocache=1",
        last / 1000
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let _ = http("GET", port, "/internal/force_flush", None);
        let (_, body) = http("GET", port, &path, None).unwrap();
        let n = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v["data"]["result"][0]["value"][1]
                    .as_str()
                    .map(str::to_owned)
            })
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or(0.0) as usize;
        if n == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{n} of {want} samples searchable"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn source(port: u16) -> Source {
    let q = |g: &str| format!("sum by (service) (medic_{g})");
    let text = format!(
        "[source]\nkind = \"prometheus\"\nurl = \"http://127.0.0.1:{port}\"\nstep = \"15s\"\nlookback = \"1h\"\n\n\
         [source.queries]\ncpu = '{}'\ncpu_limit = '{}'\nmemory = '{}'\nmemory_limit = '{}'\nrequests = '{}'\nerrors = '{}'\n",
        q("cpu"), q("cpu_limit"), q("mem"), q("mem_limit"), q("req"), q("err"),
    );
    let cfg = Config::parse(&text, Path::new("medic.toml")).unwrap();
    Source::Prometheus(Box::new(Prometheus::from_config(&cfg.source).unwrap()))
}

/// The same snapshot, NaN for NaN.
fn same(a: &FleetSnapshot, b: &FleetSnapshot) -> Result<(), String> {
    let names = |s: &FleetSnapshot| {
        s.services
            .iter()
            .map(|s| s.service.0.clone())
            .collect::<Vec<_>>()
    };
    if names(a) != names(b) || a.missing != b.missing || a.stale != b.stale {
        return Err(format!(
            "services/missing differ: {:?} vs {:?}",
            names(a),
            names(b)
        ));
    }
    for (x, y) in a.services.iter().zip(&b.services) {
        for (m, (p, q)) in x.series.iter().zip(&y.series).enumerate() {
            let equal = match (p, q) {
                (None, None) => true,
                (Some(p), Some(q)) => {
                    (p.start, p.step, p.values.len()) == (q.start, q.step, q.values.len())
                        && p.values
                            .iter()
                            .zip(&q.values)
                            .all(|(u, v)| u.to_bits() == v.to_bits() || (u.is_nan() && v.is_nan()))
                }
                _ => false,
            };
            if !equal {
                return Err(format!("{} metric #{m}:\n{p:?}\n{q:?}", x.service));
            }
        }
    }
    Ok(())
}

/// Transitions, with an absent value (NaN) as `None` so that equal means equal.
fn changes(
    t: &[medic::model::Transition],
) -> Vec<(String, String, AlertState, Millis, Option<u64>)> {
    t.iter()
        .map(|t| {
            (
                t.service.0.clone(),
                t.rule.clone(),
                t.state,
                t.at,
                (!t.value.is_nan()).then(|| t.value.to_bits()),
            )
        })
        .collect()
}

type Words = Vec<(String, String, AlertState, Millis)>;

fn words(flags: &[medic::model::Flag]) -> Words {
    flags
        .iter()
        .map(|f| (f.service.0.clone(), f.rule.clone(), f.state, f.since))
        .collect()
}

#[test]
#[ignore = "needs victoria-metrics (apt install victoria-metrics); .ci/run installs it and runs ignored tests"]
fn incremental_refreshes_equal_full_fetches_on_victoriametrics() {
    let vm = require("victoria-metrics");
    let dir = tempfile::tempdir().unwrap();
    let anchor = now_ms().div_euclid(60_000) * 60_000;
    let port = free_port();
    let mut cmd = Command::new(vm);
    cmd.arg(format!(
        "-storageDataPath={}",
        dir.path().join("vm").display()
    ))
    .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
    .arg("-retentionPeriod=100y")
    .arg("-search.latencyOffset=0s")
    .arg("-search.disableCache");
    let mut server = Running::start("victoria-metrics", cmd, &dir.path().join("vm.log"));
    server.wait_ready(port, "/health", Duration::from_secs(30));
    let names: Vec<(usize, String)> = (0..SERVICES).map(|i| (i, format!("svc-{i:03}"))).collect();
    let text = import_text(&names, anchor);
    let samples = text.lines().count();
    import(port, &text, "svc-.*", samples, anchor + 10 * 60_000);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut live = source(port);
        let mut whole = source(port);
        let mut pipeline = Pipeline::new(default_rules());
        let mut fresh = Detector::new(default_rules());
        let mut check = |k: usize, got: &medic::refresh::Detected, want: &FleetSnapshot| {
            if let Err(e) = same(&got.snap, want) {
                panic!("refresh {k}: {e}");
            }
            assert_eq!(
                changes(&got.changes),
                changes(&fresh.ingest(want)),
                "refresh {k}"
            );
            assert_eq!(words(&got.flags), words(&fresh.flags(want)), "refresh {k}");
        };
        // Source time walks through the history (7 s apart: some refreshes bring nothing new).
        let start = anchor - 100 * 60_000 + 3_000;
        let mut now = start;
        for k in 0..24 {
            let got = pipeline
                .detect_at(&mut live, now, LOOKBACK, STEP)
                .await
                .unwrap();
            let want = whole.latest(now, LOOKBACK, STEP).await.unwrap();
            check(
                k,
                &got,
                &FleetSnapshot {
                    at: got.snap.at,
                    ..want
                },
            );
            now += 7_000;
        }
        let f = pipeline.fetches();
        assert_eq!(f.full, 1, "{f:?}");
        assert!(f.incremental >= 10, "{f:?}");

        // A service appears: its whole history comes with a full fetch.
        let newcomer = vec![(11usize, "svc-new".to_string())];
        let text = import_text(&newcomer, anchor);
        import(
            port,
            &text,
            "svc-new",
            text.lines().count(),
            anchor + 10 * 60_000,
        );
        let got = pipeline
            .detect_at(&mut live, now, LOOKBACK, STEP)
            .await
            .unwrap();
        let want = whole.latest(now, LOOKBACK, STEP).await.unwrap();
        assert!(got.snap.services.iter().any(|s| s.service.0 == "svc-new"));
        check(100, &got, &want);
        assert_eq!(pipeline.fetches().full, 2, "{:?}", pipeline.fetches());
        now += STEP;
        let got = pipeline
            .detect_at(&mut live, now, LOOKBACK, STEP)
            .await
            .unwrap();
        let want = whole.latest(now, LOOKBACK, STEP).await.unwrap();
        check(101, &got, &want);
        assert_eq!(pipeline.fetches().full, 2, "then incremental again");

        // A gap longer than the window: a full fetch.
        now += LOOKBACK + STEP;
        let got = pipeline
            .detect_at(&mut live, now, LOOKBACK, STEP)
            .await
            .unwrap();
        let want = whole.latest(now, LOOKBACK, STEP).await.unwrap();
        check(102, &got, &want);
        assert_eq!(pipeline.fetches().full, 3);
        now += STEP;
        let got = pipeline
            .detect_at(&mut live, now, LOOKBACK, STEP)
            .await
            .unwrap();
        let want = whole.latest(now, LOOKBACK, STEP).await.unwrap();
        check(103, &got, &want);
        assert_eq!(pipeline.fetches().full, 3);
        let last = (*got.snap).clone();
        drop(got);

        // The server goes away: last-known values are the newest window, not
        // the last full fetch's.
        drop(server);
        now += STEP;
        let got = pipeline
            .fetch_at(&mut live, now, LOOKBACK, STEP)
            .await
            .unwrap();
        assert!(got.stale);
        same(
            &got,
            &FleetSnapshot {
                stale: true,
                ..last
            },
        )
        .unwrap();
    });
}
