//! The GitHub forge against a local server speaking GitHub's REST shapes.
//!
//! The server (axum on 127.0.0.1) answers a script, one reply per request,
//! and records what octocrab really sent: method, path (under a GitHub
//! Enterprise style `/api/v3` prefix), query, `Authorization` header and
//! JSON body. Replies follow the "List pull requests" / "Create a pull
//! request" documentation (pull request objects with `number`, `html_url`,
//! `state`, `draft`, `head.ref`, `base.ref`, users and repositories), and
//! the documented error bodies (`message`, `errors`, `documentation_url`).

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use medic::config::ForgeConfig;
use medic::forge::github::GithubForge;
use medic::forge::{BranchName, Forge, ForgeError, NewPullRequest};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

const TOKEN: &str = "ghp_EXAMPLEtoken0123456789";
const TOKEN_ENV: &str = "MEDIC_TEST_GH_TOKEN";

struct Reply {
    status: u16,
    body: String,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        body: body.to_string(),
    }
}

#[derive(Debug, Clone)]
struct Request {
    method: Method,
    path: String,
    query: String,
    auth: Option<String>,
    body: Value,
}

struct Server {
    api_url: String,
    received: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    async fn start(replies: Vec<Reply>) -> Server {
        let replies = Arc::new(Mutex::new(VecDeque::from(replies)));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (r2, rec2) = (replies.clone(), received.clone());
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (replies, received) = (r2.clone(), rec2.clone());
                async move {
                    received.lock().unwrap().push(Request {
                        method,
                        path: uri.path().to_string(),
                        query: uri.query().unwrap_or("").to_string(),
                        auth: headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(String::from),
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    });
                    let r = replies.lock().unwrap().pop_front().unwrap_or(Reply {
                        status: 500,
                        body: r#"{"message":"script exhausted"}"#.into(),
                    });
                    Response::builder()
                        .status(r.status)
                        .header("content-type", "application/json; charset=utf-8")
                        .body(Body::from(r.body))
                        .unwrap()
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api_url = format!("http://{}/api/v3", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { api_url, received }
    }

    fn forge(&self) -> GithubForge {
        GithubForge::new("acme/api", Some(&self.api_url), TOKEN_ENV, TOKEN.into()).unwrap()
    }

    fn received(&self) -> Vec<Request> {
        self.received.lock().unwrap().clone()
    }
}

fn user() -> Value {
    let u = "https://api.github.com/users/medic-bot";
    json!({
        "login": "medic-bot", "id": 1, "node_id": "MDQ6VXNlcjE=",
        "avatar_url": "https://github.com/images/error/octocat_happy.gif", "gravatar_id": "",
        "url": u, "html_url": "https://github.com/medic-bot",
        "followers_url": format!("{u}/followers"),
        "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"),
        "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"),
        "organizations_url": format!("{u}/orgs"), "repos_url": format!("{u}/repos"),
        "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"),
        "type": "User", "site_admin": false
    })
}

fn repo() -> Value {
    json!({
        "id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": "api",
        "full_name": "acme/api", "owner": user(), "private": false,
        "html_url": "https://github.com/acme/api", "description": "The api service",
        "fork": false, "url": "https://api.github.com/repos/acme/api",
        "default_branch": "main"
    })
}

