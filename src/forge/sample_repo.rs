//! The demo's sample service repository: deployment manifests for the demo
//! fleet (`sources::demo`), created as a bare repository with one commit on
//! `main`, byte for byte the same every time (fixed author, time and
//! content, so the commit id is stable).
//!
//! The manifests match the simulated fleet: `api` at `v2.14.0` with a 32 GB
//! memory limit, `checkout` at `v3.8.1` (previous `v3.8.0`), `web` with 2
//! cores. They carry comments, mixed indentation, quoting and a flow
//! mapping on purpose: edits must leave all of that alone. This room only
//! creates the repository; it never changes one that exists.

use super::ForgeError;
use git2::{Oid, Repository, Signature, Time};
use std::collections::BTreeMap;
use std::path::Path;

/// The sample repository's name in the local forge.
pub const REPO: &str = "shop";
/// Its base branch.
pub const BASE: &str = "main";
/// When its commit was made: 2024-01-01T00:00:00Z.
const COMMITTED_AT: i64 = 1_704_067_200;

const README: &str = "# shop

The demo shop's services and how they are deployed. medic's embedded demo
clones this repository to carry out approved plans.

- `deploy/` — Kubernetes Deployments for api, checkout, web and auth
- `docker-compose.yml` — email and batch (run on the ops host)
- `billing/railway.toml` — billing, on Railway
- `search/fly.toml` — search, on Fly.io
- `api/` — the api service's code
";

const API_YAML: &str = r#"# api: the public HTTP API.
# Owned by team-platform; page #oncall-platform before changing limits.
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels:
    app: api
    tier: backend   # scraped by the fleet dashboards
spec:
  replicas: 3 # the HPA keeps 3..6
  selector:
    matchLabels:
      app: api
  template:
    metadata:
      labels:
        app: api
    spec:
      containers:
        - name: api
          image: registry.example/api:v2.14.0   # deployed by CI (a17be44)
          ports:
            - containerPort: 8080
          env:
            - name: SESSION_CACHE
              value: "in-process"
          resources:
            requests:
              cpu: "2"
              memory: 16G
            limits:
              cpu: "4"
              memory: 32G    # raised from 24G in March (INC-311)
        - name: log-shipper   # sidecar: must keep its own limit
          image: registry.example/vector:0.39.0
          resources:
            limits:
              memory: 256Mi
---
apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  selector:
    app: api
  ports:
  - port: 80
    targetPort: 8080
"#;

const CHECKOUT_YAML: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
    name: checkout
    annotations:
        # The payment client moved to the v2 SDK in v3.8.1 (9f3c2ab).
        shop.example/owner: "team-payments"
spec:
    replicas: 4
    selector:
        matchLabels: {app: checkout}
    template:
        metadata:
            labels: {app: checkout}
        spec:
            containers:
            - name: checkout
              image: "registry.example/checkout:v3.8.1"  # previous: v3.8.0
              resources:
                  limits:
                      cpu: 2
                      memory: '2G'
"#;

const WEB_YAML: &str = r#"# web: the storefront. Traffic follows campaigns; scale out, not up.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2   # one per zone
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: registry.example/web:v12.4.0
        resources:
          requests: {cpu: 500m, memory: 1G}   # flow style, left alone
          limits:
            cpu: "2"        # 2 cores
            memory: 4G
"#;

const AUTH_YAML: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: auth
spec:
  replicas: 2
  selector:
    matchLabels:
      app: auth
  template:
    metadata:
      labels:
        app: auth
    spec:
      containers:
        - name: auth
          image: registry.example/auth:v4.1.2
          resources:
            limits:
              cpu: "1"
              memory: 1Gi
"#;

const COMPOSE: &str = r#"# Services on the ops host. `docker compose up -d` after editing.
x-logging: &default-logging
  driver: json-file
  options: { max-size: "10m" }

services:
  email:
    image: registry.example/email:v1.9.2   # talks to postmark
    environment:
      POSTMARK_SERVER: "https://api.postmarkapp.example"
    logging: *default-logging
    deploy:
      replicas: 2
      resources:
        limits:
          cpus: "1"
          memory: 1g      # docker units: 1g = 1 GiB

  batch:
    image: "registry.example/batch:v0.31.0"
    command: ["batch", "--every", "9m"]
    logging: *default-logging
    deploy:
      replicas: 1
      resources:
        limits:
          cpus: '4'
          memory: 8g

  redis:
    image: redis:7.2-alpine
"#;

const RAILWAY_TOML: &str = r#"# Railway config-as-code for billing.
[build]
builder = "DOCKERFILE"
dockerfilePath = "billing/Dockerfile"   # relative to the repo root

