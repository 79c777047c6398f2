//! `[source] preset`: the default PromQL for the fleet medic watches, built
//! from the exporters it expects (plain series with a service label, raw
//! cAdvisor, or cAdvisor plus kube-state-metrics), the service label, the
//! namespaces and the HTTP request metric. `[source.queries]` entries win
//! over the preset, metric by metric. Pure text: no I/O here.
//!
//! Kubernetes: a service is a workload, `namespace/name`, joined from pod
//! series through `kube_pod_owner` (and `kube_replicaset_owner` for a
//! Deployment's pods); container series are filtered (`container!=""` is the
//! pod's cgroup, `container="POD"` the pause container: both would count a
//! pod twice); a container without `kube_pod_container_resource_limits`
//! makes its workload's limit absent (unlimited), never 0 %. CPU and memory
//! are the busiest pod's, against that pod's limit (a pod is OOM-killed on
//! its own); request and error rates are summed over the workload's pods.

use crate::model::Metric;
use serde::Deserialize;

/// Which exporters the default queries expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Series already carry the service label (recording rules, relabelling).
    #[default]
    Plain,
    /// Raw cAdvisor from the kubelet, no kube-state-metrics: a service is
    /// `namespace/container`; limits from `container_spec_*`.
    Cadvisor,
    /// cAdvisor plus kube-state-metrics v2: a service is a workload
    /// (`namespace/deployment`, statefulset or daemonset).
    Kubernetes,
}

impl Preset {
    /// The word as written in the config.
    pub fn word(self) -> &'static str {
        match self {
            Preset::Plain => "plain",
            Preset::Cadvisor => "cadvisor",
            Preset::Kubernetes => "kubernetes",
        }
    }
}

/// `[source] namespaces = { include = [...], exclude = [...] }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Namespaces {
    /// Only these namespaces (empty: all).
    pub include: Vec<String>,
    /// Never these namespaces.
    pub exclude: Vec<String>,
}

impl Namespaces {
    /// The label matchers on `namespace`, each with a leading comma
    /// (empty when nothing is filtered).
    pub fn matchers(&self) -> String {
        let mut out = String::new();
        if !self.include.is_empty() {
            out.push_str(&format!(",namespace=~\"{}\"", self.include.join("|")));
        }
        if !self.exclude.is_empty() {
            out.push_str(&format!(",namespace!~\"{}\"", self.exclude.join("|")));
        }
        out
    }

