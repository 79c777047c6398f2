//! Loki and Statuspage against local servers speaking their documented
//! JSON (Loki `GET /loki/api/v1/query_range` with `resultType: streams`;
//! Statuspage v2 `GET /api/v2/summary.json`), including a server that is
//! down and one that answers garbage: the evidence says so and triage goes on.

use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use medic::config::Config;
use medic::detect::Detector;
use medic::model::Verdict;
use medic::sources::demo::{Demo, DemoClock, DEFAULT_SEED};
use medic::sources::evidence::{EvidenceSource, EvidenceSources};
use medic::sources::Source;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// A port nothing listens on.
async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn config(text: &str) -> Config {
    Config::parse(text, Path::new("medic.toml")).unwrap()
}

const ANCHOR: i64 = 1_790_000_000_000;

fn demo() -> Source {
    Source::Demo {
        demo: Demo::new(DEFAULT_SEED, ANCHOR),
        clock: DemoClock::new(ANCHOR, 1.0),
    }
}

/// Loki's documented answer for a streams query (two streams, one with a level label).
fn loki_body(t0_ns: i128) -> String {
    serde_json::json!({
        "status": "success",
        "data": {
            "resultType": "streams",
            "result": [
                {"stream": {"service": "checkout", "level": "error"},
                 "values": [[(t0_ns + 2_000_000_000).to_string(), "payment failed: card_declined for order 17"],
                            [(t0_ns + 1_000_000_000).to_string(), "payment failed: card_declined for order 16"]]},
                {"stream": {"service": "checkout"},
                 "values": [[t0_ns.to_string(), "level=warn msg=\"slow query\" took=812ms"],
                            [(t0_ns + 3_000_000_000).to_string(), "GET /health 200"]]}
            ],
            "stats": {"summary": {"bytesProcessedPerSecond": 1}}
        }
    })
    .to_string()
}

/// One request Loki saw: its query parameters and its Authorization header.
type Asked = (HashMap<String, String>, Option<String>);

#[tokio::test]
async fn loki_query_range_is_asked_right_and_parsed() {
    let asked: Arc<Mutex<Vec<Asked>>> = Arc::default();
    let seen = asked.clone();
    let t0_ns = ANCHOR as i128 * 1_000_000;
    let url = serve(Router::new().route(
        "/loki/api/v1/query_range",
        get(move |uri: axum::http::Uri, h: HeaderMap| {
            let seen = seen.clone();
            async move {
                let q: HashMap<String, String> = reqwest::Url::parse(&format!("http://x{uri}"))
                    .unwrap()
                    .query_pairs()
                    .into_owned()
                    .collect();
                let auth = h
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_string());
                seen.lock().unwrap().push((q, auth));
                ([("content-type", "application/json")], loki_body(t0_ns))
            }
        }),
    ))
    .await;
    std::env::set_var("MEDIC_TEST_LOKI_TOKEN", "loki-s3cret");
    let cfg = config(&format!(
        "[logs]\nkind = \"loki\"\nurl = \"{url}\"\nquery = '{{app=\"$service\"}} |= \"\"'\nbearer_token_env = \"MEDIC_TEST_LOKI_TOKEN\"\nlimit = 100\n"
    ));
    let extra = EvidenceSources::from_config(&cfg).unwrap();
    assert!(
        !format!("{extra:?}").contains("loki-s3cret"),
        "the token must not show in debug output"
    );
    let source = demo();
    let got = extra
        .beside(&source)
        .logs("checkout", ANCHOR - 60_000, ANCHOR + 60_000)
        .await;
    assert!(got.gaps.is_empty(), "{:?}", got.gaps);
    let lines = got.items.unwrap();
    assert_eq!(lines.len(), 4);
    assert!(lines.windows(2).all(|w| w[0].at <= w[1].at), "oldest first");
    assert_eq!(lines[0].level, "WARN");
    assert_eq!(lines[1].level, "ERROR");
    assert_eq!(lines[1].at, ANCHOR + 1000);
    assert_eq!(lines[3].level, "INFO");

    let (q, auth) = asked.lock().unwrap()[0].clone();
    assert_eq!(q["query"], "{app=\"checkout\"} |= \"\"");
    assert_eq!(
        q["start"],
        ((ANCHOR - 60_000) as i128 * 1_000_000).to_string()
    );
    assert_eq!(
        q["end"],
        ((ANCHOR + 60_000) as i128 * 1_000_000).to_string()
    );
    assert_eq!(q["direction"], "forward");
    assert_eq!(q["limit"], "100");
    assert_eq!(auth.as_deref(), Some("Bearer loki-s3cret"));
}

