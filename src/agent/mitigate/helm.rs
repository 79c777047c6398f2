//! Helm `values.yaml` and Kustomize `kustomization.yaml`, as real
//! repositories deploy Kubernetes workloads: the same targeted, comment-
//! keeping edits and the same bounds as plain manifests.
//!
//! A values file belongs to a workload when its chart (`Chart.yaml`
//! `name:` beside it), its `fullnameOverride`/`nameOverride`, or its
//! directory is named like the workload; the values edited are the chart
//! conventions `resources.limits.memory`, `replicaCount` and `image.tag`.
//! A kustomization's `images:` entry (by image name) takes a new tag and
//! its `replicas:` entry (by workload name) a new count; a Kustomize patch
//! file is a partial workload, which the plain-manifest editor handles.

use super::quantity::Style;
use super::yaml::{raise, Yaml};
use super::{AgentError, Outcome, Want};
use std::path::Path;

/// The workload name of a service (`shop/checkout` → `checkout`).
fn workload(service: &str) -> &str {
    service.rsplit('/').next().unwrap_or(service)
}

/// The `name:` of a `Chart.yaml`.
pub(crate) fn chart_name(text: &str) -> Option<String> {
    let y = Yaml::new(text);
    let i = y.key_in(y.all(), "name")?;
    y.scalar(i).ok().map(|(_, n)| n.to_string())
}

/// The chart name from the `Chart.yaml` beside a values file, if there is one
/// (read only inside the checkout, never through a symlink).
pub(super) fn chart_beside(root: &Path, values_rel: &str) -> Result<Option<String>, AgentError> {
    let chart_rel = match values_rel.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/Chart.yaml"),
        None => "Chart.yaml".to_string(),
    };
    let Ok(path) = super::inside(root, &chart_rel) else {
        return Ok(None);
    };
    if !path.is_file() {
        return Ok(None);
    }
    Ok(chart_name(&super::read(&path, &chart_rel)?))
}

/// Edits to a values file so `service` does `want`; `None` when the file
/// is not the workload's (by chart name, name override or directory).
pub(crate) fn values(
    text: &str,
    chart: Option<&str>,
    dir: Option<&str>,
    service: &str,
    want: &Want,
) -> Option<Result<Outcome, String>> {
    let name = workload(service);
    let y = Yaml::new(text);
    let top = y.all();
    let override_of = |key: &str| {
        y.key_in(top.clone(), key)
            .and_then(|i| y.scalar(i).ok())
            .map(|(_, v)| v)
    };
    let named = [
        override_of("fullnameOverride"),
        override_of("nameOverride"),
        chart,
    ];
    let mine = if named.iter().any(|n| n.is_some_and(|n| !n.is_empty())) {
        named.contains(&Some(name))
    } else {
        dir == Some(name)
    };
    if !mine {
        return None;
    }
    let at = |p: &[&str]| y.path(top.clone(), p);
    Some(match want {
        Want::Memory { bytes, max_factor } => match at(&["resources", "limits", "memory"]) {
            Some(i) => raise(&y, i, "resources.limits.memory", *bytes, *max_factor, Style::K8s),
            None => Err(format!(
                "the values for `{name}` set no resources.limits.memory (unlimited, or set elsewhere); set one by hand"
            )),
        },
        Want::Replicas(n) => match at(&["replicaCount"]) {
            Some(i) => y.set(i, "replicaCount", &n.to_string()).map(Outcome::one),
            None => Err(format!(
                "the values for `{name}` have no replicaCount (an HPA or the chart decides); change it by hand"
            )),
        },
        Want::Tag(tag) => match at(&["image", "tag"]) {
            Some(i) => y.set(i, "image.tag", tag).map(Outcome::one),
            None => Err(format!(
                "the values for `{name}` have no image.tag (the chart defaults it to its appVersion); set one by hand"
            )),
        },
    })
}

