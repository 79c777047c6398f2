//! Kubernetes evidence through Prometheus: what kube-state-metrics v2 says
//! about one workload (`namespace/name`, the kubernetes preset's services)
//! around a flag's onset: containers last terminated `OOMKilled` and how
//! much their restarts rose, waiting reasons (`CrashLoopBackOff`,
//! `ImagePullBackOff`), unavailable replicas, pending pods, an HPA at its
//! maximum, nodes under pressure, and the rollout before the onset (a new
//! ReplicaSet, the observed generation, the image tag before and after).
//!
//! A handful of instant queries per flag, each filtered to the workload's
//! namespace; pods are matched to the workload here, from `kube_pod_owner`
//! and `kube_replicaset_owner`. It reports facts; triage judges them.

use crate::model::Millis;
use crate::sources::prometheus::instant::Sample;
use crate::sources::prometheus::Prometheus;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How far back a rollout (a new ReplicaSet) counts as "before the onset".
pub const ROLLOUT_LOOKBACK: Millis = 6 * 3_600_000;

/// One fact about a workload, as kube-state-metrics reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fact", rename_all = "snake_case")]
pub enum KubeFact {
    /// A container whose last termination was OOMKilled.
    OomKilled {
        /// Container name.
        container: String,
        /// Its pods so terminated.
        pods: Vec<String>,
        /// How much its restarts rose over the window.
        restarts: f64,
        /// The window, ms.
        window: Millis,
    },
    /// A container restarting for another reason (or none reported).
    Restarts {
        /// Container name.
        container: String,
        /// Pods that restarted.
        pods: Vec<String>,
        /// Rise over the window.
        restarts: f64,
        /// The last terminated reason (`Error`), or `unknown`.
        reason: String,
        /// The window, ms.
        window: Millis,
    },
    /// Containers waiting (`CrashLoopBackOff`, `ImagePullBackOff`, …).
    Waiting {
        /// Container name.
        container: String,
        /// The waiting reason.
        reason: String,
        /// Pods waiting so.
        pods: Vec<String>,
    },
    /// The Deployment has replicas unavailable.
    Unavailable {
        /// How many.
        replicas: f64,
    },
    /// The workload's pods stuck in phase Pending.
    Pending {
        /// Pods.
        pods: Vec<String>,
    },
    /// The HPA scaling the workload is at its maximum.
    HpaAtMax {
        /// The HPA's name.
        hpa: String,
        /// Current (= maximum) replicas.
        replicas: f64,
    },
    /// Nodes reporting a pressure condition.
    NodePressure {
        /// MemoryPressure, DiskPressure or PIDPressure.
        condition: String,
        /// The nodes under it.
        nodes: Vec<String>,
        /// How many nodes the cluster has.
        of: usize,
    },
    /// A rollout: the newest ReplicaSet of the Deployment, created in the window.
    Rollout {
        /// When the ReplicaSet was created.
        at: Millis,
        /// The new ReplicaSet.
        replicaset: String,
        /// The one it replaced, if known.
        previous: Option<String>,
        /// Image (with tag) of the old pods.
        image_before: Option<String>,
        /// Image of the new pods.
        image_after: Option<String>,
        /// Observed generation before → now, when it changed.
        generation: Option<(f64, f64)>,
    },
}

/// The tag of an image reference (`…/checkout:1.5.0@sha256:…` → `1.5.0`;
/// no tag: `latest`).
pub fn tag(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    let name = image.rsplit('/').next().unwrap_or(image);
    name.split_once(':').map_or("latest", |(_, t)| t)
}

/// A workload id `namespace/name` whose parts are safe inside a PromQL string.
fn split_workload(service: &str) -> Option<(&str, &str)> {
    let (ns, name) = service.split_once('/')?;
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 253
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    (ok(ns) && ok(name)).then_some((ns, name))
}

/// Whole seconds, at least one minute, for a PromQL range.
fn range(ms: Millis) -> String {
    format!("{}s", (ms / 1000).max(60))
}

