//! The Railway source against a local server answering in the shapes of
//! Railway's GraphQL schema (`environment.serviceInstances`, `metrics`,
//! aliased `httpMetricsGroupedByStatus`), including GraphQL `errors`, 401,
//! and 429 with `Retry-After`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use medic::config::Config;
use medic::model::Metric;
use medic::sources::http::Policy;
use medic::sources::railway::Railway;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Good,
    GraphqlErrors,
    Unauthorized,
    /// 429 with `Retry-After: 1` for the first request, then good.
    RateLimitedOnce,
    Html,
}

struct Fake {
    mode: Mutex<Mode>,
    requests: AtomicUsize,
    bodies: Mutex<Vec<Value>>,
}

const NOW: i64 = 1_790_000_040_000;
const STEP_S: i64 = 60;

fn samples(f: impl Fn(i64) -> f64) -> Value {
    let end = NOW / 1000 / STEP_S * STEP_S;
    Value::Array(
        (0..10)
            .map(|i| {
                let ts = end - (9 - i) * STEP_S;
                json!({ "ts": ts, "value": f(ts) })
            })
            .collect(),
    )
}

async fn graphql(State(fake): State<Arc<Fake>>, headers: HeaderMap, body: String) -> Response {
    let n = fake.requests.fetch_add(1, Ordering::SeqCst);
    let req: Value = serde_json::from_str(&body).unwrap();
    fake.bodies.lock().unwrap().push(req.clone());
    let mode = *fake.mode.lock().unwrap();
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer rw-token") {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"errors":[{"message":"Not Authorized"}]}"#,
        )
            .into_response();
    }
    match mode {
        Mode::Unauthorized => {
            return (
                StatusCode::UNAUTHORIZED,
                r#"{"errors":[{"message":"Not Authorized"}]}"#,
            )
                .into_response()
        }
        Mode::RateLimitedOnce if n == 0 => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                "rate limited",
            )
                .into_response()
        }
        Mode::GraphqlErrors => {
            return axum::Json(json!({
                "data": null,
                "errors": [{"message": "Problem processing request", "path": ["metrics"],
                            "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]
            }))
            .into_response()
        }
        Mode::Html => {
            return (
                StatusCode::BAD_GATEWAY,
                [("content-type", "text/html")],
                "<html>Bad gateway</html>",
            )
                .into_response()
        }
        _ => {}
    }
    let query = req["query"].as_str().unwrap();
    let vars = &req["variables"];
    let data = if query.starts_with("query MedicServices") {
        // Two pages, as the connection's pageInfo says.
        if vars["after"].is_null() {
            json!({"environment": {"serviceInstances": {
                "edges": [{"node": {"serviceId": "svc-api", "serviceName": "api"}}],
                "pageInfo": {"hasNextPage": true, "endCursor": "c1"}}}})
        } else {
            json!({"environment": {"serviceInstances": {
                "edges": [{"node": {"serviceId": "svc-worker", "serviceName": "worker"}}],
                "pageInfo": {"hasNextPage": false, "endCursor": null}}}})
        }
    } else if query.starts_with("query MedicMetrics") {
        assert_eq!(vars["projectId"], "proj-1");
        assert_eq!(vars["sampleRateSeconds"], STEP_S);
        json!({"metrics": [
            {"measurement": "MEMORY_USAGE_GB", "tags": {"serviceId": "svc-api"}, "values": samples(|_| 31.2)},
            {"measurement": "MEMORY_LIMIT_GB", "tags": {"serviceId": "svc-api"}, "values": samples(|_| 32.0)},
            {"measurement": "CPU_USAGE", "tags": {"serviceId": "svc-api"}, "values": samples(|_| 1.5)},
            {"measurement": "CPU_LIMIT", "tags": {"serviceId": "svc-api"}, "values": samples(|_| 8.0)},
            {"measurement": "MEMORY_USAGE_GB", "tags": {"serviceId": "svc-worker"}, "values": samples(|_| 0.5)},
            {"measurement": "MEMORY_USAGE_GB", "tags": {"serviceId": "svc-gone"}, "values": samples(|_| 9.0)}
        ]})
    } else if query.starts_with("query MedicHttp") {
        let mut data = serde_json::Map::new();
        for i in 0.. {
            let Some(id) = vars.get(format!("s{i}")) else {
                break;
            };
            let groups = if id == "svc-api" {
                json!([
                    {"statusCode": 200, "samples": samples(|_| 5700.0)},
                    {"statusCode": 503, "samples": samples(|_| 300.0)}
                ])
            } else {
                json!([])
            };
            data.insert(format!("s{i}"), groups);
        }
        Value::Object(data)
    } else {
        panic!("unexpected document: {query}");
    };
    axum::Json(json!({ "data": data })).into_response()
}

