//! Change evidence from the forge: GitHub Deployments and Releases from a
//! local server answering GitHub's documented REST shapes (what the
//! request carries is checked too), a token that cannot read them is a gap
//! in words, and the deploys land in triage's evidence and verdict.

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use medic::forge::changes::{ForgeChange, ForgeChanges, GithubChanges};
use serde_json::json;
use std::sync::{Arc, Mutex};

const TOKEN: &str = "ghp_test_token_for_the_local_server";

/// GitHub's documented shapes (trimmed to the fields medic reads, plus a few it ignores).
fn deployments() -> serde_json::Value {
    json!([
        {"id": 42, "node_id": "DE_x", "sha": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", "ref": "v1.5.0",
         "task": "deploy", "environment": "production", "description": "rollout by Argo",
         "creator": {"login": "deploy-bot", "id": 1}, "created_at": "2026-12-04T20:10:00Z",
         "updated_at": "2026-12-04T20:11:00Z", "statuses_url": "https://x", "repository_url": "https://x"},
        {"id": 41, "sha": "0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6", "ref": "v1.4.2", "task": "deploy",
         "environment": "production", "description": "", "creator": {"login": "deploy-bot"},
         "created_at": "2026-12-01T09:00:00Z", "updated_at": "2026-12-01T09:01:00Z"}
    ])
}

fn releases() -> serde_json::Value {
    json!([
        {"id": 7, "tag_name": "v1.6.0-rc1", "name": "draft", "draft": true, "prerelease": true,
         "published_at": null, "author": {"login": "dana"}},
        {"id": 6, "tag_name": "v1.5.0", "name": "Cart cache", "draft": false, "prerelease": false,
         "published_at": "2026-12-04T19:55:00Z", "author": {"login": "dana"}, "target_commitish": "main"},
        {"id": 5, "tag_name": "v1.4.2", "name": "Fixes", "draft": false,
         "published_at": "2026-11-30T10:00:00Z", "author": {"login": "eli"}}
    ])
}

async fn serve(readable: bool) -> (String, Arc<Mutex<Vec<(String, String, String)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let seen = s2.clone();
        async move {
            let h = |k: &str| {
                headers
                    .get(k)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string()
            };
            seen.lock()
                .unwrap()
                .push((uri.to_string(), h("authorization"), h("accept")));
            if !readable {
                return (
                    StatusCode::FORBIDDEN,
                    axum::Json(
                        json!({"message": "Resource not accessible by personal access token"}),
                    ),
                )
                    .into_response();
            }
            match uri.path() {
                "/api/v3/repos/acme/shop/deployments" => axum::Json(deployments()).into_response(),
                "/api/v3/repos/acme/shop/releases" => axum::Json(releases()).into_response(),
                "/api/v3/repos/acme/shop/commits" => axum::Json(json!([
                    {"sha": "9f3c2ab41d5e6f708192a3b4c5d6e7f809112233", "node_id": "C_x",
                     "commit": {"author": {"name": "Dana", "email": "dana@example.com", "date": "2026-12-04T19:40:00Z"},
                                "committer": {"name": "GitHub", "date": "2026-12-04T19:41:00Z"},
                                "message": "checkout: cache cart totals\n\nno eviction yet"},
                     "author": {"login": "dana"}, "parents": [{"sha": "0000"}]}
                ])).into_response(),
                "/api/v3/repos/acme/shop/commits/9f3c2ab41d5e6f708192a3b4c5d6e7f809112233" => axum::Json(json!(
                    {"sha": "9f3c2ab41d5e6f708192a3b4c5d6e7f809112233",
                     "files": [{"filename": "src/cart.rs", "status": "modified", "additions": 10},
                               {"filename": "charts/checkout/values.yaml", "status": "modified"}]}
                )).into_response(),
                _ => (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({"message": "Not Found"})),
                )
                    .into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}/api/v3", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (api, seen)
}

#[tokio::test]
async fn deployments_and_releases_become_deploys_of_the_service() {
    let (api, seen) = serve(true).await;
    let gh = GithubChanges::new(&api, "acme/shop", TOKEN.into());
    let d = gh.deployments("shop/checkout").await.unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].id, "a1b2c3d");
    assert_eq!(
        (d[0].version.as_str(), d[0].previous.as_str()),
        ("v1.5.0", "v1.4.2")
    );
    assert_eq!(d[0].author, "deploy-bot");
    assert_eq!(d[0].service.0, "shop/checkout");
    assert_eq!(
        d[0].at,
        medic::units::parse_rfc3339("2026-12-04T20:10:00Z").unwrap()
    );
    assert!(
        d[0].message
            .contains("deployment 42 to production: rollout by Argo"),
        "{}",
        d[0].message
    );
    let r = gh.releases("shop/checkout").await.unwrap();
    let tags: Vec<&str> = r.iter().map(|r| r.version.as_str()).collect();
    assert_eq!(tags, ["v1.5.0", "v1.4.2"], "drafts are not releases");
    assert_eq!(r[0].previous, "v1.4.2");
    for (uri, auth, accept) in seen.lock().unwrap().iter() {
        assert_eq!(auth, &format!("Bearer {TOKEN}"), "{uri}");
        assert_eq!(accept, "application/vnd.github+json", "{uri}");
    }
}

