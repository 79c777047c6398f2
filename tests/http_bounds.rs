//! Bounded I/O against local servers speaking the real wire formats
//! (Prometheus' HTTP API, OpenAI Chat Completions): an answer far larger
//! than `[http] max_body_bytes` is cut off at the cap with an error naming
//! the URL and the cap (the server counts what it managed to send), and a
//! redirect to another origin is refused before anything, credentials
//! included, reaches that origin.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use medic::config::Config;
use medic::plan::llm::{ApiKey, ChatRequest, LlmClient, LlmConfig, Message, Provider};
use medic::sources::http::{self, Policy};
use medic::sources::prometheus::Prometheus;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every test in this binary uses the same cap (it is process-wide).
const CAP: u64 = 4 << 20;
/// What the hostile server would send: 1 GiB.
const HUGE: u64 = 1 << 30;
const NOW: i64 = 1_790_000_000_000;
const KEY: &str = "sk-test-EXAMPLE-never-leaves";

/// Bytes the endless server got out (in all, and answers started), and
/// requests the other origin saw.
#[derive(Default)]
struct Seen {
    sent: AtomicU64,
    answers: AtomicU64,
    elsewhere: Mutex<Vec<HeaderMap>>,
}

/// A 1 GiB answer in 64 KiB chunks, counting what was sent.
fn endless(seen: Arc<Seen>, content_type: &'static str) -> Response {
    seen.answers.fetch_add(1, Ordering::Relaxed);
    let chunk = Bytes::from(vec![b' '; 64 << 10]);
    let stream = futures_util::stream::unfold(0u64, move |n| {
        let (chunk, seen) = (chunk.clone(), seen.clone());
        async move {
            if n >= HUGE {
                return None;
            }
            seen.sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            Some((Ok::<_, std::io::Error>(chunk), n + 64 * 1024))
        }
    });
    Response::builder()
        .header("content-type", content_type)
        .body(Body::from_stream(stream))
        .unwrap()
}

/// Serves `/huge/*` (endless), `/away/*` (a redirect to the other origin)
/// and, on the other origin, anything (recorded); returns (port, other port).
async fn servers(seen: Arc<Seen>) -> (u16, u16) {
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_port = other.local_addr().unwrap().port();
    let s = seen.clone();
    let elsewhere = axum::Router::new().fallback(move |headers: HeaderMap| {
        let s = s.clone();
        async move {
            s.elsewhere.lock().unwrap().push(headers);
            (StatusCode::OK, "{}").into_response()
        }
    });
    tokio::spawn(async move { axum::serve(other, elsewhere).await.unwrap() });
    let s = seen.clone();
    let app = axum::Router::new()
        .route(
            "/huge/api/v1/query_range",
            axum::routing::get({
                let s = s.clone();
                move || async move { endless(s, "application/json") }
            }),
        )
        .route(
            "/huge/v1/chat/completions",
            axum::routing::post(move || async move { endless(s, "application/json") }),
        )
        .fallback(move |uri: axum::http::Uri| async move {
            let to = format!("http://localhost:{other_port}{}", uri.path());
            (StatusCode::TEMPORARY_REDIRECT, [("location", to)], "").into_response()
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, other_port)
}

fn prometheus(url: &str) -> Prometheus {
    std::env::set_var("MEDIC_TEST_PROM_TOKEN", KEY);
    let text = format!("[source]\nurl = \"{url}\"\nbearer_token_env = \"MEDIC_TEST_PROM_TOKEN\"\n");
    let cfg = Config::parse(&text, Path::new("test.toml")).unwrap();
    let mut p = Prometheus::from_config(&cfg.source).unwrap();
    p.set_policy(Policy {
        timeout: Duration::from_secs(20),
        retries: 1,
        backoff: Duration::from_millis(10),
        ..Policy::default()
    });
    p
}

#[tokio::test]
async fn a_huge_prometheus_answer_stops_at_the_cap_and_says_so() {
    http::set_max_body_bytes(CAP);
    let seen = Arc::new(Seen::default());
    let (port, _) = servers(seen.clone()).await;
    let url = format!("http://127.0.0.1:{port}/huge");
    let e = prometheus(&url)
        .latest(NOW, 600_000, 15_000)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("larger than {CAP} bytes")), "{e}");
    assert!(e.contains("[http] max_body_bytes"), "{e}");
    assert!(
        e.contains(&format!("127.0.0.1:{port}/huge/api/v1/query_range")),
        "{e}"
    );
    // Give the server a moment to notice the closed connection.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = seen.sent.load(Ordering::Relaxed);
    let answers = seen.answers.load(Ordering::Relaxed).max(1);
    eprintln!(
        "the server sent {sent} bytes in {answers} answers of {HUGE} each before medic stopped (cap {CAP})"
    );
    // Reading stopped near the cap on every query (what loopback socket
    // buffers took beyond it is the kernel's, a few MiB).
    assert!(
        sent / answers < CAP + (16 << 20),
        "medic kept reading: {sent} bytes in {answers} answers"
    );
}

#[tokio::test]
async fn a_prometheus_redirect_to_another_origin_is_refused() {
    http::set_max_body_bytes(CAP);
    let seen = Arc::new(Seen::default());
    let (port, other) = servers(seen.clone()).await;
    let e = prometheus(&format!("http://127.0.0.1:{port}/away"))
        .latest(NOW, 600_000, 15_000)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("redirect to another origin"), "{e}");
    assert!(e.contains(&format!("localhost:{other}")), "{e}");
    assert!(
        seen.elsewhere.lock().unwrap().is_empty(),
        "the other origin got a request"
    );
}

fn llm(base: String) -> LlmClient {
    let mut c = LlmConfig::new(
        Provider::OpenAi,
        base,
        "gpt-4o-mini",
        Some(ApiKey::new(KEY)),
    );
    c.request_timeout = Duration::from_secs(20);
    c.retry.max_attempts = 1;
    LlmClient::new(c).unwrap()
}

fn request() -> ChatRequest {
    ChatRequest {
        system: "You are medic's planner.".into(),
        messages: vec![Message::user("api is leaking memory")],
        tools: vec![],
        max_tokens: 100,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_huge_llm_answer_stops_at_the_cap_and_a_foreign_redirect_keeps_the_key() {
    http::set_max_body_bytes(CAP);
    let seen = Arc::new(Seen::default());
    let (port, _) = servers(seen.clone()).await;
    let e = llm(format!("http://127.0.0.1:{port}/huge/v1"))
        .chat(&request(), |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("larger than {CAP} bytes")), "{e}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = seen.sent.load(Ordering::Relaxed);
    assert!(
        sent < CAP + (16 << 20),
        "the LLM client kept reading: {sent} bytes"
    );

    let e = llm(format!("http://127.0.0.1:{port}/away/v1"))
        .chat(&request(), |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("redirect to another origin"), "{e}");
    assert!(
        seen.elsewhere.lock().unwrap().is_empty(),
        "the API key went to another origin"
    );
}