#[tokio::test]
async fn loki_down_garbage_or_refusing_becomes_a_gap() {
    let garbage = serve(Router::new().route(
        "/loki/api/v1/query_range",
        get(|| async { "<html>502 Bad Gateway</html>" }),
    ))
    .await;
    let refusing = serve(Router::new().route(
        "/loki/api/v1/query_range",
        get(|| async {
            (
                axum::http::StatusCode::BAD_REQUEST,
                "parse error at line 1, col 2: syntax error: unexpected IDENTIFIER",
            )
        }),
    ))
    .await;
    let metric = serve(Router::new().route(
        "/loki/api/v1/query_range",
        get(|| async { r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"# }),
    ))
    .await;
    let down = dead_url().await;
    let source = demo();
    for (url, expect) in [
        (&down, "loki at"),
        (&garbage, "not a Loki query_range answer"),
        (&refusing, "parse error at line 1"),
        (&metric, "expected resultType `streams`"),
    ] {
        let cfg = config(&format!("[logs]\nkind = \"loki\"\nurl = \"{url}\"\n"));
        let extra = EvidenceSources::from_config(&cfg).unwrap();
        let got = extra
            .beside(&source)
            .logs("api", ANCHOR - 1000, ANCHOR)
            .await;
        assert!(got.items.is_none());
        let gap = got.gaps.join("; ");
        assert!(
            gap.starts_with(&format!("logs unavailable: loki at {url}")),
            "{gap}"
        );
        assert!(gap.contains(expect), "{gap} should say {expect}");
    }
}

/// The shape of Statuspage's documented `summary.json`.
fn summary(indicator: &str, incidents: serde_json::Value) -> String {
    serde_json::json!({
        "page": {"id": "kctbh9vrtdwd", "name": "Postmark", "url": "https://status.postmarkapp.com",
                 "updated_at": "2026-09-21T09:14:03.441-06:00"},
        "status": {"indicator": indicator, "description": "Partial System Outage"},
        "components": [
            {"id": "b13yz5g2cw10", "name": "API", "status": "partial_outage", "group": false,
             "created_at": "2014-05-03T01:22:07.274Z", "updated_at": "2014-05-14T20:34:43.340Z",
             "position": 1, "description": null, "showcase": false, "group_id": null, "page_id": "kctbh9vrtdwd", "only_show_if_degraded": false},
            {"id": "9397cnvk62zn", "name": "Management Portal", "status": "operational", "group": false,
             "created_at": "2014-05-03T01:22:07.286Z", "updated_at": "2014-05-14T16:47:10.000Z",
             "position": 2, "description": null, "showcase": false, "group_id": null, "page_id": "kctbh9vrtdwd", "only_show_if_degraded": false}
        ],
        "incidents": incidents,
        "scheduled_maintenances": []
    })
    .to_string()
}

#[tokio::test]
async fn statuspage_summary_becomes_upstream_status_and_drives_external() {
    let t = |ms: i64| medic::units::rfc3339(ms);
    // Open since 20 minutes before the demo's email errors began (the demo's onset is before ANCHOR).
    let incidents = serde_json::json!([
        {"id": "p31zjtct2jer", "name": "Delayed outbound sending", "status": "identified", "impact": "major",
         "created_at": t(ANCHOR - 3 * 3_600_000), "started_at": t(ANCHOR - 3 * 3_600_000),
         "updated_at": t(ANCHOR), "shortlink": "http://stspg.io/xyz", "incident_updates": []},
        {"id": "old", "name": "Yesterday's blip", "status": "resolved", "impact": "minor",
         "created_at": t(ANCHOR - 86_400_000), "started_at": t(ANCHOR - 86_400_000),
         "updated_at": t(ANCHOR), "incident_updates": []}
    ]);
    let body = summary("major", incidents);
    let page = serve(Router::new().route(
        "/api/v2/summary.json",
        get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    ))
    .await;
    let garbage =
        serve(Router::new().route("/api/v2/summary.json", get(|| async { "{\"status\": 3" })))
            .await;
    let down = dead_url().await;
    let cfg = config(&format!(
        "[[upstream]]\nname = \"postmark\"\nstatuspage = \"{page}/\"\nused_by = [\"email\"]\n\n\
         [[upstream]]\nname = \"broken\"\nstatuspage = \"{garbage}\"\n\n\
         [[upstream]]\nname = \"gone\"\nstatuspage = \"{down}\"\n\n\
         [logs]\nkind = \"loki\"\nurl = \"{down}\"\n"
    ));
    let extra = EvidenceSources::from_config(&cfg).unwrap();
    let source = demo();
    let both = extra.beside(&source);
    let ups = both.upstreams(ANCHOR).await;
    let items = ups.items.clone().unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    let p = &items[0];
    assert_eq!(
        (p.name.as_str(), p.indicator.as_str()),
        ("postmark", "major")
    );
    assert!(
        p.description.contains("API partial outage"),
        "{}",
        p.description
    );
    assert_eq!(p.incidents.len(), 1, "resolved incidents are left out");
    assert_eq!(
        p.incidents[0].started_at,
        ANCHOR - 3 * 3_600_000 / 1000 * 1000
    );
    let gaps = ups.gaps.join("\n");
    assert!(
        gaps.contains("status page of broken") && gaps.contains("not a Statuspage v2 summary"),
        "{gaps}"
    );
    assert!(
        gaps.contains(&format!(
            "status page of gone at {down}/api/v2/summary.json"
        )),
        "{gaps}"
    );

    // Triage goes on with logs down and two pages broken: email is still external.
    let Source::Demo { demo, .. } = &source else {
        unreachable!()
    };
    let snap = demo.snapshot(ANCHOR, 3_600_000, 15_000);
    let mut d = Detector::new(medic::config::default_rules());
    d.ingest(&snap);
    let mut flags = d.flags(&snap);
    let evidence = medic::triage::judge_all(&both, &snap, &d, &mut flags).await;
    let email = flags
        .iter()
        .find(|f| f.service.0 == "email")
        .expect("email flagged");
    assert_eq!(email.verdict, Verdict::External, "{}", email.reason);
    assert!(email.reason.contains("postmark"), "{}", email.reason);
    let ev = evidence.iter().find(|e| e.service.0 == "email").unwrap();
    assert!(
        ev.gaps
            .iter()
            .any(|g| g.starts_with("logs unavailable: loki at")),
        "{:?}",
        ev.gaps
    );
    assert!(ev.items.iter().any(|i| i.id == "upstream:postmark"));
    let checkout = flags.iter().find(|f| f.service.0 == "checkout").unwrap();
    assert_eq!(checkout.verdict, Verdict::Actionable, "{}", checkout.reason);
}

#[test]
fn config_deploys_are_validated_and_reach_triage() {
    let bad = Config::parse(
        "[[deploys]]\nservice = \"api\"\nversion = \"v2\"\nat = \"last tuesday\"\n",
        Path::new("medic.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(bad.contains("deploys[0].at"), "{bad}");
    let bad = Config::parse(
        "[[upstream]]\nname = \"x\"\nstatuspage = \"status.x.com\"\n",
        Path::new("m.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(bad.contains("upstream[0].statuspage"), "{bad}");
    let cfg = config(
        "[[deploys]]\nservice = \"api\"\nversion = \"v2\"\nprevious = \"v1\"\nat = \"2026-11-28T03:14:00+01:00\"\n\n\
         [[deploys]]\nservice = \"web\"\nversion = \"w9\"\nat = \"2026-11-28T04:00:00Z\"\n",
    );
    let extra = EvidenceSources::from_config(&cfg).unwrap();
    assert_eq!(extra.deploys[0].service.0, "web", "newest first");
    assert_eq!(
        medic::units::rfc3339(extra.deploys[1].at),
        "2026-11-28T02:14:00Z"
    );
    assert_eq!(extra.deploys[1].id, "v2");
}
