//! The Prometheus source against a local server speaking the HTTP API's wire
//! format, for what a real server will not do on demand: 2,000 services,
//! bad bodies (error JSON, an HTML page from a proxy, a truncated body, a
//! matrix missing the label, a string where a number belongs), auth,
//! retries, timeouts, and going stale after a first good answer.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use medic::config::Config;
use medic::model::Metric;
use medic::sources::http::Policy;
use medic::sources::prometheus::Prometheus;
use medic::sources::Source;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the fake server answers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// `services` series per query, `points` each, on the requested grid.
    Good {
        services: usize,
    },
    ErrorJson,
    Html,
    Truncated,
    MissingLabel,
    StringForNumber,
    /// 503 for the first `n` requests, then good.
    FailFirst(usize),
    /// Answer after this long.
    Slow(Duration),
    /// 401 unless `Authorization` matches.
    RequireAuth(&'static str),
    /// No series for queries containing one of these; 3 services otherwise.
    EmptyFor(&'static [&'static str]),
}

struct Fake {
    mode: Mutex<Mode>,
    requests: AtomicUsize,
}

async fn query_range(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let url = reqwest::Url::parse(&format!("http://x/?{}", raw.unwrap_or_default())).unwrap();
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    let n = fake.requests.fetch_add(1, Ordering::SeqCst);
    let mode = *fake.mode.lock().unwrap();
    let (start, end, step): (f64, f64, f64) = (
        q["start"].parse().unwrap(),
        q["end"].parse().unwrap(),
        q["step"].parse().unwrap(),
    );
    let good = |services: usize| {
        let mut body =
            String::from(r#"{"status":"success","data":{"resultType":"matrix","result":["#);
        for s in 0..services {
            if s > 0 {
                body.push(',');
            }
            body.push_str(&format!(
                r#"{{"metric":{{"service":"svc-{s:04}","pod":"p"}},"values":["#
            ));
            let mut t = start;
            let mut first = true;
            while t <= end {
                if !first {
                    body.push(',');
                }
                first = false;
                // A value that tells which service and instant it is.
                body.push_str(&format!(
                    r#"[{t},"{}"]"#,
                    s as f64 + (t - start) / step / 1000.0
                ));
                t += step;
            }
            body.push_str("]}");
        }
        body.push_str("]}}");
        ([("content-type", "application/json")], body).into_response()
    };
    match mode {
        Mode::Good { services } => good(services),
        Mode::ErrorJson => (
            StatusCode::BAD_REQUEST,
            r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected character"}"#,
        )
            .into_response(),
        Mode::Html => (
            StatusCode::BAD_GATEWAY,
            [("content-type", "text/html")],
            "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
        )
            .into_response(),
        Mode::Truncated => {
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"service":"api"},"values":[[1700000000,"1"#
                .into_response()
        }
        Mode::MissingLabel => r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"pod":"api-7f9"},"values":[[1700000000,"1"]]}]}}"#
            .into_response(),
        Mode::StringForNumber => format!(
            r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{"service":"api"}},"values":[[{end},"twelve"]]}}]}}}}"#
        )
        .into_response(),
        Mode::FailFirst(k) if n < k => (StatusCode::SERVICE_UNAVAILABLE, "overloaded").into_response(),
        Mode::FailFirst(_) => good(3),
        Mode::Slow(d) => {
            tokio::time::sleep(d).await;
            good(3)
        }
        Mode::EmptyFor(words) if words.iter().any(|w| q["query"].contains(w)) => {
            r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#.into_response()
        }
        Mode::EmptyFor(_) => good(3),
        Mode::RequireAuth(want) => {
            if headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(want) {
                good(3)
            } else {
                (StatusCode::UNAUTHORIZED, "unauthorized").into_response()
            }
        }
    }
}

async fn serve(mode: Mode) -> (Arc<Fake>, u16) {
    serve_on(mode, 0).await
}

/// Serve on `port` (0: any free one).
async fn serve_on(mode: Mode, port: u16) -> (Arc<Fake>, u16) {
    let fake = Arc::new(Fake {
        mode: Mutex::new(mode),
        requests: AtomicUsize::new(0),
    });
    let app = axum::Router::new()
        .route("/api/v1/query_range", axum::routing::get(query_range))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, port)
}

fn source(port: u16, extra: &str) -> Prometheus {
    source_with_timeout(port, extra, Duration::from_millis(500))
}