/// A pull request object as "List pull requests" and "Create a pull request" document it.
fn pull(number: u64, branch: &str, draft: bool) -> Value {
    let api = format!("https://api.github.com/repos/acme/api/pulls/{number}");
    json!({
        "url": api, "id": 1000 + number, "node_id": "MDExOlB1bGxSZXF1ZXN0MQ==",
        "html_url": format!("https://github.com/acme/api/pull/{number}"),
        "diff_url": format!("https://github.com/acme/api/pull/{number}.diff"),
        "patch_url": format!("https://github.com/acme/api/pull/{number}.patch"),
        "issue_url": format!("https://api.github.com/repos/acme/api/issues/{number}"),
        "commits_url": format!("{api}/commits"),
        "review_comments_url": format!("{api}/comments"),
        "review_comment_url": "https://api.github.com/repos/acme/api/pulls/comments{/number}",
        "comments_url": format!("https://api.github.com/repos/acme/api/issues/{number}/comments"),
        "statuses_url": "https://api.github.com/repos/acme/api/statuses/6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "number": number, "state": "open", "locked": false,
        "title": "api: raise the memory limit", "user": user(),
        "body": "Raises the memory limit.", "labels": [], "milestone": null,
        "active_lock_reason": null,
        "created_at": "2026-11-28T12:00:00Z", "updated_at": "2026-11-28T12:00:00Z",
        "closed_at": null, "merged_at": null, "merge_commit_sha": null,
        "assignee": null, "assignees": [], "requested_reviewers": [], "requested_teams": [],
        "head": {"label": format!("acme:{branch}"), "ref": branch,
                 "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e", "user": user(), "repo": repo()},
        "base": {"label": "acme:main", "ref": "main",
                 "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5f", "user": user(), "repo": repo()},
        "author_association": "MEMBER", "auto_merge": null, "draft": draft
    })
}

fn branch() -> BranchName {
    BranchName::new("inc-42", "api raise-memory-limit").unwrap()
}

fn new_pr() -> NewPullRequest {
    NewPullRequest {
        title: "api: raise the memory limit".into(),
        body: "## Summary\nRaises the memory limit.".into(),
        branch: branch(),
        base: "main".into(),
        diff: "diff --git a/x b/x\n".into(),
    }
}