    /// Names are DNS labels (what Kubernetes allows), so they are safe in a regex.
    pub(super) fn validate(&self) -> Result<(), (String, String)> {
        for (key, list) in [("include", &self.include), ("exclude", &self.exclude)] {
            for (i, n) in list.iter().enumerate() {
                if !is_dns_label(n) {
                    return Err((
                        format!("source.namespaces.{key}[{i}]"),
                        format!("`{n}` is not a Kubernetes namespace name (lower-case letters, digits and `-`, at most 63)"),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// A Prometheus metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

/// Labels the Kubernetes presets join or group on; the service label must differ.
pub const RESERVED_LABELS: [&str; 5] =
    ["namespace", "pod", "container", "owner_name", "replicaset"];

/// What the default queries are built from.
#[derive(Debug, Clone, Copy)]
pub struct PresetInputs<'a> {
    /// Which exporters.
    pub preset: Preset,
    /// The label naming a service in every result.
    pub service_label: &'a str,
    /// Namespace filter.
    pub namespaces: &'a Namespaces,
    /// The HTTP request counter (`http_requests_total`).
    pub request_metric: &'a str,
    /// Its status-code label (`code`).
    pub status_label: &'a str,
}

/// The container filter: not the pod's cgroup, not the pause container.
const CONTAINERS: &str = r#"container!="",container!="POD""#;

impl PresetInputs<'_> {
    /// The default PromQL for `metric`.
    pub fn query(&self, metric: Metric) -> String {
        match self.preset {
            Preset::Plain => self.plain(metric),
            Preset::Cadvisor => self.cadvisor(metric),
            Preset::Kubernetes => self.kubernetes(metric),
        }
    }

    /// `{a,b}` from matchers, dropping empties and the leading comma.
    fn sel(&self, name: &str, matchers: &str) -> String {
        let all = format!("{matchers}{}", self.namespaces.matchers());
        let all = all.trim_start_matches(',');
        if all.is_empty() {
            name.to_string()
        } else {
            format!("{name}{{{all}}}")
        }
    }

    fn errors_matcher(&self) -> String {
        format!(",{}=~\"5..\"", self.status_label)
    }

    fn plain(&self, metric: Metric) -> String {
        let s = self.service_label;
        let req = self.request_metric;
        match metric {
            Metric::Cpu => format!(
                "sum by ({s}) (rate({}[1m]))",
                self.sel("container_cpu_usage_seconds_total", "")
            ),
            Metric::CpuLimit => format!(
                "sum by ({s}) ({} / {})",
                self.sel("container_spec_cpu_quota", ""),
                self.sel("container_spec_cpu_period", "")
            ),
            Metric::Memory => format!(
                "sum by ({s}) ({})",
                self.sel("container_memory_working_set_bytes", "")
            ),
            Metric::MemoryLimit => format!(
                "sum by ({s}) ({})",
                self.sel("container_spec_memory_limit_bytes", "")
            ),
            Metric::Requests => format!("sum by ({s}) (rate({}[1m]))", self.sel(req, "")),
            Metric::Errors => format!(
                "sum by ({s}) (rate({}[1m]))",
                self.sel(req, &self.errors_matcher())
            ),
        }
    }

    /// The busiest pod's container, per `namespace/container` (a container
    /// is OOM-killed or throttled in its own pod, not as a sum over pods).
    fn by_container(&self, inner: &str) -> String {
        let s = self.service_label;
        format!(
            "max by ({s}) (label_join(max by (namespace, pod, container) ({inner}), \"{s}\", \"/\", \"namespace\", \"container\"))"
        )
    }

    fn cadvisor(&self, metric: Metric) -> String {
        let c = self.sel(
            "container_cpu_usage_seconds_total",
            &format!(",{CONTAINERS}"),
        );
        let m = |name: &str| self.sel(name, &format!(",{CONTAINERS}"));
        let s = self.service_label;
        let req = self.request_metric;
        let http = |extra: &str| {
            format!(
                "sum by ({s}) (label_join(rate({}[2m]), \"{s}\", \"/\", \"namespace\", \"container\"))",
                self.sel(req, extra)
            )
        };
        match metric {
            Metric::Cpu => self.by_container(&format!("rate({c}[2m])")),
            Metric::CpuLimit => self.by_container(&format!(
                "{} / {}",
                m("container_spec_cpu_quota"),
                m("container_spec_cpu_period")
            )),
            Metric::Memory => self.by_container(&m("container_memory_working_set_bytes")),
            // 0 is cAdvisor's "unlimited"; medic reads 0 as no limit.
            Metric::MemoryLimit => self.by_container(&m("container_spec_memory_limit_bytes")),
            Metric::Requests => http(""),
            Metric::Errors => http(&self.errors_matcher()),
        }
    }

    /// One series per (namespace, pod) of value 1, labelled with the
    /// workload it belongs to as `namespace/name`.
    pub fn pod_workloads(&self) -> String {
        let s = self.service_label;
        let owner = |kind: &str| {
            self.sel(
                "kube_pod_owner",
                &format!(",owner_kind{kind},owner_is_controller=\"true\""),
            )
        };
        format!(
            "max by (namespace, pod, {s}) (\
label_join(label_replace({}, \"replicaset\", \"$1\", \"owner_name\", \"(.*)\") \
* on (namespace, replicaset) group_left (owner_name) \
topk by (namespace, replicaset) (1, max by (namespace, replicaset, owner_name) ({})), \
\"{s}\", \"/\", \"namespace\", \"owner_name\") \
or label_join({}, \"{s}\", \"/\", \"namespace\", \"owner_name\"))",
            owner("=\"ReplicaSet\""),
            self.sel("kube_replicaset_owner", ",owner_kind=\"Deployment\""),
            owner("=~\"StatefulSet|DaemonSet\""),
        )
    }

    /// `inner` (series with namespace and pod) summed per workload (rates).
    fn per_workload(&self, inner: &str) -> String {
        let s = self.service_label;
        format!(
            "sum by ({s}) ({inner} * on (namespace, pod) group_left ({s}) {})",
            self.pod_workloads()
        )
    }

    /// `inner` summed per pod, the busiest pod per workload: a pod is
    /// OOM-killed or throttled on its own, so a sum over pods would hide
    /// one at its limit among idle ones (usage and limits alike).
    fn busiest_pod(&self, inner: &str) -> String {
        let s = self.service_label;
        format!(
            "max by ({s}) (sum by (namespace, pod) ({inner}) * on (namespace, pod) group_left ({s}) {})",
            self.pod_workloads()
        )
    }

    /// The workload's limit of `resource`, absent when any of its
    /// containers has none (an unlimited container is not at 0 %).
    fn k8s_limit(&self, resource: &str, unit: &str, usage: &str) -> String {
        let s = self.service_label;
        let limits = self.sel(
            "kube_pod_container_resource_limits",
            &format!(",resource=\"{resource}\",unit=\"{unit}\""),
        );
        let per_container = format!("max by (namespace, pod, container) ({limits})");
        let unlimited =
            format!("(max by (namespace, pod, container) ({usage}) unless on (namespace, pod, container) {limits})");
        format!(
            "{} unless on ({s}) {}",
            self.busiest_pod(&per_container),
            self.per_workload(&unlimited)
        )
    }

    fn kubernetes(&self, metric: Metric) -> String {
        let cpu = format!(
            "rate({}[2m])",
            self.sel(
                "container_cpu_usage_seconds_total",
                &format!(",{CONTAINERS}")
            )
        );
        let mem = self.sel(
            "container_memory_working_set_bytes",
            &format!(",{CONTAINERS}"),
        );
        let req = self.request_metric;
        match metric {
            Metric::Cpu => self.busiest_pod(&format!("max by (namespace, pod, container) ({cpu})")),
            Metric::CpuLimit => self.k8s_limit("cpu", "core", &cpu),
            Metric::Memory => {
                self.busiest_pod(&format!("max by (namespace, pod, container) ({mem})"))
            }
            Metric::MemoryLimit => self.k8s_limit("memory", "byte", &mem),
            Metric::Requests => self.per_workload(&format!("rate({}[2m])", self.sel(req, ""))),
            Metric::Errors => self.per_workload(&format!(
                "rate({}[2m])",
                self.sel(req, &self.errors_matcher())
            )),
        }
    }

    /// The series the preset's queries are built from, and the labels each
    /// must carry: what `medic doctor` checks when a fleet comes back empty.
    pub fn ingredients(&self) -> Vec<Ingredient> {
        let s = self.service_label;
        let ns = self.namespaces.matchers();
        let ing = |name: &str, matchers: &str, labels: &[&str], from: &str| Ingredient {
            metric: name.to_string(),
            matchers: format!("{matchers}{ns}")
                .trim_start_matches(',')
                .to_string(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            from: from.to_string(),
        };
        let pod = ["namespace", "pod"];
        let cont = ["namespace", "pod", "container"];
        match self.preset {
            Preset::Plain => vec![
                ing(
                    "container_cpu_usage_seconds_total",
                    "",
                    &[s],
                    "cAdvisor, relabelled",
                ),
                ing(
                    "container_memory_working_set_bytes",
                    "",
                    &[s],
                    "cAdvisor, relabelled",
                ),
                ing(
                    "container_spec_memory_limit_bytes",
                    "",
                    &[s],
                    "cAdvisor, relabelled",
                ),
                ing(
                    self.request_metric,
                    "",
                    &[s, self.status_label],
                    "the services' own /metrics",
                ),
            ],
            Preset::Cadvisor => vec![
                ing(
                    "container_cpu_usage_seconds_total",
                    CONTAINERS,
                    &cont,
                    "cAdvisor (kubelet /metrics/cadvisor)",
                ),
                ing(
                    "container_memory_working_set_bytes",
                    CONTAINERS,
                    &cont,
                    "cAdvisor (kubelet /metrics/cadvisor)",
                ),
                ing(
                    "container_spec_memory_limit_bytes",
                    CONTAINERS,
                    &cont,
                    "cAdvisor (kubelet /metrics/cadvisor)",
                ),
                ing(
                    self.request_metric,
                    "",
                    &["namespace", "container", self.status_label],
                    "the services' own /metrics, pod scrape",
                ),
            ],
            Preset::Kubernetes => vec![
                ing(
                    "container_cpu_usage_seconds_total",
                    CONTAINERS,
                    &cont,
                    "cAdvisor (kubelet /metrics/cadvisor)",
                ),
                ing(
                    "container_memory_working_set_bytes",
                    CONTAINERS,
                    &cont,
                    "cAdvisor (kubelet /metrics/cadvisor)",
                ),
                ing(
                    "kube_pod_owner",
                    "owner_is_controller=\"true\"",
                    &["namespace", "pod", "owner_kind", "owner_name"],
                    "kube-state-metrics",
                ),
                ing(
                    "kube_replicaset_owner",
                    "owner_kind=\"Deployment\"",
                    &["namespace", "replicaset", "owner_name"],
                    "kube-state-metrics",
                ),
                ing(
                    "kube_pod_container_resource_limits",
                    "resource=\"memory\"",
                    &["namespace", "pod", "container", "unit"],
                    "kube-state-metrics",
                ),
                ing(
                    "kube_pod_container_status_restarts_total",
                    "",
                    &cont,
                    "kube-state-metrics (evidence: restarts)",
                ),
                ing(
                    "kube_pod_container_info",
                    "",
                    &["namespace", "pod", "container", "image"],
                    "kube-state-metrics (evidence: images)",
                ),
                ing(
                    "kube_replicaset_created",
                    "",
                    &["namespace", "replicaset"],
                    "kube-state-metrics (evidence: rollouts)",
                ),
                ing(
                    self.request_metric,
                    "",
                    &[&pod[..], &[self.status_label]].concat(),
                    "the services' own /metrics, pod scrape",
                ),
            ],
        }
    }
}

/// One series a preset needs, and the labels it must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingredient {
    /// Metric name.
    pub metric: String,
    /// Label matchers inside the braces (may be empty).
    pub matchers: String,
    /// Labels every series must have.
    pub labels: Vec<String>,
    /// Which exporter provides it, for the advice.
    pub from: String,
}

impl Ingredient {
    /// The selector with one more matcher (`extra` without braces).
    pub fn selector(&self, extra: &str) -> String {
        let m: Vec<&str> = [self.matchers.as_str(), extra]
            .into_iter()
            .filter(|m| !m.is_empty())
            .collect();
        if m.is_empty() {
            self.metric.clone()
        } else {
            format!("{}{{{}}}", self.metric, m.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(preset: Preset, ns: &Namespaces) -> PresetInputs<'_> {
        PresetInputs {
            preset,
            service_label: "app",
            namespaces: ns,
            request_metric: "http_requests_total",
            status_label: "code",
        }
    }

    #[test]
    fn every_default_query_groups_by_the_service_label() {
        let ns = Namespaces::default();
        for preset in [Preset::Plain, Preset::Cadvisor, Preset::Kubernetes] {
            for m in Metric::ALL {
                let q = inputs(preset, &ns).query(m);
                assert!(
                    q.starts_with("sum by (app) (") || q.starts_with("max by (app) ("),
                    "{preset:?} {m}: {q}"
                );
                assert!(!q.contains("(service)"), "{q}");
            }
        }
    }

    #[test]
    fn container_series_are_filtered_and_namespaces_applied() {
        let ns = Namespaces {
            include: vec!["shop".into(), "pay".into()],
            exclude: vec!["kube-system".into()],
        };
        let i = inputs(Preset::Kubernetes, &ns);
        let q = i.query(Metric::Memory);
        assert!(
            q.contains(r#"container_memory_working_set_bytes{container!="",container!="POD",namespace=~"shop|pay",namespace!~"kube-system"}"#),
            "{q}"
        );
        assert!(
            q.contains("kube_replicaset_owner{owner_kind=\"Deployment\",namespace=~\"shop|pay\""),
            "{q}"
        );
        let e = i.query(Metric::Errors);
        assert!(
            e.contains(r#"http_requests_total{code=~"5..",namespace=~"shop|pay""#),
            "{e}"
        );
        assert!(Namespaces::default().matchers().is_empty());
    }

    #[test]
    fn plain_defaults_are_the_historic_ones() {
        let ns = Namespaces::default();
        let i = PresetInputs {
            service_label: "service",
            ..inputs(Preset::Plain, &ns)
        };
        assert_eq!(
            i.query(Metric::Cpu),
            "sum by (service) (rate(container_cpu_usage_seconds_total[1m]))"
        );
        assert_eq!(
            i.query(Metric::Errors),
            r#"sum by (service) (rate(http_requests_total{code=~"5.."}[1m]))"#
        );
    }

    #[test]
    fn config_keys_are_checked_where_they_are() {
        use crate::config::Config;
        use std::path::Path;
        let err = |t: &str| {
            Config::parse(t, Path::new("m.toml"))
                .unwrap_err()
                .to_string()
        };
        let e = err("[source]\npreset = \"k8s\"\n");
        assert!(
            e.starts_with("m.toml:2:") && e.contains("plain, cadvisor, kubernetes"),
            "{e}"
        );
        let e = err("[source]\nservice_label = \"app.kubernetes.io/name\"\n");
        assert!(
            e.contains("source.service_label") && e.contains("app_kubernetes_io_name"),
            "{e}"
        );
        let e = err("[source]\npreset = \"kubernetes\"\nservice_label = \"pod\"\n");
        assert!(e.contains("joins on `pod`"), "{e}");
        let e = err("[source]\nnamespaces = { include = [\"shop|.*\"] }\n");
        assert!(e.contains("source.namespaces.include[0]"), "{e}");
        let e = err("[source]\nrequest_metric = \"http{code}\"\n");
        assert!(e.contains("source.request_metric"), "{e}");
        // An explicit query wins over the preset, metric by metric.
        let c = Config::parse(
            "[source]\npreset = \"kubernetes\"\nservice_label = \"app\"\n[source.queries]\ncpu = 'sum by (app) (x)'\n",
            Path::new("m.toml"),
        )
        .unwrap();
        let q = c.source.queries();
        assert_eq!(q[0].1, "sum by (app) (x)");
        assert!(
            q[2].1.promql.contains("kube_pod_owner") && q[2].1.promql.starts_with("max by (app)")
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(
            is_label_name("app_kubernetes_io_name") && !is_label_name("app.kubernetes.io/name")
        );
        assert!(is_metric_name("http_server_requests_seconds_count") && !is_metric_name("a{b}"));
        assert!(is_dns_label("kube-system") && !is_dns_label("Shop") && !is_dns_label("a|b"));
    }
}