fn source_with_timeout(port: u16, extra: &str, timeout: Duration) -> Prometheus {
    let text = format!("[source]\nurl = \"http://127.0.0.1:{port}\"\n{extra}");
    let cfg = Config::parse(&text, Path::new("test.toml")).unwrap();
    let mut p = Prometheus::from_config(&cfg.source).unwrap();
    p.set_policy(Policy {
        timeout,
        retries: 2,
        backoff: Duration::from_millis(10),
        ..Policy::default()
    });
    p
}

const NOW: i64 = 1_790_000_000_000;

#[tokio::test]
async fn one_request_per_query_for_2000_services() {
    let (fake, port) = serve(Mode::Good { services: 2000 }).await;
    // The fake builds 6 × 2,000 × 240 points in a debug build: give it time.
    let mut p = source_with_timeout(port, "", Duration::from_secs(60));
    let snap = p.latest(NOW, 3_600_000, 15_000).await.unwrap();
    assert_eq!(
        fake.requests.load(Ordering::SeqCst),
        6,
        "one query_range per query"
    );
    assert_eq!(snap.services.len(), 2000);
    let svc = &snap.services[1234];
    assert_eq!(svc.service.0, "svc-1234");
    for m in Metric::ALL {
        let s = svc.get(m).unwrap();
        assert_eq!(s.values.len(), 240);
        assert!(
            (s.values[239] - (1234.0 + 0.239)).abs() < 1e-9,
            "{}",
            s.values[239]
        );
    }
    assert!(!snap.stale);
    // Past 10,000 points a range is split, never refused.
    fake.requests.store(0, Ordering::SeqCst);
    *fake.mode.lock().unwrap() = Mode::Good { services: 2 };
    let long = p.range(NOW - 3 * 86_400_000, NOW, 15_000).await.unwrap();
    assert_eq!(fake.requests.load(Ordering::SeqCst), 6 * 2);
    assert_eq!(
        long.services[0].get(Metric::Cpu).unwrap().values.len(),
        17_281
    );
    assert!(long.services[0]
        .get(Metric::Cpu)
        .unwrap()
        .values
        .iter()
        .all(|v| v.is_finite()));
}

#[tokio::test]
async fn bad_answers_are_errors_naming_query_and_server_then_stale() {
    let cases = [
        (
            Mode::ErrorJson,
            "the server answered bad_data: 1:5: parse error",
        ),
        (Mode::Html, "not a Prometheus API answer"),
        (Mode::Truncated, "ends early"),
        (Mode::StringForNumber, "`twelve`"),
    ];
    for (mode, words) in cases {
        let (fake, port) = serve(Mode::Good { services: 3 }).await;
        let mut p = source(port, "");
        let good = p.latest(NOW, 600_000, 15_000).await.unwrap();
        *fake.mode.lock().unwrap() = mode;
        // First-ever failure on a fresh source: an error.
        let mut fresh = source(port, "");
        let e = fresh
            .latest(NOW, 600_000, 15_000)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(words), "{mode:?}: {e}");
        assert!(e.contains("query `"), "names the query: {e}");
        assert!(
            e.contains(&format!("http://127.0.0.1:{port}")),
            "names the server: {e}"
        );
        // After a good answer: last-known values, marked stale, and a warning.
        let stale = p.latest(NOW + 15_000, 600_000, 15_000).await.unwrap();
        assert!(stale.stale, "{mode:?}");
        assert_eq!(stale.services, good.services, "last-known values are kept");
        let warnings = p.take_warnings();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains(words) && w.contains("STALE")),
            "{warnings:?}"
        );
    }
}

#[tokio::test]
async fn series_without_the_service_label_are_skipped_with_a_warning() {
    let (_fake, port) = serve(Mode::MissingLabel).await;
    let mut p = source(port, "");
    let snap = p.latest(NOW, 600_000, 15_000).await.unwrap();
    assert!(snap.services.is_empty());
    let missing: Vec<&str> = snap.missing.iter().map(|m| m.query.as_str()).collect();
    assert_eq!(
        missing,
        ["cpu", "cpu_limit", "memory", "memory_limit", "requests"]
    );
    assert!(
        snap.missing[0]
            .reason
            .contains("none with the `service` label"),
        "{:?}",
        snap.missing
    );
    let w = p.take_warnings();
    assert!(
        w.iter()
            .any(|w| w.contains("query `memory`") && w.contains("without the `service` label")),
        "{w:?}"
    );
    // Said once, not every refresh.
    p.latest(NOW + 15_000, 600_000, 15_000).await.unwrap();
    assert!(p.take_warnings().is_empty());
}