fn assert_list_request(r: &Request) {
    assert_eq!(r.method, Method::GET);
    assert_eq!(r.path, "/api/v3/repos/acme/api/pulls");
    let q: Vec<(String, String)> = url_pairs(&r.query);
    assert!(q.contains(&("state".into(), "open".into())), "{q:?}");
    assert!(
        q.contains(&("head".into(), format!("acme:{}", branch()))),
        "{q:?}"
    );
    assert_eq!(r.auth.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%3A", ":").replace("%2F", "/")))
        .collect()
}

#[tokio::test]
async fn creates_a_draft_when_none_is_open() {
    let b = branch();
    let server = Server::start(vec![
        reply(200, json!([])),
        reply(201, pull(7, b.as_str(), true)),
    ])
    .await;
    let pr = server.forge().open_pr(new_pr()).await.unwrap();
    assert_eq!(pr.number, 7);
    assert_eq!(pr.url, "https://github.com/acme/api/pull/7");
    assert_eq!(pr.branch, b.as_str());
    assert_eq!(pr.base, "main");
    assert!(pr.draft);

    let rx = server.received();
    assert_eq!(rx.len(), 2, "{rx:?}");
    assert_list_request(&rx[0]);
    let create = &rx[1];
    assert_eq!(create.method, Method::POST);
    assert_eq!(create.path, "/api/v3/repos/acme/api/pulls");
    assert_eq!(
        create.auth.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(create.body["draft"], json!(true));
    assert_eq!(create.body["head"], json!(b.as_str()));
    assert_eq!(create.body["base"], json!("main"));
    assert_eq!(create.body["title"], json!("api: raise the memory limit"));
    assert_eq!(
        create.body["body"],
        json!("## Summary\nRaises the memory limit.")
    );
}

#[tokio::test]
async fn adopts_the_open_pull_request_from_the_branch() {
    let server = Server::start(vec![reply(200, json!([pull(3, branch().as_str(), true)]))]).await;
    let pr = server.forge().open_pr(new_pr()).await.unwrap();
    assert_eq!(pr.number, 3);
    let rx = server.received();
    assert_eq!(rx.len(), 1, "no create when one is open: {rx:?}");
    assert_list_request(&rx[0]);
}

#[tokio::test]
async fn a_pull_request_from_another_branch_is_not_adopted() {
    // A server that ignores the `head` filter must not make medic adopt it.
    let server = Server::start(vec![
        reply(200, json!([pull(2, "someone/else", false)])),
        reply(201, pull(8, branch().as_str(), true)),
    ])
    .await;
    let pr = server.forge().open_pr(new_pr()).await.unwrap();
    assert_eq!(pr.number, 8);
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn already_exists_422_looks_again_and_adopts() {
    let b = branch();
    let server = Server::start(vec![
        reply(200, json!([])),
        reply(
            422,
            json!({
                "message": "Validation Failed",
                "errors": [{"resource": "PullRequest", "code": "custom",
                            "message": format!("A pull request already exists for acme:{b}.")}],
                "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
                "status": "422"
            }),
        ),
        reply(200, json!([pull(5, b.as_str(), true)])),
    ])
    .await;
    let pr = server.forge().open_pr(new_pr()).await.unwrap();
    assert_eq!(pr.number, 5);
    let rx = server.received();
    assert_eq!(rx.len(), 3);
    assert_eq!(rx[1].method, Method::POST);
    assert_list_request(&rx[2]);
}

#[tokio::test]
async fn another_422_is_an_error_saying_what_github_said() {
    let server = Server::start(vec![
        reply(200, json!([])),
        reply(
            422,
            json!({"message": "Validation Failed",
                   "errors": [{"resource": "PullRequest", "field": "base", "code": "invalid"}],
                   "documentation_url": "https://docs.github.com/rest", "status": "422"}),
        ),
    ])
    .await;
    let err = server.forge().open_pr(new_pr()).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ForgeError::Github { .. }), "{err:?}");
    assert!(
        text.contains("422") && text.contains("Validation Failed"),
        "{text}"
    );
    assert_eq!(server.received().len(), 2, "no retry loop on a real 422");
}

#[tokio::test]
async fn bad_credentials_401_names_the_env_var_not_the_token() {
    let server = Server::start(vec![reply(
        401,
        json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
    )])
    .await;
    let err = server.forge().open_pr(new_pr()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, ForgeError::GithubAuth { status: 401, .. }),
        "{err:?}"
    );
    assert!(text.contains(TOKEN_ENV), "{text}");
    assert!(text.contains("Bad credentials"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    assert!(!format!("{err:?}").contains(TOKEN));
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn forbidden_403_is_an_auth_error_too() {
    let server = Server::start(vec![
        reply(200, json!([])),
        reply(
            403,
            json!({"message": "Resource not accessible by personal access token", "documentation_url": "https://docs.github.com/rest", "status": "403"}),
        ),
    ])
    .await;
    let err = server.forge().open_pr(new_pr()).await.unwrap_err();
    assert!(
        matches!(err, ForgeError::GithubAuth { status: 403, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(TOKEN_ENV));
}

#[tokio::test]
async fn garbage_answers_are_clear_errors() {
    for (status, body) in [
        (200, "{not json".to_string()),
        (200, json!({"items": 1}).to_string()),
        (200, json!([{"number": "seven"}]).to_string()),
    ] {
        let server = Server::start(vec![Reply { status, body }]).await;
        let err = server.forge().find_open_pr(&branch()).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ForgeError::Github { .. }), "{err:?}");
        assert!(
            text.contains("GitHub: could not list pull requests"),
            "{text}"
        );
        assert!(!text.contains(TOKEN), "{text}");
    }
    // A create answered with garbage.
    let server = Server::start(vec![
        reply(200, json!([])),
        Reply {
            status: 201,
            body: "<html>oops</html>".into(),
        },
    ])
    .await;
    let err = server.forge().open_pr(new_pr()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("GitHub: could not open a pull request"),
        "{err}"
    );
}

#[tokio::test]
async fn the_forge_comes_from_config_with_the_token_from_env() {
    let mut cfg = ForgeConfig {
        kind: "github".into(),
        repo: Some("acme/api".into()),
        token_env: "MEDIC_TEST_GH_TOKEN_UNSET".into(),
        api_url: Some("http://127.0.0.1:9/api/v3".into()),
        ..ForgeConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let err = Forge::from_config(&cfg, dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("MEDIC_TEST_GH_TOKEN_UNSET"),
        "{err}"
    );
    // SAFETY (edition 2021: safe): only this test reads this variable.
    std::env::set_var("MEDIC_TEST_GH_TOKEN_SET", TOKEN);
    cfg.token_env = "MEDIC_TEST_GH_TOKEN_SET".into();
    let forge = Forge::from_config(&cfg, dir.path()).unwrap();
    assert!(matches!(forge, Forge::Github(_)));
    assert_eq!(forge.remote_url(), "http://127.0.0.1:9/acme/api.git");
    assert!(!forge.remote_url().contains(TOKEN));
    assert!(!format!("{forge:?}").contains(TOKEN));
    assert!(!format!("{:?}", forge.credentials()).contains(TOKEN));
    cfg.kind = "gitlab".into();
    assert!(Forge::from_config(&cfg, dir.path())
        .unwrap_err()
        .to_string()
        .contains("forge.kind"));
}

/// An issue comment as "List issue comments" / "Create an issue comment" document it.
fn comment(id: u64, body: &str) -> Value {
    json!({
        "id": id, "node_id": "MDEyOklzc3VlQ29tbWVudDE=",
        "url": format!("https://api.github.com/repos/acme/api/issues/comments/{id}"),
        "html_url": format!("https://github.com/acme/api/pull/7#issuecomment-{id}"),
        "body": body, "user": user(),
        "created_at": "2026-11-28T13:00:00Z", "updated_at": "2026-11-28T13:00:00Z",
        "issue_url": "https://api.github.com/repos/acme/api/issues/7",
        "author_association": "MEMBER"
    })
}

#[tokio::test]
async fn merged_state_and_merge_commit_come_from_get_a_pull_request() {
    let mut merged = pull(7, branch().as_str(), false);
    merged["state"] = json!("closed");
    merged["merged"] = json!(true);
    merged["merged_at"] = json!("2026-11-28T12:30:00Z");
    merged["closed_at"] = json!("2026-11-28T12:30:00Z");
    merged["merge_commit_sha"] = json!("e5bd3914e2e596debea16f433f57875b5b90bcd6");
    let server = Server::start(vec![
        reply(200, pull(7, branch().as_str(), true)),
        reply(200, merged),
    ])
    .await;
    let forge = Forge::Github(server.forge());
    assert_eq!(forge.merged(7).await.unwrap(), None, "open: not merged");
    let m = forge.merged(7).await.unwrap().expect("merged");
    assert_eq!(m.commit, "e5bd3914e2e596debea16f433f57875b5b90bcd6");
    let rx = server.received();
    assert_eq!(rx[1].method, Method::GET);
    assert_eq!(rx[1].path, "/api/v3/repos/acme/api/pulls/7");
    assert_eq!(
        rx[1].auth.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
}

#[tokio::test]
async fn the_outcome_comment_is_posted_once() {
    let marker = "<!-- medic:outcome:inc-42 -->";
    let body = format!("{marker}\n### medic: ✔ verified 31m after deploy");
    let server = Server::start(vec![
        reply(200, json!([comment(1, "LGTM")])),
        reply(201, comment(2, &body)),
        // A retry after a crash between posting and journaling it.
        reply(200, json!([comment(1, "LGTM"), comment(2, &body)])),
    ])
    .await;
    let forge = Forge::Github(server.forge());
    forge.comment(7, marker, body.clone()).await.unwrap();
    forge.comment(7, marker, body.clone()).await.unwrap();
    let rx = server.received();
    assert_eq!(rx.len(), 3, "list, create, list: {rx:?}");
    assert_eq!(rx[0].path, "/api/v3/repos/acme/api/issues/7/comments");
    assert_eq!(rx[1].method, Method::POST);
    assert_eq!(rx[1].path, "/api/v3/repos/acme/api/issues/7/comments");
    assert_eq!(rx[1].body["body"], json!(body));
}
