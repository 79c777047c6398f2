//! Railway logs and deploys against a local server answering in the shapes
//! of Railway's GraphQL schema (`deployments`, `deploymentLogs`, `httpLogs`
//! with a 5xx filter, `platformStatus`); a failing answer becomes a gap in
//! the evidence.

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use medic::config::Config;
use medic::sources::evidence::EvidenceSource;
use medic::sources::railway::Railway;
use medic::sources::Source;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::{Arc, Mutex};

const T: i64 = 1_790_000_000_000;

fn ts(ms: i64) -> String {
    medic::units::rfc3339(ms)
}

async fn graphql(State(seen): State<Arc<Mutex<Vec<Value>>>>, body: String) -> axum::Json<Value> {
    let req: Value = serde_json::from_str(&body).unwrap();
    seen.lock().unwrap().push(req.clone());
    let q = req["query"].as_str().unwrap();
    let data = if q.contains("MedicServices") {
        json!({"environment": {"serviceInstances": {
            "edges": [{"node": {"serviceId": "svc-1", "serviceName": "checkout"}}],
            "pageInfo": {"hasNextPage": false, "endCursor": null}}}})
    } else if q.contains("MedicDeployments") {
        json!({"deployments": {"edges": [
            {"node": {"id": "dep-old", "status": "REMOVED", "createdAt": ts(T - 86_400_000), "meta": {"commitHash": "1111111aaaa"}}},
            {"node": {"id": "dep-new", "status": "SUCCESS", "createdAt": ts(T - 1_800_000), "meta": {"commitHash": "9f3c2ab77de"}}},
            {"node": {"id": "dep-next", "status": "BUILDING", "createdAt": ts(T + 60_000), "meta": null}}
        ]}})
    } else if q.contains("MedicDeploymentLogs") {
        if req["variables"]["deploymentId"] != "dep-new" {
            return axum::Json(json!({"data": null, "errors": [{"message": "wrong deployment"}]}));
        }
        json!({"deploymentLogs": [
            {"timestamp": ts(T - 60_000), "message": "TypeError: cannot read properties of undefined", "severity": "error"},
            {"timestamp": ts(T - 120_000), "message": "listening on :8080", "severity": "info"}
        ]})
    } else if q.contains("MedicHttpLogs") {
        json!({"httpLogs": [
            {"timestamp": ts(T - 30_000), "method": "POST", "path": "/pay", "httpStatus": 502, "totalDuration": 1200, "upstreamErrors": "connection refused"},
            {"timestamp": ts(T - 20_000), "method": "GET", "path": "/health", "httpStatus": 200, "totalDuration": 3, "upstreamErrors": ""}
        ]})
    } else if q.contains("MedicPlatformStatus") {
        json!({"platformStatus": {"isStable": false,
            "incident": {"id": "inc-9", "message": "Degraded networking in us-east4",
                "status": "IDENTIFIED", "url": "https://status.railway.com/incident/inc-9",
                "createdAt": ts(T - 900_000)},
            "maintenance": null}})
    } else {
        return axum::Json(json!({"errors": [{"message": "unknown query"}]}));
    };
    axum::Json(json!({ "data": data }))
}

async fn railway(url: &str) -> Source {
    std::env::set_var("MEDIC_TEST_RAILWAY_LOGS_TOKEN", "rw-token");
    let text = format!(
        "[source]\nkind = \"railway\"\nurl = \"{url}\"\nproject_id = \"proj-1\"\nenvironment_id = \"env-1\"\n\
         token_env = \"MEDIC_TEST_RAILWAY_LOGS_TOKEN\"\nretries = 0\n\n[logs]\nkind = \"railway\"\n"
    );
    let cfg = Config::parse(&text, Path::new("railway.toml")).unwrap();
    Source::Railway(Box::new(Railway::from_config(&cfg.source).unwrap()))
}

/// The scripted Railway server on loopback and a source pointed at it.
async fn serve() -> (Source, Arc<Mutex<Vec<Value>>>) {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let app = Router::new()
        .route("/graphql/v2", post(graphql))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/graphql/v2", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let source = railway(&url).await;
    (source, seen)
}

#[tokio::test]
async fn runtime_logs_and_failed_requests_of_the_live_deployment() {
    let (source, seen) = serve().await;

    let got = EvidenceSource::logs(&source, "checkout", T - 600_000, T).await;
    assert!(got.gaps.is_empty(), "{:?}", got.gaps);
    let lines = got.items.unwrap();
    let text: Vec<String> = lines
        .iter()
        .map(|l| format!("{} {}", l.level, l.message))
        .collect();
    assert_eq!(
        text,
        [
            "INFO listening on :8080",
            "ERROR TypeError: cannot read properties of undefined",
            "ERROR HTTP 502 POST /pay (1200 ms); upstream errors: connection refused",
        ],
        "runtime lines and only the 5xx requests, oldest first"
    );
    let reqs = seen.lock().unwrap().clone();
    let http = reqs
        .iter()
        .find(|r| r["query"].as_str().unwrap().contains("MedicHttpLogs"))
        .unwrap();
    assert_eq!(http["variables"]["filter"], "@httpStatus:>=500");
    assert_eq!(http["variables"]["deploymentId"], "dep-new");
    let deps = reqs
        .iter()
        .find(|r| r["query"].as_str().unwrap().contains("MedicDeployments"))
        .unwrap();
    assert_eq!(deps["variables"]["input"]["serviceId"], "svc-1");
    assert_eq!(deps["variables"]["input"]["projectId"], "proj-1");

    // Unknown service: nothing to read, not an error.
    let none = EvidenceSource::logs(&source, "nope", T - 600_000, T).await;
    assert_eq!(none.items, Some(vec![]));
}

#[tokio::test]
async fn railway_platform_incident_is_an_upstream_of_every_service() {
    let (source, _seen) = serve().await;
    let got = EvidenceSource::upstreams(&source, T).await;
    assert!(got.gaps.is_empty(), "{:?}", got.gaps);
    let ups = got.items.unwrap();
    assert_eq!(ups.len(), 1);
    let u = &ups[0];
    assert_eq!(
        (u.name.as_str(), u.indicator.as_str()),
        ("railway", "major")
    );
    assert!(u.used_by.is_empty(), "the platform hosts every service");
    assert_eq!(u.incidents[0].name, "Degraded networking in us-east4");
    assert_eq!(u.incidents[0].status, "identified");
    assert_eq!(u.incidents[0].started_at, T - 900_000);

    // Beside configured status pages (none here) the platform still answers.
    let extra = medic::sources::evidence::EvidenceSources::default();
    let both = EvidenceSource::upstreams(&extra.beside(&source), T).await;
    assert_eq!(both.items.unwrap()[0].name, "railway");
}

#[tokio::test]
async fn railway_down_is_a_gap_not_a_failure() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/graphql/v2", listener.local_addr().unwrap());
    drop(listener);
    let source = railway(&url).await;
    let got = EvidenceSource::logs(&source, "checkout", T - 600_000, T).await;
    assert!(got.items.is_none());
    let gap = got.gaps.join("; ");
    assert!(
        gap.starts_with("logs unavailable: query `services`"),
        "{gap}"
    );
    assert!(gap.contains(&url), "{gap}");
    let up = EvidenceSource::upstreams(&source, T).await;
    assert!(up.items.is_none());
    assert!(
        up.gaps[0].starts_with("Railway platform status unavailable: query `platform status`"),
        "{:?}",
        up.gaps
    );
}
