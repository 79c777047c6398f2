//! `preset = "kubernetes"` against a real Prometheus holding a backfilled
//! cluster (kube-state-metrics v2 and cAdvisor names and labels, see
//! `common/kube_cluster.rs`): workloads are the services, pod-level and
//! pause-container series are not counted twice, an unlimited container
//! has no limit (not 0 %), the namespaces filter holds, the OOM-looping
//! workload is the one flagged, and `medic doctor` says what is missing.
//!
//! Prometheus and promtool are installed by `.ci/run`; without them these
//! tests fail.

mod common;

use common::kube_cluster::{Cluster, CHECKOUT_LIMIT};
use common::*;
use medic::config::Config;
use medic::model::{Metric, ServiceMetrics};
use medic::sources::prometheus::Prometheus;
use std::path::{Path, PathBuf};

fn anchor() -> i64 {
    now_ms().div_euclid(60_000) * 60_000
}

fn config_text(port: u16, extra: &str) -> String {
    format!(
        "[source]\nkind = \"prometheus\"\nurl = \"http://127.0.0.1:{port}\"\npreset = \"kubernetes\"\nstep = \"15s\"\nlookback = \"1h\"\n{extra}\n"
    )
}

fn write_config(dir: &Path, port: u16, extra: &str) -> PathBuf {
    let path = dir.join("medic.toml");
    std::fs::write(&path, config_text(port, extra)).unwrap();
    path
}

fn last(svc: &ServiceMetrics, m: Metric) -> Option<f64> {
    svc.get(m)
        .and_then(|s| s.values.iter().rev().find(|v| !v.is_nan()).copied())
}

fn started(dir: &Path) -> (Running, u16) {
    need_prometheus();
    start_prometheus(dir, &Cluster::new(anchor()).openmetrics())
}

fn need_prometheus() {
    require("prometheus");
    require("promtool");
}

async fn snapshot(port: u16, extra: &str) -> Vec<ServiceMetrics> {
    let cfg = Config::parse(&config_text(port, extra), Path::new("medic.toml")).unwrap();
    let mut p = Prometheus::from_config(&cfg.source).unwrap();
    let now = now_ms();
    let snap = p.latest(now, 3_600_000, 15_000).await.unwrap();
    snap.services
}

#[tokio::test]
#[ignore = "needs prometheus and promtool (apt install prometheus); .ci/run installs them and runs ignored tests"]
async fn workloads_are_services_without_double_counting_and_unlimited_is_no_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = started(dir.path());
    for label in ["service", "workload"] {
        let extra =
            format!("service_label = \"{label}\"\nnamespaces = {{ exclude = [\"kube-system\"] }}");
        let services = snapshot(port, &extra).await;
        let names: Vec<&str> = services.iter().map(|s| s.service.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "logging/fluent-bit",
                "shop/cache",
                "shop/checkout",
                "shop/frontend",
                "shop/search"
            ],
            "label {label}"
        );
        let get = |n: &str| services.iter().find(|s| s.service.0 == n).unwrap();

        // The busiest pod against its limit: the pod cgroup (container="")
        // and the pause container must not add to its container.
        let checkout = get("shop/checkout");
        assert_eq!(last(checkout, Metric::MemoryLimit), Some(CHECKOUT_LIMIT));
        let mem = last(checkout, Metric::Memory).unwrap();
        assert!(
            mem > 0.5 * CHECKOUT_LIMIT && mem < 0.995 * CHECKOUT_LIMIT,
            "checkout memory {mem} counts a pod twice?"
        );
        assert_eq!(last(checkout, Metric::CpuLimit), Some(0.5));
        let cpu = last(checkout, Metric::Cpu).unwrap();
        assert!((cpu - 0.1).abs() < 0.01, "checkout cpu {cpu}");
        // The request counter carries `service="checkout-svc"` from its
        // ServiceMonitor; the workload name replaces it.
        let rps = last(checkout, Metric::Requests).unwrap();
        assert!((rps - 40.0).abs() < 0.5, "checkout requests {rps}");
        let eps = last(checkout, Metric::Errors).unwrap();
        assert!((eps - 0.04).abs() < 0.005, "checkout 5xx {eps}");

        // The statefulset's container has no limit: no limit, not 0 %.
        let cache = get("shop/cache");
        assert_eq!(last(cache, Metric::MemoryLimit), None);
        assert_eq!(last(cache, Metric::CpuLimit), None);
        assert_eq!(
            last(cache, Metric::Memory),
            Some(3.0 * 1024.0 * 1024.0 * 1024.0)
        );

        // One limited container and an unlimited sidecar: no limit either.
        let search = get("shop/search");
        assert_eq!(last(search, Metric::MemoryLimit), None);
        assert_eq!(last(search, Metric::CpuLimit), None);
        let mem = last(search, Metric::Memory).unwrap();
        assert!(
            (mem - (0.4 * 256.0 + 50.0) * 1024.0 * 1024.0).abs() < 1.0,
            "search memory {mem}"
        );

        let fluent = get("logging/fluent-bit");
        assert_eq!(
            last(fluent, Metric::MemoryLimit),
            Some(128.0 * 1024.0 * 1024.0)
        );
        let frontend = get("shop/frontend");
        let rps = last(frontend, Metric::Requests).unwrap();
        assert!((rps - 100.0).abs() < 1.0, "frontend requests {rps}");
    }
    let only = snapshot(port, "namespaces = { include = [\"logging\"] }").await;
    let names: Vec<&str> = only.iter().map(|s| s.service.0.as_str()).collect();
    assert_eq!(names, ["logging/fluent-bit"]);
    // Without the filter, kube-system's coredns is a workload too.
    let all = snapshot(port, "").await;
    assert!(all.iter().any(|s| s.service.0 == "kube-system/coredns"));
    assert!(!all.iter().any(|s| s.service.0.contains("debug-shell")));
}

