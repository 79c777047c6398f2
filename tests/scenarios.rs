//! The scenario suite: labelled situations as data (`tests/scenarios/*.toml`),
//! each run through the real detector (default rules) and the real triage.
//! Prints a confusion matrix of verdicts (expected × got) and fails on any miss.
//!
//! A scenario file describes a 60-minute window at a 15 s step: per service,
//! each metric as a shape (base, ramp, level shift, sawtooth, spikes, jitter),
//! plus logs, deploys and upstream status pages. `demo = "api"` instead takes
//! the embedded demo fleet and judges that service.

use medic::config::default_rules;
use medic::detect::Detector;
use medic::model::{AlertState, FleetSnapshot, Metric, Millis, Series, ServiceId, ServiceMetrics};
use medic::sources::demo::{Demo, Deploy, LogLine, UpstreamIncident, UpstreamStatus, DEFAULT_SEED};
use medic::sources::evidence::{EvidenceSource, Fetched};
use serde::Deserialize;
use std::collections::BTreeMap;

const T0: Millis = 1_790_000_000_000;
const STEP: Millis = 15_000;
const MIN: Millis = 60_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    description: String,
    /// actionable | load | external | platform | noise | not flagged
    expect: String,
    /// The service judged.
    service: String,
    /// Take the embedded demo instead of `services`.
    #[serde(default)]
    demo: bool,
    #[serde(default = "sixty")]
    minutes: i64,
    #[serde(default)]
    services: BTreeMap<String, BTreeMap<String, Shape>>,
    #[serde(default)]
    logs: Vec<Log>,
    #[serde(default)]
    deploys: Vec<DeploySpec>,
    #[serde(default)]
    upstreams: Vec<Upstream>,
}

fn sixty() -> i64 {
    60
}

/// A metric's shape over the window; minutes count from the window's start.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Shape {
    base: f64,
    /// Linear ramp from `base` at minute `from` to `to` at the end.
    to: Option<f64>,
    #[serde(default)]
    from: f64,
    /// From minute `at`, the value is `level` (ramps and waves still add).
    at: Option<f64>,
    level: Option<f64>,
    /// Sawtooth: rises by `amplitude` over each `period` minutes, then drops.
    period: Option<f64>,
    #[serde(default)]
    amplitude: f64,
    /// Spikes of `height` for `width` minutes every `every` minutes.
    every: Option<f64>,
    #[serde(default)]
    width: f64,
    #[serde(default)]
    height: f64,
    /// Deterministic ± relative noise.
    #[serde(default)]
    jitter: f64,
}