[deploy]
startCommand = "bin/billing serve"
numReplicas   = 2 # one per region
healthcheckPath = "/healthz"
restartPolicyType = "ON_FAILURE"
"#;

const BILLING_DOCKERFILE: &str = "FROM registry.example/base:2024.01
COPY bin/billing /bin/billing
CMD [\"/bin/billing\", \"serve\"]
";

const FLY_TOML: &str = r#"# fly.toml app configuration file for search
app = 'search'
primary_region = 'ams'

[build]
  image = 'registry.example/search:v7.0.3'

[http_service]
  internal_port = 8080
  force_https = true
  auto_stop_machines = 'stop'
  min_machines_running = 2   # never scale to zero: the index is warm

[[vm]]
  memory = '16gb'   # search keeps its index in RAM
  cpu_kind = 'performance'
  cpus = 4
"#;

const SESSION_CACHE: &str = r#""""In-process cache of user sessions (added in v2.14.0, a17be44).

Faster than asking the session store on every request.
"""

_sessions = {}


def get_session(store, session_id):
    """The session, from the cache or the store."""
    session = _sessions.get(session_id)
    if session is None:
        session = store.load(session_id)
        # TODO: bound this cache; every session ever seen stays here.
        _sessions[session_id] = session
    return session
"#;

/// Every file of the sample repository: (path, content).
pub fn files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("README.md", README),
        ("api/session_cache.py", SESSION_CACHE),
        ("billing/Dockerfile", BILLING_DOCKERFILE),
        ("billing/railway.toml", RAILWAY_TOML),
        ("deploy/api.yaml", API_YAML),
        ("deploy/auth.yaml", AUTH_YAML),
        ("deploy/checkout.yaml", CHECKOUT_YAML),
        ("deploy/web.yaml", WEB_YAML),
        ("docker-compose.yml", COMPOSE),
        ("search/fly.toml", FLY_TOML),
    ]
}

/// Creates the sample repository as a bare repository at `path` and
/// returns its `main` commit. If a repository is already there, returns
/// its `main` commit and changes nothing.
///
/// The repository is built beside `path` and renamed into place, so a
/// process killed half-way leaves no half-made repository behind.
pub fn create(path: &Path) -> Result<Oid, ForgeError> {
    let main = |repo: &Repository| {
        repo.refname_to_id(&format!("refs/heads/{BASE}"))
            .map_err(ForgeError::git("read the sample repository"))
    };
    if let Ok(repo) = Repository::open_bare(path) {
        return main(&repo);
    }
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(ForgeError::io(parent))?;
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(ForgeError::io(&partial))?;
    }
    build(&partial)?;
    std::fs::rename(&partial, path).map_err(ForgeError::io(path))?;
    main(&Repository::open_bare(path).map_err(ForgeError::git("read the sample repository"))?)
}

/// Writes the sample repository as a bare repository at `path`.
fn build(path: &Path) -> Result<Oid, ForgeError> {
    let e = || ForgeError::git("create the sample repository");
    let repo = Repository::init_bare(path).map_err(e())?;
    let tree = write_tree(&repo, &files()).map_err(e())?;
    let tree = repo.find_tree(tree).map_err(e())?;
    let sig = Signature::new(
        "medic demo",
        "demo@medic.invalid",
        &Time::new(COMMITTED_AT, 0),
    )
    .map_err(e())?;
    let refname = format!("refs/heads/{BASE}");
    let oid = repo
        .commit(
            Some(&refname),
            &sig,
            &sig,
            "Deployment manifests for the shop\n",
            &tree,
            &[],
        )
        .map_err(e())?;
    repo.set_head(&refname).map_err(e())?;
    Ok(oid)
}

/// Writes `files` as nested trees; returns the root tree.
fn write_tree(repo: &Repository, files: &[(&str, &str)]) -> Result<Oid, git2::Error> {
    let mut here: Vec<(&str, &str)> = Vec::new();
    let mut dirs: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for (path, content) in files {
        match path.split_once('/') {
            Some((dir, rest)) => dirs.entry(dir).or_default().push((rest, content)),
            None => here.push((path, content)),
        }
    }
    let mut tb = repo.treebuilder(None)?;
    for (name, content) in here {
        let blob = repo.blob(content.as_bytes())?;
        tb.insert(name, blob, 0o100644)?;
    }
    for (dir, inner) in dirs {
        let sub = write_tree(repo, &inner)?;
        tb.insert(dir, sub, 0o040000)?;
    }
    tb.write()
}