#[test]
#[ignore = "needs prometheus and promtool (apt install prometheus); .ci/run installs them and runs ignored tests"]
fn scan_flags_only_the_oom_looping_workload() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = started(dir.path());
    let cfg = write_config(
        dir.path(),
        port,
        "namespaces = { exclude = [\"kube-system\"] }",
    );
    let started = std::time::Instant::now();
    let out = medic(&cfg, &["scan", "--once", "--json"]);
    // A figure for the report, never an assertion.
    eprintln!(
        "scan --once with preset = \"kubernetes\" (6 queries, kube evidence for 1 flag): {} ms",
        started.elapsed().as_millis()
    );
    let lines = json_lines(&out);
    let flagged: Vec<(String, String, String)> = lines
        .iter()
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap_or_default().to_string();
            (s("service"), s("rule"), s("state"))
        })
        .collect();
    assert_eq!(
        flagged,
        [(
            "shop/checkout".to_string(),
            "memory-near-limit".to_string(),
            "firing".to_string()
        )],
        "{lines:#?}"
    );
    assert_eq!(lines[0]["verdict"], "actionable", "{lines:#?}");
    assert!(
        lines[0]["reason"]
            .as_str()
            .unwrap()
            .contains("OOM-kill loop"),
        "{lines:#?}"
    );
    let value = lines[0]["value"].as_f64().unwrap();
    assert!(value > 0.9 && value < 1.0, "memory / limit = {value}");
}