impl Shape {
    fn at_minute(&self, m: f64, total: f64, i: usize) -> f64 {
        let mut v = match (self.at, self.level) {
            (Some(at), Some(level)) if m >= at => level,
            _ => self.base,
        };
        if let Some(to) = self.to {
            if m >= self.from {
                v += (to - self.base) * (m - self.from) / (total - self.from).max(1e-9);
            }
        }
        if let Some(p) = self.period {
            v += self.amplitude * (m.rem_euclid(p) / p);
        }
        if let Some(e) = self.every {
            if m.rem_euclid(e) < self.width {
                v += self.height;
            }
        }
        if self.jitter > 0.0 {
            // A fixed hash of the index: the same numbers every run.
            let h =
                ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64;
            v *= 1.0 + self.jitter * (2.0 * h - 1.0);
        }
        v.max(0.0)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Log {
    service: String,
    at: f64,
    level: String,
    message: String,
    #[serde(default = "one")]
    count: usize,
}

fn one() -> usize {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeploySpec {
    service: String,
    at: f64,
    version: String,
    previous: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Upstream {
    name: String,
    used_by: Vec<String>,
    indicator: String,
    incident: Option<String>,
    #[serde(default)]
    started: f64,
}

fn ms(minute: f64) -> Millis {
    T0 + (minute * MIN as f64) as Millis
}

/// What the scenario's world answers triage.
struct World<'a>(&'a Scenario);

impl EvidenceSource for World<'_> {
    async fn logs(&self, service: &str, from: Millis, to: Millis) -> Fetched<LogLine> {
        let mut out = Vec::new();
        for l in self.0.logs.iter().filter(|l| l.service == service) {
            for k in 0..l.count {
                let at = ms(l.at) + k as Millis * 1000;
                if at >= from && at < to {
                    out.push(LogLine {
                        at,
                        service: ServiceId(service.into()),
                        level: l.level.clone(),
                        message: l.message.replace("{n}", &k.to_string()),
                    });
                }
            }
        }
        out.sort_by_key(|l| l.at);
        Fetched::known(out)
    }

    async fn deploys(&self) -> Fetched<Deploy> {
        Fetched::known(
            self.0
                .deploys
                .iter()
                .map(|d| Deploy {
                    id: d.version.clone(),
                    service: ServiceId(d.service.clone()),
                    at: ms(d.at),
                    version: d.version.clone(),
                    previous: d.previous.clone(),
                    author: "ci".into(),
                    message: format!("deploy {}", d.version),
                })
                .collect(),
        )
    }

    async fn upstreams(&self, _now: Millis) -> Fetched<UpstreamStatus> {
        Fetched::known(
            self.0
                .upstreams
                .iter()
                .map(|u| UpstreamStatus {
                    name: u.name.clone(),
                    url: format!("https://status.{}.example", u.name),
                    indicator: u.indicator.clone(),
                    description: u.indicator.clone(),
                    incidents: u
                        .incident
                        .iter()
                        .map(|name| UpstreamIncident {
                            name: name.clone(),
                            status: "investigating".into(),
                            impact: u.indicator.clone(),
                            started_at: ms(u.started),
                        })
                        .collect(),
                    used_by: u.used_by.iter().cloned().map(ServiceId).collect(),
                })
                .collect(),
        )
    }
}

fn snapshot(s: &Scenario) -> FleetSnapshot {
    let n = (s.minutes * MIN / STEP) as usize + 1;
    let mut services = Vec::new();
    for (name, metrics) in &s.services {
        let mut sm = ServiceMetrics::new(ServiceId(name.clone()));
        for (metric, shape) in metrics {
            let m =
                Metric::from_name(metric).unwrap_or_else(|| panic!("unknown metric `{metric}`"));
            let values = (0..n)
                .map(|i| {
                    shape.at_minute(
                        (i as Millis * STEP) as f64 / MIN as f64,
                        s.minutes as f64,
                        i,
                    )
                })
                .collect();
            sm.set(
                m,
                Series {
                    start: T0,
                    step: STEP,
                    values,
                },
            );
        }
        services.push(sm);
    }
    FleetSnapshot {
        services,
        at: T0 + s.minutes * MIN,
        stale: false,
        missing: Vec::new(),
    }
}

/// The verdict medic gives the scenario's service, or "not flagged".
async fn run(s: &Scenario) -> (String, String) {
    let mut d = Detector::new(default_rules());
    let (snap, mut flags, evidence_words) = if s.demo {
        let demo = Demo::new(DEFAULT_SEED, T0);
        let snap = demo.snapshot(T0, 3_600_000, STEP);
        d.ingest(&snap);
        let mut flags = d.flags(&snap);
        let source = medic::sources::Source::Demo {
            demo,
            clock: medic::sources::demo::DemoClock::new(T0, 1.0),
        };
        medic::triage::judge_all(&source, &snap, &d, &mut flags).await;
        (snap, flags, String::new())
    } else {
        let snap = snapshot(s);
        d.ingest(&snap);
        let mut flags = d.flags(&snap);
        let bundles = medic::triage::judge_all(&World(s), &snap, &d, &mut flags).await;
        let words = bundles
            .iter()
            .map(|b| format!("{:?}", b.gaps))
            .collect::<Vec<_>>()
            .join(" ");
        (snap, flags, words)
    };
    let _ = (snap, evidence_words);
    flags.sort_by_key(|f| f.state != AlertState::Firing);
    match flags
        .iter()
        .find(|f| f.service.0 == s.service && f.state != AlertState::Resolved)
    {
        Some(f) => (
            f.verdict.word().to_string(),
            format!("{} {}: {}", f.rule, f.state.word(), f.reason),
        ),
        None => (
            "not flagged".into(),
            format!(
                "flags: {:?}",
                flags
                    .iter()
                    .map(|f| format!("{} {}", f.service, f.rule))
                    .collect::<Vec<_>>()
            ),
        ),
    }
}

#[tokio::test]
async fn every_scenario_gets_its_verdict() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 12,
        "at least 12 scenarios, found {}",
        files.len()
    );
    let labels = [
        "actionable",
        "load",
        "external",
        "platform",
        "noise",
        "not flagged",
    ];
    let mut matrix = [[0usize; 6]; 6];
    let mut misses = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let s: Scenario =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (got, why) = run(&s).await;
        let name = path.file_stem().unwrap().to_string_lossy();
        let (Some(e), Some(g)) = (
            labels.iter().position(|l| *l == s.expect),
            labels.iter().position(|l| *l == got),
        ) else {
            panic!("{name}: expect `{}` is not one of {labels:?}", s.expect);
        };
        matrix[e][g] += 1;
        let mark = if e == g { "✔" } else { "✖" };
        println!(
            "{mark} {name:<36} expected {:<11} got {got:<11} {why}",
            s.expect
        );
        if e != g {
            misses.push(format!(
                "{name} ({}): expected {}, got {got}: {why}",
                s.description, s.expect
            ));
        }
    }
    println!("\nconfusion matrix (rows: expected, columns: got)");
    print!("{:<12}", "");
    for l in labels {
        print!("{:>12}", l);
    }
    println!();
    for (i, row) in matrix.iter().enumerate() {
        print!("{:<12}", labels[i]);
        for c in row {
            print!("{c:>12}");
        }
        println!();
    }
    let right: usize = (0..6).map(|i| matrix[i][i]).sum();
    println!("{right} of {} scenarios right", files.len());
    assert!(misses.is_empty(), "misses:\n{}", misses.join("\n"));
}