#[tokio::test]
async fn retries_with_backoff_then_succeeds() {
    let (fake, port) = serve(Mode::FailFirst(2)).await;
    let mut p = source(port, "[source.queries]\ncpu = 'x'\ncpu_limit = ''\nmemory = ''\nmemory_limit = ''\nrequests = ''\nerrors = ''\n");
    let snap = p.latest(NOW, 600_000, 15_000).await.unwrap();
    assert_eq!(snap.services.len(), 3);
    assert_eq!(
        fake.requests.load(Ordering::SeqCst),
        3,
        "two 503s, then an answer"
    );
}

#[tokio::test]
async fn a_slow_server_times_out_instead_of_freezing() {
    let (_fake, port) = serve(Mode::Slow(Duration::from_secs(30))).await;
    let mut p = source(port, "");
    let started = std::time::Instant::now();
    let e = p
        .latest(NOW, 600_000, 15_000)
        .await
        .unwrap_err()
        .to_string();
    // 3 attempts × 500 ms, concurrently for the 6 queries, plus backoff.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(e.contains("timed out") && e.contains("3 attempts"), "{e}");
}

#[tokio::test]
async fn bearer_and_basic_auth_come_from_env_vars() {
    std::env::set_var("MEDIC_TEST_PROM_TOKEN", "t0ken");
    let (_fake, port) = serve(Mode::RequireAuth("Bearer t0ken")).await;
    let mut p = source(port, "bearer_token_env = \"MEDIC_TEST_PROM_TOKEN\"\n");
    assert_eq!(
        p.latest(NOW, 600_000, 15_000).await.unwrap().services.len(),
        3
    );

    std::env::set_var("MEDIC_TEST_PROM_USER", "medic");
    std::env::set_var("MEDIC_TEST_PROM_PASS", "s3cret");
    // base64("medic:s3cret")
    let (_fake, port) = serve(Mode::RequireAuth("Basic bWVkaWM6czNjcmV0")).await;
    let mut p = source(
        port,
        "basic_auth_user_env = \"MEDIC_TEST_PROM_USER\"\nbasic_auth_password_env = \"MEDIC_TEST_PROM_PASS\"\n",
    );
    assert_eq!(
        p.latest(NOW, 600_000, 15_000).await.unwrap().services.len(),
        3
    );

    let mut wrong = source(port, "");
    let e = wrong
        .latest(NOW, 600_000, 15_000)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("HTTP 401") && e.contains("credentials"), "{e}");

    let cfg = Config::parse(
        "[source]\nbearer_token_env = \"MEDIC_TEST_UNSET_TOKEN\"\n",
        Path::new("t.toml"),
    )
    .unwrap();
    let e = Prometheus::from_config(&cfg.source).unwrap_err();
    assert!(e.contains("MEDIC_TEST_UNSET_TOKEN is not set"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_binary_reports_a_down_server_in_words_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let (_fake, port) = serve(Mode::Html).await;
    let cfg = dir.path().join("medic.toml");
    std::fs::write(
        &cfg,
        format!("[source]\nurl = \"http://127.0.0.1:{port}\"\ntimeout = \"1s\"\nretries = 0\n"),
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(["scan", "--once", "--json", "--config"])
        .arg(&cfg)
        .env("MEDIC_DATA_DIR", dir.path())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "no data: {stderr}");
    assert!(
        stderr.contains("query `") && stderr.contains(&format!("127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(stderr.contains("HTTP 502"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(line["state"], "no-data", "{stdout}");
    assert!(
        line["reason"].as_str().unwrap().contains("HTTP 502"),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_query_without_series_is_no_data_and_absent_errors_read_as_zero() {
    // No 5xx series (a healthy fleet) and a typo in the cpu query.
    let (_fake, port) = serve(Mode::EmptyFor(&["5..", "typo"])).await;
    let mut p = source(
        port,
        "[source.queries]\ncpu = 'sum by (service) (rate(typo_cpu[1m]))'\n",
    );
    let snap = p.latest(NOW, 600_000, 15_000).await.unwrap();
    assert_eq!(snap.missing.len(), 1, "{:?}", snap.missing);
    assert_eq!(snap.missing[0].query, "cpu");
    assert!(
        snap.missing[0].reason.contains("typo_cpu"),
        "{:?}",
        snap.missing
    );
    assert_eq!(snap.services.len(), 3);
    for svc in &snap.services {
        let errors = svc.get(Metric::Errors).expect("errors read as zero");
        assert!(errors.values.iter().all(|v| *v == 0.0), "{errors:?}");
    }
    let w = p.take_warnings();
    assert!(
        w.iter()
            .any(|w| w.contains("query `errors`") && w.contains("read as 0")),
        "{w:?}"
    );
    // Opting out: `gap` keeps the 5xx series absent.
    let mut gap = source(
        port,
        "[source.queries]\nerrors = { query = 'rate(x{code=~\"5..\"}[1m])', absent = \"gap\" }\n",
    );
    let snap = gap.latest(NOW, 600_000, 15_000).await.unwrap();
    assert!(snap
        .services
        .iter()
        .all(|s| s.get(Metric::Errors).is_none()));
    assert_eq!(snap.missing[0].query, "errors");
}

#[tokio::test]
async fn services_overrides_give_a_limit_where_none_is_exported() {
    let (_fake, port) = serve(Mode::EmptyFor(&["memory_limit"])).await;
    let text = format!(
        "[source]\nurl = \"http://127.0.0.1:{port}\"\n\n[[services]]\nname = \"svc-0001\"\nmemory_limit = \"2Gi\"\n"
    );
    let cfg = Config::parse(&text, Path::new("t.toml")).unwrap();
    let mut p = Prometheus::from_config(&cfg.source).unwrap();
    p.set_overrides(cfg.services.clone());
    let snap = p.latest(NOW, 600_000, 15_000).await.unwrap();
    assert!(
        snap.missing.is_empty(),
        "an override stands in: {:?}",
        snap.missing
    );
    let limit = |i: usize| snap.services[i].limit_of(Metric::Memory);
    assert_eq!(limit(1), Some(2.0 * 1024.0 * 1024.0 * 1024.0));
    assert_eq!(limit(0), None, "no override, no export: no limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_once_with_a_typo_exits_3_and_watch_waits_for_a_down_source() {
    let dir = tempfile::tempdir().unwrap();
    let (_fake, port) = serve(Mode::EmptyFor(&["typo"])).await;
    let cfg = dir.path().join("medic.toml");
    std::fs::write(
        &cfg,
        format!("[source]\nurl = \"http://127.0.0.1:{port}\"\n[source.queries]\nmemory = 'typo_memory'\n"),
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(["scan", "--once", "--json", "--config"])
        .arg(&cfg)
        .env("MEDIC_DATA_DIR", dir.path())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let no_data: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["state"] == "no-data")
        .collect();
    assert_eq!(no_data.len(), 1, "{stdout}");
    assert_eq!(no_data[0]["query"], "memory");
    assert!(no_data[0]["reason"]
        .as_str()
        .unwrap()
        .contains("typo_memory"));
    assert!(stderr.contains("no data for `memory`"), "{stderr}");
    // The table never says all-clear when a query had no data.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(["scan", "--once", "--config"])
        .arg(&cfg)
        .env("MEDIC_DATA_DIR", dir.path())
        .output()
        .await
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(!table.contains("✔ no service flagged"), "{table}");
    assert_eq!(out.status.code(), Some(3));
    // backtest does not replay a typo as "no transitions" either.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(["backtest", "--from", "-1h", "--to", "now", "--config"])
        .arg(&cfg)
        .env("MEDIC_DATA_DIR", dir.path())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("no data for `memory`"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("no transitions"));

    // Watch mode on a source that is down at start-up: it waits, then says so.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = free.local_addr().unwrap().port();
    drop(free);
    let cfg = dir.path().join("down.toml");
    std::fs::write(
        &cfg,
        format!("[source]\nurl = \"http://127.0.0.1:{down}\"\ntimeout = \"1s\"\nretries = 0\n"),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(["scan", "--json", "--config"])
        .arg(&cfg)
        .env("MEDIC_DATA_DIR", dir.path())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "watch mode must not exit"
    );
    let _up = serve_on(Mode::Good { services: 2 }, down).await;
    let mut err = tokio::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        use tokio::io::AsyncBufReadExt;
        let mut line = String::new();
        while err.read_line(&mut line).await.unwrap() > 0 {
            seen.push_str(&line);
            if line.contains("answers again") {
                return true;
            }
            line.clear();
        }
        false
    })
    .await;
    child.kill().await.unwrap();
    assert_eq!(found, Ok(true), "{seen}");
    assert_eq!(
        seen.matches("retrying").count(),
        1,
        "one line while down: {seen}"
    );
}

#[tokio::test]
async fn the_source_enum_refreshes_at_the_step_for_real_sources() {
    let (_fake, port) = serve(Mode::Good { services: 1 }).await;
    let s = Source::Prometheus(Box::new(source(port, "")));
    assert_eq!(s.refresh_interval(15_000), Duration::from_secs(15));
    assert!(s.describe().starts_with("prometheus http://127.0.0.1:"));
}
