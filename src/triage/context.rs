//! Evidence: for a flagged service, everything an engineer would look at
//! first — the metric and its neighbours around the onset, logs folded with
//! counts, recent deploys, upstream status pages, the rest of the project —
//! each item with a stable id a plan can cite. Also the numbers triage
//! judges by ([`Signals`]). Pure: the caller fetches, this module assembles.
//! The bundle comes out redacted (titles, details, gaps): it is journaled,
//! shown, prompted and put in PR bodies, and none of them may hold a secret.

use crate::model::{Evidence, EvidenceItem, EvidenceKind, Flag, Metric, Millis, ServiceMetrics};
use crate::sources::demo::{Deploy, LogLine, UpstreamStatus};
use crate::sources::evidence::Fetched;
use crate::triage::redact::redact_str;
use crate::units;

/// How far before the onset "before" looks.
const BEFORE: Millis = 15 * 60_000;
/// At most this many folded log items.
const MAX_LOG_ITEMS: usize = 30;

/// The raw material for one flag, as fetched by the caller.
#[derive(Debug, Clone)]
pub struct Material<'a> {
    /// The flag being triaged.
    pub flag: &'a Flag,
    /// The service's metrics over the window.
    pub metrics: &'a ServiceMetrics,
    /// Log lines around the onset, or why there are none.
    pub logs: Fetched<LogLine>,
    /// Recent deploys of the fleet, or why they are unknown.
    pub deploys: Fetched<Deploy>,
    /// Upstream status pages, or why they are unknown.
    pub upstreams: Fetched<UpstreamStatus>,
    /// What Kubernetes says about the workload (empty off Kubernetes).
    pub kube: Fetched<crate::sources::kube::KubeFact>,
    /// What the forge says changed before the onset (suspect commits, GitHub deployments).
    pub changes: Fetched<crate::forge::changes::ForgeChange>,
    /// Every current flag in the project (this one included).
    pub project_flags: &'a [Flag],
    /// How many services the project has.
    pub project_size: usize,
    /// State changes of this rule for this service in the last hour (flapping).
    pub recent_transitions: usize,
    /// The instant of judgement.
    pub now: Millis,
}

/// The numbers verdicts are decided on.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Signals {
    /// The flagged metric.
    pub metric: Option<Metric>,
    /// Requests after the onset ÷ before.
    pub traffic_ratio: Option<f64>,
    /// The flagged metric after the onset ÷ before.
    pub usage_ratio: Option<f64>,
    /// 5xx share of requests before the onset.
    pub error_rate_before: Option<f64>,
    /// 5xx share of requests after the onset.
    pub error_rate_after: Option<f64>,
    /// Requests per second now.
    pub requests_now: Option<f64>,
    /// An upstream this service uses whose incident overlaps the onset: (name, start).
    pub upstream_incident: Option<(String, Millis)>,
    /// Share of error log lines after the onset that blame an upstream call.
    #[serde(with = "crate::model::absent")]
    pub upstream_error_share: f64,
    /// The service's deploy shortly before the onset: (id, version, previous version).
    pub deploy_before_onset: Option<(String, String, String)>,
    /// Other services flagged now.
    pub other_flagged: Vec<String>,
    /// Services in the project.
    pub project_size: usize,
    /// State changes in the last hour.
    pub recent_transitions: usize,
    /// Kubernetes: restarts of OOMKilled containers over the window (the OOM-kill loop).
    #[serde(default)]
    pub oom_restarts: Option<f64>,
    /// Kubernetes: nodes under a pressure condition, and how many nodes there are.
    #[serde(default)]
    pub nodes_under_pressure: Option<(usize, usize)>,
}