/// What kube-state-metrics says about `service` around `onset` (at `now`),
/// and the checks that could not run. A service that is not a workload
/// id has no facts.
pub async fn facts(
    p: &Prometheus,
    service: &str,
    onset: Millis,
    now: Millis,
) -> Result<(Vec<KubeFact>, Vec<String>), String> {
    let Some((ns, name)) = split_workload(service) else {
        return Ok((Vec::new(), Vec::new()));
    };
    // Restarts: from a quarter hour before the onset; rollouts: 6 h before it.
    let window = (now - onset + 15 * 60_000).clamp(10 * 60_000, ROLLOUT_LOOKBACK);
    let long = range(now - onset + ROLLOUT_LOOKBACK);
    let w = range(window);
    let queries = [
        format!("last_over_time(kube_pod_owner{{namespace=\"{ns}\",owner_is_controller=\"true\"}}[{long}])"),
        format!("last_over_time(kube_replicaset_owner{{namespace=\"{ns}\",owner_kind=\"Deployment\",owner_name=\"{name}\"}}[{long}])"),
        format!("last_over_time(kube_replicaset_created{{namespace=\"{ns}\"}}[{long}])"),
        format!("last_over_time(kube_pod_container_info{{namespace=\"{ns}\"}}[{long}])"),
        format!("kube_pod_container_status_last_terminated_reason{{namespace=\"{ns}\"}} == 1"),
        format!("increase(kube_pod_container_status_restarts_total{{namespace=\"{ns}\"}}[{w}])"),
        format!("kube_pod_container_status_waiting_reason{{namespace=\"{ns}\"}} == 1"),
        format!("kube_pod_status_phase{{namespace=\"{ns}\",phase=\"Pending\"}} == 1"),
        format!("kube_deployment_status_replicas_unavailable{{namespace=\"{ns}\",deployment=\"{name}\"}}"),
        format!("min_over_time(kube_deployment_status_observed_generation{{namespace=\"{ns}\",deployment=\"{name}\"}}[{long}])"),
        format!("kube_deployment_status_observed_generation{{namespace=\"{ns}\",deployment=\"{name}\"}}"),
        format!("kube_horizontalpodautoscaler_info{{namespace=\"{ns}\",scaletargetref_name=\"{name}\"}}"),
        format!("kube_horizontalpodautoscaler_status_current_replicas{{namespace=\"{ns}\"}} >= on (namespace, horizontalpodautoscaler) kube_horizontalpodautoscaler_spec_max_replicas{{namespace=\"{ns}\"}}"),
        "kube_node_status_condition{condition=~\"MemoryPressure|DiskPressure|PIDPressure\",status=\"true\"} == 1".to_string(),
        "kube_node_info".to_string(),
    ];
    let answers = futures_util::future::join_all(queries.iter().map(|q| p.instant(q, now))).await;
    let mut gaps = Vec::new();
    let mut got: Vec<Vec<Sample>> = Vec::new();
    for (i, a) in answers.into_iter().enumerate() {
        match a {
            Ok(v) => got.push(v),
            // Without the owners nothing can be matched to the workload.
            Err(e) if i == 0 => return Err(e),
            Err(e) => {
                gaps.push(format!("kubernetes: {e}"));
                got.push(Vec::new());
            }
        }
    }
    let [owners, rs_owner, rs_created, info, last_reason, restarts, waiting, pending, unavailable, gen_before, gen_now, hpa_info, hpa_max, pressure, nodes] =
        <[Vec<Sample>; 15]>::try_from(got).map_err(|_| "kubernetes: answers lost".to_string())?;

    let replicasets: BTreeSet<&str> = rs_owner.iter().map(|s| s.label("replicaset")).collect();
    let pod_rs: BTreeMap<&str, &str> = owners
        .iter()
        .filter(|s| s.label("owner_kind") == "ReplicaSet")
        .map(|s| (s.label("pod"), s.label("owner_name")))
        .collect();
    let pods: BTreeSet<&str> = owners
        .iter()
        .filter(|s| match s.label("owner_kind") {
            "ReplicaSet" => replicasets.contains(s.label("owner_name")),
            "StatefulSet" | "DaemonSet" => s.label("owner_name") == name,
            _ => false,
        })
        .map(|s| s.label("pod"))
        .collect();
    let mine = |s: &&Sample| pods.contains(s.label("pod"));
    let mut out = Vec::new();

    // Terminations and restarts, per container.
    let mut by_container: BTreeMap<&str, (Vec<String>, f64, BTreeSet<&str>)> = BTreeMap::new();
    for s in restarts.iter().filter(mine).filter(|s| s.value > 0.0) {
        let e = by_container.entry(s.label("container")).or_default();
        e.0.push(s.label("pod").to_string());
        e.1 += s.value;
    }
    for s in last_reason.iter().filter(mine) {
        let e = by_container.entry(s.label("container")).or_default();
        e.2.insert(s.label("reason"));
        if !e.0.iter().any(|p| p == s.label("pod")) && s.label("reason") == "OOMKilled" {
            e.0.push(s.label("pod").to_string());
        }
    }
    for (container, (pods, rise, reasons)) in by_container {
        if reasons.contains("OOMKilled") {
            out.push(KubeFact::OomKilled {
                container: container.to_string(),
                pods,
                restarts: rise,
                window,
            });
        } else if rise > 0.0 {
            out.push(KubeFact::Restarts {
                container: container.to_string(),
                pods,
                restarts: rise,
                reason: reasons.into_iter().next().unwrap_or("unknown").to_string(),
                window,
            });
        }
    }
    let mut waits: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
    for s in waiting.iter().filter(mine) {
        waits
            .entry((s.label("container"), s.label("reason")))
            .or_default()
            .push(s.label("pod").to_string());
    }
    for ((container, reason), pods) in waits {
        out.push(KubeFact::Waiting {
            container: container.to_string(),
            reason: reason.to_string(),
            pods,
        });
    }
    let stuck: Vec<String> = pending
        .iter()
        .filter(mine)
        .map(|s| s.label("pod").to_string())
        .collect();
    if !stuck.is_empty() {
        out.push(KubeFact::Pending { pods: stuck });
    }
    if let Some(u) = unavailable.first().filter(|u| u.value > 0.0) {
        out.push(KubeFact::Unavailable { replicas: u.value });
    }
    for h in &hpa_info {
        let hpa = h.label("horizontalpodautoscaler");
        if let Some(m) = hpa_max
            .iter()
            .find(|m| m.label("horizontalpodautoscaler") == hpa)
        {
            out.push(KubeFact::HpaAtMax {
                hpa: hpa.to_string(),
                replicas: m.value,
            });
        }
    }
    let mut pressed: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for s in &pressure {
        pressed
            .entry(s.label("condition"))
            .or_default()
            .push(s.label("node").to_string());
    }
    for (condition, nodes_under) in pressed {
        out.push(KubeFact::NodePressure {
            condition: condition.to_string(),
            nodes: nodes_under,
            of: nodes.len(),
        });
    }

    // The rollout: the newest ReplicaSet created in the window, the one before it.
    let mut sets: Vec<(&str, Millis)> = rs_created
        .iter()
        .filter(|s| replicasets.contains(s.label("replicaset")))
        .map(|s| (s.label("replicaset"), (s.value * 1000.0) as Millis))
        .collect();
    sets.sort_by_key(|(_, at)| *at);
    if let Some(&(newest, at)) = sets.last() {
        if at >= onset - ROLLOUT_LOOKBACK && at <= now {
            let image_of = |rs: &str| {
                info.iter()
                    .find(|s| pod_rs.get(s.label("pod")) == Some(&rs))
                    .map(|s| s.label("image").to_string())
            };
            let previous = sets.len().checked_sub(2).map(|i| sets[i].0);
            let generation = match (gen_before.first(), gen_now.first()) {
                (Some(b), Some(n)) if b.value != n.value => Some((b.value, n.value)),
                _ => None,
            };
            out.push(KubeFact::Rollout {
                at,
                replicaset: newest.to_string(),
                previous: previous.map(str::to_string),
                image_before: previous.and_then(image_of),
                image_after: image_of(newest),
                generation,
            });
        }
    }
    Ok((out, gaps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_workload_ids() {
        assert_eq!(
            tag("registry.example.com:5000/shop/checkout:1.5.0"),
            "1.5.0"
        );
        assert_eq!(tag("redis"), "latest");
        assert_eq!(tag("ghcr.io/a/b:v2@sha256:abc"), "v2");
        assert_eq!(split_workload("shop/checkout"), Some(("shop", "checkout")));
        assert_eq!(split_workload("checkout"), None);
        assert_eq!(split_workload("shop/x\"} or vector(1) #"), None);
    }
}