/// Edits to a `kustomization.yaml` so `service` does `want`; `None` when
/// it names nothing of the workload (memory lives in patches, not here).
pub(crate) fn kustomization(
    text: &str,
    service: &str,
    want: &Want,
) -> Option<Result<Outcome, String>> {
    let name = workload(service);
    let y = Yaml::new(text);
    let top = y.all();
    let entry = |list: &str, matches: &dyn Fn(&str) -> bool| {
        let l = y.key_in(top.clone(), list)?;
        y.items(l).into_iter().find(|item| {
            y.key_in(item.clone(), "name")
                .and_then(|n| y.scalar(n).ok())
                .is_some_and(|(_, v)| matches(v))
        })
    };
    match want {
        Want::Tag(tag) => {
            // `name` is the image as the manifests write it: `registry/shop/checkout`.
            let item = entry("images", &|v| v.rsplit('/').next() == Some(name))?;
            Some(match y.key_in(item.clone(), "newTag") {
                Some(i) => y.set(i, &format!("images[{name}].newTag"), tag).map(Outcome::one),
                None => Err(format!(
                    "the kustomization's images entry for `{name}` has no newTag (a digest or newName only); change it by hand"
                )),
            })
        }
        Want::Replicas(n) => {
            let item = entry("replicas", &|v| v == name)?;
            Some(match y.key_in(item.clone(), "count") {
                Some(i) => y
                    .set(i, &format!("replicas[{name}].count"), &n.to_string())
                    .map(Outcome::one),
                None => Err(format!(
                    "the kustomization's replicas entry for `{name}` has no count"
                )),
            })
        }
        Want::Memory { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: &str = "# checkout chart values\nreplicaCount: 2   # prod runs 2\nimage:\n  repository: registry.example.com/shop/checkout\n  tag: \"1.5.0\"\n  pullPolicy: IfNotPresent\nresources:\n  requests:\n    memory: 256Mi\n  limits:\n    cpu: 500m\n    memory: 512Mi # raised in #41\n";

    fn memory(bytes: u64) -> Want<'static> {
        Want::Memory {
            bytes,
            max_factor: 4.0,
        }
    }

    #[test]
    fn values_edit_the_chart_conventions_and_keep_comments() {
        let o = values(
            VALUES,
            Some("checkout"),
            Some("checkout"),
            "shop/checkout",
            &memory(1 << 30),
        )
        .unwrap()
        .unwrap();
        let out = o.apply(VALUES);
        assert!(
            out.contains("    memory: 1024Mi # raised in #41\n"),
            "{out}"
        );
        assert!(
            out.contains("    memory: 256Mi\n"),
            "requests untouched: {out}"
        );
        let o = values(
            VALUES,
            Some("checkout"),
            None,
            "shop/checkout",
            &Want::Replicas(4),
        )
        .unwrap()
        .unwrap();
        assert!(o
            .apply(VALUES)
            .contains("replicaCount: 4   # prod runs 2\n"));
        let o = values(
            VALUES,
            Some("checkout"),
            None,
            "shop/checkout",
            &Want::Tag("1.4.2"),
        )
        .unwrap()
        .unwrap();
        assert!(o.apply(VALUES).contains("  tag: \"1.4.2\"\n"));
    }

    #[test]
    fn values_belong_to_their_chart_only_and_bounds_hold() {
        assert!(values(
            VALUES,
            Some("frontend"),
            Some("checkout"),
            "shop/checkout",
            &Want::Replicas(3)
        )
        .is_none());
        assert!(values(
            VALUES,
            None,
            Some("frontend"),
            "shop/checkout",
            &Want::Replicas(3)
        )
        .is_none());
        assert!(values(
            VALUES,
            None,
            Some("checkout"),
            "shop/checkout",
            &Want::Replicas(3)
        )
        .is_some());
        let over = "fullnameOverride: checkout\n".to_string() + VALUES;
        assert!(values(
            &over,
            Some("shop-chart"),
            None,
            "shop/checkout",
            &Want::Replicas(3)
        )
        .is_some());
        // 64 GiB from 512 Mi is far outside the band.
        let e = values(
            VALUES,
            Some("checkout"),
            None,
            "shop/checkout",
            &memory(64 << 30),
        )
        .unwrap()
        .unwrap_err();
        assert!(e.contains("resources.limits.memory"), "{e}");
        let e = values(
            "replicaCount: 1\n",
            Some("checkout"),
            None,
            "shop/checkout",
            &memory(1 << 30),
        )
        .unwrap()
        .unwrap_err();
        assert!(e.contains("no resources.limits.memory"), "{e}");
        assert_eq!(
            chart_name("apiVersion: v2\nname: checkout\nversion: 0.3.1\n").as_deref(),
            Some("checkout")
        );
    }

    #[test]
    fn a_kustomize_patch_is_a_partial_workload_matched_by_name_and_namespace() {
        let patch = "# overlays/prod: more memory for checkout\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: checkout\n  namespace: staging\nspec:\n  template:\n    spec:\n      containers:\n        - name: checkout\n          resources:\n            limits:\n              memory: 256Mi\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: checkout\n  namespace: shop\nspec:\n  template:\n    spec:\n      containers:\n        - name: checkout\n          resources:\n            limits:\n              memory: 512Mi # prod\n";
        let o = super::super::yaml::kubernetes(patch, "shop/checkout", &memory(1 << 30))
            .unwrap()
            .unwrap();
        let out = o.apply(patch);
        assert!(out.contains("memory: 1024Mi # prod"), "{out}");
        assert!(
            out.contains("memory: 256Mi\n"),
            "the staging one stays: {out}"
        );
        assert!(super::super::yaml::kubernetes(patch, "pay/checkout", &memory(1 << 30)).is_none());
    }

    #[test]
    fn kustomizations_take_tags_and_replica_counts() {
        let k = "resources:\n  - ../../base\nimages:\n  - name: registry.example.com/shop/checkout\n    newTag: 1.5.0 # CI\n  - name: redis\n    newTag: \"7.2\"\nreplicas:\n  - name: checkout\n    count: 2\n";
        let o = kustomization(k, "shop/checkout", &Want::Tag("1.4.2"))
            .unwrap()
            .unwrap();
        assert!(
            o.apply(k).contains("    newTag: 1.4.2 # CI\n"),
            "{}",
            o.apply(k)
        );
        let o = kustomization(k, "shop/checkout", &Want::Replicas(5))
            .unwrap()
            .unwrap();
        assert!(o.apply(k).contains("    count: 5\n"));
        assert!(kustomization(k, "shop/frontend", &Want::Replicas(5)).is_none());
        assert!(kustomization(k, "shop/checkout", &memory(1 << 30)).is_none());
    }
}