#[test]
#[ignore = "needs prometheus and promtool (apt install prometheus); .ci/run installs them and runs ignored tests"]
fn doctor_counts_each_query_and_names_missing_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = started(dir.path());
    let cfg = write_config(dir.path(), port, "");
    let out = medic(&cfg, &["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for metric in [
        "cpu ",
        "cpu_limit",
        "memory ",
        "memory_limit",
        "requests",
        "errors",
    ] {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(metric) && l.contains("✔ ")),
            "{metric}: {text}"
        );
    }
    assert!(
        text.contains("kube_pod_owner{owner_is_controller=\"true\"}"),
        "{text}"
    );
    assert!(!text.contains("✖"), "{text}");
    eprintln!("{text}");

    // The same cluster read as if its series carried an `app` label: every
    // query comes back empty, and doctor says which label is missing.
    let plain = dir.path().join("plain.toml");
    std::fs::write(
        &plain,
        format!("[source]\nurl = \"http://127.0.0.1:{port}\"\npreset = \"plain\"\nservice_label = \"app\"\n"),
    )
    .unwrap();
    let out = medic(&plain, &["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("✖ 0 services: 1 series without the `app` label"),
        "{text}"
    );
    assert!(text.contains("missing labels: `app` on"), "{text}");
    // A request metric that is not there: no series, and who should export it.
    let typo = write_config(
        dir.path(),
        port,
        "request_metric = \"http_server_requests_total\"",
    );
    let out = medic(&typo, &["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("http_server_requests_total\n      ✖ no series (expected from the services' own /metrics, pod scrape)"),
        "{text}"
    );
}

#[tokio::test]
#[ignore = "needs prometheus and promtool (apt install prometheus); .ci/run installs them and runs ignored tests"]
async fn the_oom_loop_has_its_oomkilled_evidence_and_the_rollout_before_it() {
    use medic::detect::Detector;
    use medic::model::Verdict;
    use medic::sources::evidence::EvidenceSource;
    use medic::sources::kube::KubeFact;
    use medic::sources::Source;
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = started(dir.path());
    let text = config_text(port, "namespaces = { exclude = [\"kube-system\"] }");
    let cfg = Config::parse(&text, Path::new("medic.toml")).unwrap();
    let mut source = Source::Prometheus(Box::new(Prometheus::from_config(&cfg.source).unwrap()));
    let now = now_ms();
    let snap = source.latest(now, 3_600_000, 15_000).await.unwrap();
    let mut detector = Detector::new(cfg.rules());
    detector.ingest(&snap);
    let flags = detector.flags(&snap);
    let flag = flags
        .iter()
        .find(|f| f.service.0 == "shop/checkout")
        .expect("checkout flagged");
    let (evidence, signals, judgement) =
        medic::triage::assess(&source, &snap, &detector, &flags, flag).await;
    let ids: Vec<&str> = evidence.items.iter().map(|i| i.id.as_str()).collect();
    let oom = evidence
        .items
        .iter()
        .find(|i| i.id == "k8s:oomkilled:checkout")
        .unwrap_or_else(|| panic!("no OOMKilled item: {ids:?} {:?}", evidence.gaps));
    assert!(oom.title.contains("OOMKilled"), "{oom:?}");
    // Killed every 12 minutes since the rollout 40 minutes ago, in 2 pods.
    let restarts = signals.oom_restarts.unwrap();
    assert!(
        (4.0..=8.0).contains(&restarts),
        "restarts rose by {restarts}"
    );
    let rollout = evidence
        .items
        .iter()
        .find(|i| i.id == "k8s:rollout")
        .unwrap();
    assert!(rollout.title.contains("1.4.2 → 1.5.0"), "{rollout:?}");
    assert!(rollout.title.contains("before the onset"), "{rollout:?}");
    assert!(
        rollout
            .detail
            .contains("checkout-5f6d7c8b94 replaced checkout-7d9f8b6c5")
            && rollout.detail.contains("observed generation 3 → 4"),
        "{rollout:?}"
    );
    assert_eq!(judgement.verdict, Verdict::Actionable, "{judgement:?}");
    assert!(
        judgement.reasons[0].contains("OOM-kill loop"),
        "{judgement:?}"
    );
    assert!(
        judgement
            .reason()
            .contains("rollout checkout-5f6d7c8b94 (1.4.2 → 1.5.0) precedes the onset"),
        "{judgement:?}"
    );
    // The other workloads' facts, each as kube-state-metrics says it.
    let facts = |svc: &'static str| {
        let source = &source;
        async move {
            let f = EvidenceSource::kube(source, svc, now - 600_000, now).await;
            assert!(f.gaps.is_empty(), "{svc}: {:?}", f.gaps);
            f.items.unwrap()
        }
    };
    let pressure = KubeFact::NodePressure {
        condition: "MemoryPressure".into(),
        nodes: vec!["node-b".into()],
        of: 2,
    };
    assert_eq!(
        facts("shop/frontend").await,
        [
            KubeFact::HpaAtMax {
                hpa: "frontend".into(),
                replicas: 2.0
            },
            pressure.clone()
        ]
    );
    assert_eq!(
        facts("shop/cache").await,
        [
            KubeFact::Pending {
                pods: vec!["cache-1".into()]
            },
            pressure.clone()
        ]
    );
    assert_eq!(
        facts("logging/fluent-bit").await,
        [
            KubeFact::Waiting {
                container: "fluent-bit".into(),
                reason: "ImagePullBackOff".into(),
                pods: vec!["fluent-bit-m9q4r".into()]
            },
            pressure.clone()
        ]
    );
    assert!(ids.contains(&"k8s:unavailable"), "{ids:?}");
    assert!(ids.contains(&"k8s:node-pressure:memorypressure"), "{ids:?}");
    // One node of two under pressure is not the platform.
    assert_eq!(signals.nodes_under_pressure, Some((1, 2)));
}

/// A repository the way Kubernetes services are deployed: a Helm chart per
/// workload, as the local forge's remote (`<data>/forge/repos/shop.git`).
fn helm_repo(data: &Path) {
    let work = data.join("seed");
    let files = [
        ("charts/checkout/Chart.yaml", "apiVersion: v2\nname: checkout\nversion: 0.4.0\nappVersion: \"1.5.0\"\n"),
        (
            "charts/checkout/values.yaml",
            "# checkout: the shop's payment flow\nreplicaCount: 2\nimage:\n  repository: registry.example.com/shop/checkout\n  tag: \"1.5.0\"   # set by CI\nresources:\n  requests:\n    memory: 256Mi\n  limits:\n    cpu: 500m\n    memory: 512Mi\n",
        ),
        (
            "charts/checkout/templates/deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include \"checkout.fullname\" . }}\nspec:\n  replicas: {{ .Values.replicaCount }}\n",
        ),
        ("charts/frontend/Chart.yaml", "apiVersion: v2\nname: frontend\nversion: 1.0.0\n"),
        (
            "charts/frontend/values.yaml",
            "replicaCount: 2\nresources:\n  limits:\n    memory: 256Mi\n",
        ),
    ];
    for (path, text) in files {
        let p = work.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let bare = data.join("forge/repos/shop.git");
    std::fs::create_dir_all(&bare).unwrap();
    let git = |dir: &Path, args: &[&str]| {
        let o = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=ci",
                "-c",
                "user.email=ci@example.com",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    git(&bare, &["init", "--bare", "-q"]);
    git(&work, &["init", "-q"]);
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "charts"]);
    git(
        &work,
        &["push", "-q", bare.to_str().unwrap(), "HEAD:refs/heads/main"],
    );
}

#[test]
#[ignore = "needs prometheus and promtool (apt install prometheus); .ci/run installs them and runs ignored tests"]
fn fix_proposes_a_helm_values_change_for_the_oom_loop() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = started(dir.path());
    let cfg = write_config(
        dir.path(),
        port,
        "namespaces = { exclude = [\"kube-system\"] }",
    );
    let data = dir.path().join("data");
    helm_repo(&data);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_medic"))
        .args(["fix", "shop/checkout", "--yes", "--config"])
        .arg(&cfg)
        .env("MEDIC_DATA_DIR", &data)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("pull request #1 opened"), "{text}");
    let branches = medic_branches(&data);
    assert_eq!(branches.len(), 1, "{branches:?}\n{text}");
    let diff = std::process::Command::new("git")
        .args([
            "diff",
            "main",
            branches[0].trim_start_matches("refs/heads/"),
        ])
        .current_dir(data.join("forge/repos/shop.git"))
        .output()
        .unwrap();
    let diff = String::from_utf8_lossy(&diff.stdout);
    assert!(diff.contains("charts/checkout/values.yaml"), "{diff}");
    assert!(diff.contains("-    memory: 512Mi\n"), "{diff}");
    let added: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .collect();
    assert_eq!(added.len(), 1, "one value changed: {diff}");
    assert!(added[0].starts_with("+    memory: "), "{diff}");
    assert!(!diff.contains("frontend"), "{diff}");
    eprintln!("medic fix shop/checkout: {}", added[0]);
}