/// Mean of the present values in `[from, to)`.
fn mean(metrics: &ServiceMetrics, metric: Metric, from: Millis, to: Millis) -> Option<f64> {
    let s = metrics.get(metric)?;
    let (sum, n) = s
        .values
        .iter()
        .enumerate()
        .filter(|(i, v)| {
            let t = s.time_at(*i);
            t >= from && t < to && v.is_finite()
        })
        .fold((0.0, 0usize), |(a, n), (_, v)| (a + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// Replace digits with `#` so "took 41ms" and "took 57ms" fold together.
fn shape(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut last_digit = false;
    for c in message.chars() {
        if c.is_ascii_digit() {
            if !last_digit {
                out.push('#');
            }
            last_digit = true;
        } else {
            out.push(c);
            last_digit = false;
        }
    }
    out
}

/// Does a log line blame an upstream dependency?
fn blames_upstream(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("upstream")
        || m.contains("provider")
        || m.contains("bad gateway")
        || m.contains("503 service unavailable")
}

/// Assemble the evidence bundle and the signals for one flag.
pub fn gather(m: &Material) -> (Evidence, Signals) {
    let flag = m.flag;
    let svc = &flag.service;
    let onset = flag.onset;
    let mut items = Vec::new();
    let mut gaps = Vec::new();
    let mut sig = Signals {
        metric: Some(flag.metric),
        project_size: m.project_size,
        recent_transitions: m.recent_transitions,
        ..Default::default()
    };

    // The flagged metric and its neighbours, before and after the onset.
    let before = |metric| mean(m.metrics, metric, onset - BEFORE, onset);
    let after = |metric| mean(m.metrics, metric, onset, m.now + 1);
    let err_rate = |e: Option<f64>, r: Option<f64>| ratio(e, r);
    sig.traffic_ratio = ratio(after(Metric::Requests), before(Metric::Requests));
    sig.usage_ratio = ratio(after(flag.metric), before(flag.metric));
    sig.error_rate_before = err_rate(before(Metric::Errors), before(Metric::Requests));
    sig.error_rate_after = err_rate(after(Metric::Errors), after(Metric::Requests));
    sig.requests_now = m.metrics.last(Metric::Requests);
    let mut metric_order = vec![flag.metric];
    metric_order.extend(
        [
            Metric::Requests,
            Metric::Errors,
            Metric::Cpu,
            Metric::Memory,
        ]
        .into_iter()
        .filter(|x| *x != flag.metric),
    );
    for (i, metric) in metric_order.into_iter().enumerate() {
        let (b, a) = (before(metric), after(metric));
        if b.is_none() && a.is_none() {
            gaps.push(format!("metric {metric}: no samples around the onset"));
            continue;
        }
        let unit = metric.unit();
        let limit = metric.limit().and_then(|l| m.metrics.last(l));
        let show = |v: Option<f64>| match v {
            Some(v) => units::usage(v, limit, unit),
            None => "absent".into(),
        };
        let change = match ratio(a, b) {
            Some(r) => format!(" (×{r:.2})"),
            None => String::new(),
        };
        let detail = if metric == Metric::Errors {
            format!(
                "5xx share of requests: {} before → {} after",
                sig.error_rate_before
                    .map(units::percent)
                    .unwrap_or("absent".into()),
                sig.error_rate_after
                    .map(units::percent)
                    .unwrap_or("absent".into()),
            )
        } else {
            format!(
                "mean over 15 min before the onset: {}; since the onset: {}{change}",
                show(b),
                show(a)
            )
        };
        // The shape of the window, for readers without the chart (PR bodies).
        let detail = match (i, m.metrics.get(metric)) {
            (0, Some(series)) => {
                let max = limit.unwrap_or(f64::NAN);
                format!(
                    "{detail}; window: {}",
                    crate::spark::spark(&series.values, 24, max, false)
                )
            }
            _ => detail,
        };
        items.push(EvidenceItem {
            id: if i == 0 {
                format!("metric:{metric}@onset")
            } else {
                format!("metric:{metric}")
            },
            kind: EvidenceKind::Metric,
            title: if i == 0 {
                format!(
                    "{metric} of {svc} at the onset ({} UTC): {}",
                    units::clock(onset),
                    flag.reason
                )
            } else {
                format!("{metric} of {svc} around the onset")
            },
            detail,
            at: Some(onset),
        });
    }

    // Logs around the onset, folded by shape, errors first.
    gaps.extend(m.logs.gaps.iter().cloned());
    gaps.extend(m.deploys.gaps.iter().cloned());
    gaps.extend(m.upstreams.gaps.iter().cloned());
    match &m.logs.items {
        None => {}
        Some(lines) => {
            let mut folded: Vec<(String, &LogLine, usize, Millis)> = Vec::new();
            for line in lines {
                let key = format!("{} {}", line.level, shape(&line.message));
                match folded.iter_mut().find(|f| f.0 == key) {
                    Some(f) => {
                        f.2 += 1;
                        f.3 = line.at;
                    }
                    None => folded.push((key, line, 1, line.at)),
                }
            }
            let errors_after: Vec<&LogLine> = lines
                .iter()
                .filter(|l| l.at >= onset && l.level == "ERROR")
                .collect();
            if !errors_after.is_empty() {
                sig.upstream_error_share = errors_after
                    .iter()
                    .filter(|l| blames_upstream(&l.message))
                    .count() as f64
                    / errors_after.len() as f64;
            }
            let rank = |level: &str| match level {
                "ERROR" => 0,
                "WARN" => 1,
                _ => 2,
            };
            folded.sort_by_key(|f| (rank(&f.1.level), std::cmp::Reverse(f.2)));
            for (n, (_, line, count, last)) in folded.into_iter().take(MAX_LOG_ITEMS).enumerate() {
                let times = if count > 1 {
                    format!(
                        "×{count}, {}–{} UTC",
                        units::clock(line.at),
                        units::clock(last)
                    )
                } else {
                    format!("{} UTC", units::clock(line.at))
                };
                items.push(EvidenceItem {
                    id: format!("log:{}", n + 1),
                    kind: EvidenceKind::Log,
                    title: format!("{} {} ({times})", line.level, svc),
                    detail: line.message.clone(),
                    at: Some(line.at),
                });
            }
        }
    }

    // Deploys of this service in the 6 hours before the onset (and since),
    // the forge's (GitHub deployments, releases) beside the source's.
    gaps.extend(m.changes.gaps.iter().cloned());
    let forge_deploys: Vec<Deploy> = m
        .changes
        .items
        .iter()
        .flatten()
        .filter_map(|c| match c {
            crate::forge::changes::ForgeChange::Deploy(d) => Some(d.clone()),
            crate::forge::changes::ForgeChange::Commit(_) => None,
        })
        .collect();
    let all_deploys = match (&m.deploys.items, forge_deploys.is_empty()) {
        (None, true) => None,
        (d, _) => Some(
            d.iter()
                .flatten()
                .cloned()
                .chain(forge_deploys)
                .collect::<Vec<_>>(),
        ),
    };
    match &all_deploys {
        None => {}
        Some(deploys) => {
            let mut mine: Vec<&Deploy> = deploys
                .iter()
                .filter(|d| &d.service == svc && d.at >= onset - 6 * 3_600_000 && d.at <= m.now)
                .collect();
            mine.sort_by_key(|d| std::cmp::Reverse(d.at));
            // A rollout takes a few minutes to show in the metrics.
            if let Some(d) = mine.iter().find(|d| d.at <= onset + 5 * 60_000) {
                sig.deploy_before_onset =
                    Some((d.id.clone(), d.version.clone(), d.previous.clone()));
            }
            for d in mine {
                items.push(EvidenceItem {
                    id: format!("deploy:{}", d.id),
                    kind: EvidenceKind::Deploy,
                    title: format!(
                        "{svc} {} → {} deployed {} ({} before the onset)",
                        d.previous,
                        d.version,
                        units::rfc3339(d.at),
                        units::duration(((onset - d.at).max(0) / 60_000) * 60_000)
                    ),
                    detail: format!("{} by {}: {}", d.id, d.author, d.message),
                    at: Some(d.at),
                });
            }
        }
    }

    // What Kubernetes says about the workload, the rollout before the onset.
    gaps.extend(m.kube.gaps.iter().cloned());
    if let Some(facts) = &m.kube.items {
        super::kube::add(facts, svc, onset, &mut items, &mut sig);
    }

    // Commits on the base branch before the onset: the suspects.
    for c in m.changes.items.iter().flatten() {
        if let crate::forge::changes::ForgeChange::Commit(c) = c {
            let more = if c.more_files > 0 {
                format!(" and {} more", c.more_files)
            } else {
                String::new()
            };
            items.push(EvidenceItem {
                id: format!("commit:{}", c.sha),
                kind: EvidenceKind::Deploy,
                title: format!(
                    "commit {} by {} {} the onset: {}",
                    c.sha,
                    c.author,
                    if c.at <= onset {
                        format!(
                            "{} before",
                            units::duration(((onset - c.at) / 60_000) * 60_000)
                        )
                    } else {
                        format!(
                            "{} after",
                            units::duration(((c.at - onset) / 60_000) * 60_000)
                        )
                    },
                    c.subject
                ),
                detail: format!("files: {}{more}", c.files.join(", ")),
                at: Some(c.at),
            });
        }
    }

    // Upstream providers this service depends on.
    match &m.upstreams.items {
        None => {}
        Some(ups) => {
            // No `used_by` means the provider serves every service.
            let serves = |u: &&UpstreamStatus| u.used_by.is_empty() || u.used_by.contains(svc);
            for u in ups.iter().filter(serves) {
                let overlapping = u
                    .incidents
                    .iter()
                    .filter(|i| i.status != "resolved")
                    .find(|i| i.started_at <= onset + 10 * 60_000);
                if let Some(i) = overlapping {
                    if sig.upstream_incident.is_none() {
                        sig.upstream_incident = Some((u.name.clone(), i.started_at));
                    }
                }
                let incidents = u
                    .incidents
                    .iter()
                    .map(|i| {
                        format!(
                            "{} ({}, {} impact, since {} UTC)",
                            i.name,
                            i.status,
                            i.impact,
                            units::clock(i.started_at)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                items.push(EvidenceItem {
                    id: format!("upstream:{}", u.name),
                    kind: EvidenceKind::Upstream,
                    title: format!("{} status: {} ({})", u.name, u.description, u.indicator),
                    detail: if incidents.is_empty() {
                        format!("{}: no open incident", u.url)
                    } else {
                        format!("{}: {incidents}", u.url)
                    },
                    at: u.incidents.first().map(|i| i.started_at),
                });
            }
        }
    }

    // The rest of the project.
    let mut others: Vec<String> = m
        .project_flags
        .iter()
        .filter(|f| &f.service != svc && f.state != crate::model::AlertState::Resolved)
        .map(|f| f.service.0.clone())
        .collect();
    others.sort();
    others.dedup();
    items.push(EvidenceItem {
        id: "health:project".into(),
        kind: EvidenceKind::Health,
        title: format!(
            "{} of {} other services flagged now",
            others.len(),
            m.project_size.saturating_sub(1)
        ),
        detail: if others.is_empty() {
            "no other service is flagged".into()
        } else {
            format!("also flagged: {}", others.join(", "))
        },
        at: Some(m.now),
    });
    sig.other_flagged = others;

    for item in &mut items {
        item.title = redact_str(&item.title);
        item.detail = redact_str(&item.detail);
    }
    for gap in &mut gaps {
        *gap = redact_str(gap);
    }
    (
        Evidence {
            service: svc.clone(),
            rule: flag.rule.clone(),
            onset,
            items,
            gaps,
        },
        sig,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_comes_out_redacted() {
        use crate::model::{AlertState, ServiceId, Unit, Verdict};
        let flag = Flag {
            service: ServiceId::from("api"),
            rule: "error-rate".into(),
            metric: Metric::Errors,
            state: AlertState::Firing,
            value: 0.2,
            threshold: 0.05,
            op: ">".into(),
            unit: Unit::Ratio,
            since: 1_000_000,
            onset: 1_000_000,
            verdict: Verdict::Actionable,
            reason: "errors".into(),
            eta_seconds: None,
        };
        let metrics = ServiceMetrics::new(ServiceId::from("api"));
        let secret = format!("{}{}", "Xq9vLr77", "-Pw0rd!");
        let line = LogLine {
            at: 1_000_500,
            service: ServiceId::from("api"),
            level: "ERROR".into(),
            message: format!("db login failed password={secret}"),
        };
        let m = Material {
            flag: &flag,
            metrics: &metrics,
            logs: Fetched::known(vec![line]),
            deploys: Fetched {
                items: None,
                gaps: vec![format!(
                    "deploys unavailable: https://ci:{secret}@ci.example.com"
                )],
            },
            upstreams: Fetched::known(vec![]),
            kube: Fetched::known(vec![]),
            changes: Fetched::known(vec![]),
            project_flags: std::slice::from_ref(&flag),
            project_size: 1,
            recent_transitions: 0,
            now: 2_000_000,
        };
        let (ev, _) = gather(&m);
        let all = serde_json::to_string(
            &ev.items
                .iter()
                .map(|i| (&i.title, &i.detail))
                .collect::<Vec<_>>(),
        )
        .unwrap()
            + &ev.gaps.join(" ");
        assert!(all.contains("[REDACTED:password]"), "{all}");
        assert!(!all.contains(&secret), "{all}");
    }

    #[test]
    fn shapes_fold_numbers() {
        assert_eq!(
            shape("GET /v1/users/1234 200 41ms"),
            "GET /v#/users/# # #ms"
        );
        assert!(blames_upstream("send failed: upstream api.x responded 503"));
        assert!(!blames_upstream(
            "TypeError: cannot read properties of undefined"
        ));
    }
}
