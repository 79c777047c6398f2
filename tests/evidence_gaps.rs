//! Evidence gaps quote what a failing source said: a Loki 500 whose body
//! echoes a credential, a source URL with `user:password@` in it. The gap
//! reaches prompts, PR bodies and the journal, so it comes out redacted.

use axum::routing::get;
use axum::Router;
use medic::config::Config;
use medic::sources::demo::{Demo, DemoClock, DEFAULT_SEED};
use medic::sources::evidence::{EvidenceSource, EvidenceSources};
use medic::sources::Source;
use std::path::Path;

const ANCHOR: i64 = 1_790_000_000_000;

#[tokio::test]
async fn a_failing_sources_error_body_and_url_are_redacted() {
    // Built at run time: no literal in the repo looks like a live token.
    let token = format!("ghp_{}", "Zx8Kq2Lm9Pw4Rt7Yv3Bn6Hj1Df5Gs0Ac2Ee4Ii");
    let body = format!(
        "{{\"error\":\"upstream auth failed: Authorization: Bearer {token}; dsn=postgres://loki:Xq9vLr77-pw@db:5432/l\"}}"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/loki/api/v1/query_range",
        get(move || {
            let body = body.clone();
            async move { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, body) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = format!("http://reader:S3cr3t-Loki-pw@{addr}");
    let cfg = Config::parse(
        &format!("[logs]\nkind = \"loki\"\nurl = \"{url}\"\n"),
        Path::new("medic.toml"),
    )
    .unwrap();
    let extra = EvidenceSources::from_config(&cfg).unwrap();
    let source = Source::Demo {
        demo: Demo::new(DEFAULT_SEED, ANCHOR),
        clock: DemoClock::new(ANCHOR, 1.0),
    };
    let got = extra
        .beside(&source)
        .logs("api", ANCHOR - 1000, ANCHOR)
        .await;
    let gap = got.gaps.join("; ");
    assert!(gap.contains("logs unavailable"), "{gap}");
    for secret in [token.as_str(), "Xq9vLr77-pw", "S3cr3t-Loki-pw"] {
        assert!(!gap.contains(secret), "{secret} leaked in the gap: {gap}");
    }
    assert!(gap.contains("[REDACTED:"), "{gap}");
}