#[tokio::test]
#[ignore = "needs prometheus and promtool (apt install prometheus); .ci/run installs them and runs ignored tests"]
async fn the_cadvisor_preset_names_services_by_namespace_and_container() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = started(dir.path());
    let text = format!(
        "[source]\nurl = \"http://127.0.0.1:{port}\"\npreset = \"cadvisor\"\nnamespaces = {{ include = [\"shop\"] }}\n"
    );
    let cfg = Config::parse(&text, Path::new("medic.toml")).unwrap();
    let mut p = Prometheus::from_config(&cfg.source).unwrap();
    let services = p
        .latest(now_ms(), 3_600_000, 15_000)
        .await
        .unwrap()
        .services;
    let names: Vec<&str> = services.iter().map(|s| s.service.0.as_str()).collect();
    // No owners without kube-state-metrics: the bare pod's container is a service too.
    assert_eq!(
        names,
        [
            "shop/checkout",
            "shop/envoy",
            "shop/frontend",
            "shop/redis",
            "shop/search",
            "shop/shell"
        ]
    );
    let get = |n: &str| services.iter().find(|s| s.service.0 == n).unwrap();
    let checkout = get("shop/checkout");
    assert_eq!(last(checkout, Metric::MemoryLimit), Some(CHECKOUT_LIMIT));
    let mem = last(checkout, Metric::Memory).unwrap();
    assert!(
        mem > 0.5 * CHECKOUT_LIMIT && mem < 0.995 * CHECKOUT_LIMIT,
        "{mem}"
    );
    // cAdvisor's 0 is "unlimited": medic reads it as no limit, never 0 %.
    let redis = get("shop/redis");
    assert_eq!(last(redis, Metric::MemoryLimit), Some(0.0));
    assert!(!medic::model::is_limit(
        last(redis, Metric::MemoryLimit).unwrap()
    ));
    let rps = last(get("shop/frontend"), Metric::Requests).unwrap();
    assert!((rps - 100.0).abs() < 1.0, "{rps}");
}