#[tokio::test]
async fn a_token_that_cannot_read_them_is_a_gap_not_an_error() {
    let (api, _) = serve(false).await;
    let changes = ForgeChanges {
        repo: None,
        base: "main".into(),
        github: Some(GithubChanges::new(&api, "acme/shop", TOKEN.into())),
    };
    let (items, gaps) = changes.fetch("shop/checkout", 0, i64::MAX).await;
    assert!(items.is_empty());
    assert_eq!(gaps.len(), 3, "deployments, releases, commits: {gaps:?}");
    assert!(
        gaps.iter()
            .any(|g| g.contains("GitHub deployments of acme/shop unavailable: HTTP 403")),
        "{gaps:?}"
    );
    assert!(gaps.iter().all(|g| !g.contains(TOKEN)), "{gaps:?}");
}

#[tokio::test]
async fn a_github_deployment_before_the_onset_is_the_deploy_triage_names() {
    use medic::model::{AlertState, Flag, Metric, ServiceId, ServiceMetrics, Unit, Verdict};
    use medic::sources::evidence::Fetched;
    use medic::triage::context::{gather, Material};
    let (api, _) = serve(true).await;
    let changes = ForgeChanges {
        repo: None,
        base: "main".into(),
        github: Some(GithubChanges::new(&api, "acme/shop", TOKEN.into())),
    };
    let onset = medic::units::parse_rfc3339("2026-12-04T20:20:00Z").unwrap();
    let (items, gaps) = changes
        .fetch("shop/checkout", onset - 6 * 3_600_000, onset)
        .await;
    assert!(gaps.is_empty(), "{gaps:?}");
    assert_eq!(
        items
            .iter()
            .filter(|c| matches!(c, ForgeChange::Commit(_)))
            .count(),
        1,
        "{items:?}"
    );
    let flag = Flag {
        service: ServiceId::from("shop/checkout"),
        rule: "error-rate-high".into(),
        metric: Metric::Errors,
        state: AlertState::Firing,
        value: 0.2,
        threshold: 0.05,
        op: ">".into(),
        unit: Unit::Ratio,
        since: onset,
        onset,
        verdict: Verdict::Actionable,
        reason: "errors".into(),
        eta_seconds: None,
    };
    let metrics = ServiceMetrics::new(ServiceId::from("shop/checkout"));
    let m = Material {
        flag: &flag,
        metrics: &metrics,
        logs: Fetched::known(vec![]),
        deploys: Fetched::unknown("deploys: unknown for this source (add [[deploys]] entries)"),
        upstreams: Fetched::known(vec![]),
        kube: Fetched::known(vec![]),
        changes: Fetched::known(items),
        project_flags: std::slice::from_ref(&flag),
        project_size: 1,
        recent_transitions: 0,
        now: onset + 600_000,
    };
    let (evidence, signals) = gather(&m);
    assert_eq!(
        signals.deploy_before_onset,
        Some(("a1b2c3d".into(), "v1.5.0".into(), "v1.4.2".into())),
        "{evidence:#?}"
    );
    assert!(
        evidence.items.iter().any(|i| i.id == "deploy:a1b2c3d"),
        "{evidence:#?}"
    );
    assert!(
        evidence.items.iter().any(|i| i.id == "deploy:v1.5.0"),
        "{evidence:#?}"
    );
}

#[tokio::test]
async fn commits_on_the_base_branch_come_from_the_api_without_a_repository() {
    let (api, seen) = serve(true).await;
    let gh = GithubChanges::new(&api, "acme/shop", TOKEN.into());
    let from = medic::units::parse_rfc3339("2026-12-04T14:20:00Z").unwrap();
    let to = medic::units::parse_rfc3339("2026-12-04T20:25:00Z").unwrap();
    let c = gh.commits("main", from, to).await.unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].sha, "9f3c2ab41d5e");
    assert_eq!(c[0].author, "Dana");
    assert_eq!(c[0].subject, "checkout: cache cart totals");
    assert_eq!(c[0].files, ["src/cart.rs", "charts/checkout/values.yaml"]);
    assert_eq!(
        c[0].at,
        medic::units::parse_rfc3339("2026-12-04T19:41:00Z").unwrap()
    );
    let list = seen.lock().unwrap()[0].0.clone();
    assert!(
        list.contains("sha=main")
            && list.contains("since=2026-12-04T14:20:00Z")
            && list.contains("until=2026-12-04T20:25:00Z"),
        "{list}"
    );
    let changes = ForgeChanges {
        repo: None,
        base: "main".into(),
        github: Some(gh),
    };
    let (items, gaps) = changes.fetch("shop/checkout", from, to).await;
    assert!(gaps.is_empty(), "{gaps:?}");
    assert!(items
        .iter()
        .any(|i| matches!(i, ForgeChange::Commit(c) if c.author == "Dana")));
}
