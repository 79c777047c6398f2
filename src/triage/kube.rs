//! Kubernetes facts as evidence items (`k8s:oomkilled`, `k8s:rollout`, …)
//! and the signals the verdict reads from them (the OOM-kill loop, nodes
//! under pressure, the rollout as the deploy before the onset). Pure.

use super::context::Signals;
use crate::model::{EvidenceItem, EvidenceKind, Millis, ServiceId};
use crate::sources::kube::{tag, KubeFact};
use crate::units;

/// A rollout this long after the onset still counts as "before" (metrics lag).
const ROLLOUT_GRACE: Millis = 5 * 60_000;

fn list(pods: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = pods
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if pods.len() > SHOWN {
        s.push_str(&format!(" and {} more", pods.len() - SHOWN));
    }
    s
}

/// Add the facts' items to `items` and their signals to `sig`.
pub fn add(
    facts: &[KubeFact],
    svc: &ServiceId,
    onset: Millis,
    items: &mut Vec<EvidenceItem>,
    sig: &mut Signals,
) {
    let item = |id: String, title: String, detail: String, at: Option<Millis>| EvidenceItem {
        id,
        kind: EvidenceKind::Health,
        title,
        detail,
        at,
    };
    for f in facts {
        match f {
            KubeFact::OomKilled {
                container,
                pods,
                restarts,
                window,
            } => {
                *sig.oom_restarts.get_or_insert(0.0) += restarts;
                items.push(item(
                    format!("k8s:oomkilled:{container}"),
                    format!(
                        "container {container} of {svc} was OOMKilled; restarts rose by {restarts:.0} in the last {}",
                        units::duration(*window)
                    ),
                    format!(
                        "kube_pod_container_status_last_terminated_reason{{reason=\"OOMKilled\"}} on {}; the kernel killed it at its memory limit",
                        list(pods)
                    ),
                    None,
                ));
            }
            KubeFact::Restarts {
                container,
                pods,
                restarts,
                reason,
                window,
            } => items.push(item(
                format!("k8s:restarts:{container}"),
                format!(
                    "container {container} of {svc} restarted {restarts:.0} times in the last {} (last terminated: {reason})",
                    units::duration(*window)
                ),
                format!("pods: {}", list(pods)),
                None,
            )),
            KubeFact::Waiting {
                container,
                reason,
                pods,
            } => items.push(item(
                format!("k8s:waiting:{container}:{}", reason.to_ascii_lowercase()),
                format!("container {container} of {svc} is waiting: {reason}"),
                format!("pods: {}", list(pods)),
                None,
            )),
            KubeFact::Unavailable { replicas } => items.push(item(
                "k8s:unavailable".into(),
                format!("{svc} has {replicas:.0} replica(s) unavailable"),
                "kube_deployment_status_replicas_unavailable".into(),
                None,
            )),
            KubeFact::Pending { pods } => items.push(item(
                "k8s:pending".into(),
                format!("{} pod(s) of {svc} are Pending", pods.len()),
                format!("not scheduled or not started: {}", list(pods)),
                None,
            )),
            KubeFact::HpaAtMax { hpa, replicas } => items.push(item(
                "k8s:hpa-max".into(),
                format!("HPA {hpa} of {svc} is at its maximum, {replicas:.0} replicas"),
                "it cannot scale out further: raise maxReplicas or find the load".into(),
                None,
            )),
            KubeFact::NodePressure {
                condition,
                nodes,
                of,
            } => {
                let n = sig.nodes_under_pressure.map_or(0, |(n, _)| n).max(nodes.len());
                sig.nodes_under_pressure = Some((n, *of));
                items.push(item(
                    format!("k8s:node-pressure:{}", condition.to_ascii_lowercase()),
                    format!("{} of {of} nodes report {condition}", nodes.len()),
                    format!("nodes: {}", list(nodes)),
                    None,
                ));
            }
            KubeFact::Rollout {
                at,
                replicaset,
                previous,
                image_before,
                image_after,
                generation,
            } => {
                let before = image_before.as_deref().map(tag).unwrap_or("?");
                let after = image_after.as_deref().map(tag).unwrap_or("?");
                if *at <= onset + ROLLOUT_GRACE && sig.deploy_before_onset.is_none() {
                    sig.deploy_before_onset =
                        Some((replicaset.clone(), after.to_string(), before.to_string()));
                }
                let when = if *at <= onset {
                    format!("{} before the onset", units::duration(onset - at))
                } else {
                    format!("{} after the onset", units::duration(at - onset))
                };
                let mut detail = format!(
                    "new ReplicaSet {replicaset}{}; image {} → {}",
                    previous
                        .as_deref()
                        .map(|p| format!(" replaced {p}"))
                        .unwrap_or_default(),
                    image_before.as_deref().unwrap_or("?"),
                    image_after.as_deref().unwrap_or("?"),
                );
                if let Some((b, n)) = generation {
                    detail.push_str(&format!("; observed generation {b} → {n}"));
                }
                items.push(EvidenceItem {
                    id: "k8s:rollout".into(),
                    kind: EvidenceKind::Deploy,
                    title: format!(
                        "{svc} rolled out {before} → {after} at {} UTC ({when})",
                        units::clock(*at)
                    ),
                    detail,
                    at: Some(*at),
                });
            }
        }
    }
}