async fn serve(mode: Mode) -> (Arc<Fake>, u16) {
    let fake = Arc::new(Fake {
        mode: Mutex::new(mode),
        requests: AtomicUsize::new(0),
        bodies: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .route("/graphql/v2", axum::routing::post(graphql))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, port)
}

fn source(port: u16) -> Railway {
    std::env::set_var("MEDIC_TEST_RAILWAY_TOKEN", "rw-token");
    let text = format!(
        "[source]\nkind = \"railway\"\nurl = \"http://127.0.0.1:{port}/graphql/v2\"\nstep = \"60s\"\n\
         project_id = \"proj-1\"\nenvironment_id = \"env-1\"\ntoken_env = \"MEDIC_TEST_RAILWAY_TOKEN\"\n"
    );
    let cfg = Config::parse(&text, Path::new("railway.toml")).unwrap();
    let mut r = Railway::from_config(&cfg.source).unwrap();
    r.set_policy(Policy {
        timeout: Duration::from_secs(5),
        retries: 2,
        backoff: Duration::from_millis(10),
        ..Policy::default()
    });
    r
}

#[tokio::test]
async fn services_cpu_memory_and_http_in_medics_units() {
    let (fake, port) = serve(Mode::Good).await;
    let mut r = source(port);
    let snap = r.latest(NOW, 600_000, 60_000).await.unwrap();
    let names: Vec<&str> = snap.services.iter().map(|s| s.service.0.as_str()).collect();
    assert_eq!(names, ["api", "worker"]);
    let api = &snap.services[0];
    assert_eq!(api.last(Metric::Memory), Some(31.2e9), "GB become bytes");
    assert_eq!(api.last(Metric::MemoryLimit), Some(32e9));
    assert_eq!(api.last(Metric::Cpu), Some(1.5));
    assert_eq!(
        api.last(Metric::Requests),
        Some(100.0),
        "6,000 per 60 s bucket"
    );
    assert_eq!(api.last(Metric::Errors), Some(5.0));
    assert_eq!(
        medic::commands::scan::reading_of(Metric::Memory, Some(api)),
        "31.2 GB / 32 GB (98%)",
        "the same words as for Prometheus"
    );
    assert!(snap.services[1]
        .get(Metric::Requests)
        .unwrap()
        .values
        .iter()
        .all(|v| v.is_nan()));
    // services (2 pages) + metrics + one batched HTTP document.
    assert_eq!(fake.requests.load(Ordering::SeqCst), 4);
    let http = fake.bodies.lock().unwrap().last().unwrap().clone();
    assert_eq!(http["variables"]["s1"], "svc-worker");
    // The service list is cached: the next refresh is 2 requests.
    r.latest(NOW + 60_000, 600_000, 60_000).await.unwrap();
    assert_eq!(fake.requests.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn graphql_errors_401_and_html_are_errors_naming_query_and_server() {
    for (mode, words) in [
        (
            Mode::GraphqlErrors,
            "Railway answered errors: Problem processing request",
        ),
        (Mode::Unauthorized, "HTTP 401: Railway refused the token"),
        (Mode::Html, "HTTP 502"),
    ] {
        let (_fake, port) = serve(mode).await;
        let e = source(port)
            .latest(NOW, 600_000, 60_000)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(words), "{mode:?}: {e}");
        assert!(e.contains("query `services`"), "{e}");
        assert!(
            e.contains(&format!("http://127.0.0.1:{port}/graphql/v2")),
            "{e}"
        );
    }
}

#[tokio::test]
async fn rate_limits_are_waited_out_as_retry_after_says() {
    let (fake, port) = serve(Mode::RateLimitedOnce).await;
    let started = Instant::now();
    let snap = source(port).latest(NOW, 600_000, 60_000).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 honoured"
    );
    assert_eq!(snap.services.len(), 2);
    assert_eq!(fake.requests.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn a_failing_railway_goes_stale_with_last_known_values() {
    let (fake, port) = serve(Mode::Good).await;
    let mut r = source(port);
    let good = r.latest(NOW, 600_000, 60_000).await.unwrap();
    *fake.mode.lock().unwrap() = Mode::GraphqlErrors;
    let stale = r.latest(NOW + 60_000, 600_000, 60_000).await.unwrap();
    assert!(stale.stale);
    // (Debug, because NaN != NaN: absent samples are part of the last-known values.)
    assert_eq!(
        format!("{:?}", stale.services),
        format!("{:?}", good.services)
    );
    let w = r.take_warnings();
    assert!(
        w.iter()
            .any(|w| w.contains("query `metrics`") && w.contains("STALE")),
        "{w:?}"
    );
}

#[test]
fn railway_config_names_what_is_missing() {
    let e = Config::parse(
        "[source]\nkind = \"railway\"\ntoken_env = \"X\"\n",
        Path::new("m.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("source.project_id") && e.contains("required"),
        "{e}"
    );
    let e = Config::parse(
        "[source]\nkind = \"railway\"\nproject_id = \"p\"\nenvironment_id = \"e\"\n",
        Path::new("m.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("source.token_env"), "{e}");
}
