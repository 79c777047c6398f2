//! A small Kubernetes cluster as kube-state-metrics v2 and the kubelet's
//! cAdvisor export it, written as OpenMetrics for `promtool tsdb
//! create-blocks-from openmetrics`. Names and labels follow their docs:
//! cAdvisor `container_*{namespace,pod,container}` (plus the pod's own
//! cgroup as `container=""` and the pause container as `container="POD"`),
//! `kube_pod_owner{owner_kind,owner_name,owner_is_controller}`,
//! `kube_replicaset_owner`, `kube_pod_container_resource_limits{resource,unit}`,
//! `kube_pod_container_status_restarts_total`,
//! `kube_pod_container_status_last_terminated_reason{reason}`,
//! `kube_pod_container_info{image}`, `kube_replicaset_created`,
//! `kube_deployment_metadata_generation`, `kube_deployment_status_observed_generation`.
//!
//! The fleet, 3 h before the anchor to 10 min after it, every 15 s:
//! - `shop/checkout` (Deployment): a rollout 40 min before the anchor from
//!   ReplicaSet `checkout-7d9f8b6c5` (image 1.4.2) to `checkout-5f6d7c8b94`
//!   (1.5.0); the new pods' memory climbs to 96–99 % of their 512 Mi limit
//!   and is OOMKilled every 12 minutes, restarts rising;
//! - `shop/frontend` (Deployment): healthy, serving;
//! - `shop/cache` (StatefulSet): no memory limit at all (unlimited), 3 GiB;
//! - `logging/fluent-bit` (DaemonSet): healthy;
//! - `kube-system/coredns` (Deployment) near its memory limit: excluded by
//!   the namespaces filter in the tests, so it must not show;
//! - `shop/debug-shell`: a bare pod without a controller (no workload).
#![allow(dead_code)]

use std::collections::BTreeMap;

/// Milliseconds since the epoch.
pub type Millis = i64;

const STEP: Millis = 15_000;
const MIB: f64 = 1024.0 * 1024.0;
/// When the checkout rollout starts, before the anchor.
pub const ROLLOUT_BEFORE: Millis = 40 * 60_000;
/// The new checkout pods are OOMKilled this often.
pub const OOM_PERIOD: Millis = 12 * 60_000;
/// Checkout's memory limit per container.
pub const CHECKOUT_LIMIT: f64 = 512.0 * MIB;

/// One pod of the fixture.
#[derive(Debug, Clone)]
pub struct Pod {
    /// Namespace.
    pub ns: &'static str,
    /// Pod name.
    pub name: String,
    /// Its controller: (kind, name); the bare pod has `<none>`.
    pub owner: (&'static str, String),
    /// The app container's name.
    pub container: &'static str,
    /// Image with tag.
    pub image: String,
    /// Memory limit (bytes) of the app container; `None`: unlimited.
    pub memory_limit: Option<f64>,
    /// CPU limit (cores).
    pub cpu_limit: Option<f64>,
    /// Alive over `[from, to)`.
    pub from: Millis,
    /// End of life.
    pub to: Millis,
    /// Memory working set of the app container at `t`.
    pub memory: fn(&Pod, Millis) -> f64,
    /// CPU cores used.
    pub cores: f64,
    /// Requests per second (200s) and 5xx per second.
    pub http: Option<(f64, f64)>,
    /// OOM kills happen every `OOM_PERIOD` from `from` (the checkout loop).
    pub oom_loop: bool,
    /// A sidecar container without any limit (50 MiB, no CPU).
    pub sidecar: Option<&'static str>,
    /// Stuck in phase Pending: no container ever ran (no cAdvisor series).
    pub pending: bool,
    /// The app container waits with this reason (`ImagePullBackOff`).
    pub waiting: Option<&'static str>,
}

fn flat(frac: f64) -> fn(&Pod, Millis) -> f64 {
    // Closures cannot be fn pointers when they capture; one fn per level.
    match (frac * 100.0) as u32 {
        30 => |p, _| p.memory_limit.unwrap_or(512.0 * MIB) * 0.30,
        40 => |p, _| p.memory_limit.unwrap_or(512.0 * MIB) * 0.40,
        45 => |p, _| p.memory_limit.unwrap_or(512.0 * MIB) * 0.45,
        95 => |p, _| p.memory_limit.unwrap_or(512.0 * MIB) * 0.95,
        _ => panic!("no such level"),
    }
}

/// The OOM loop: 50 % → 96 % in 90 s after each (re)start, then 96 % → 99 %
/// until the kill at the end of the period.
fn oom_memory(p: &Pod, t: Millis) -> f64 {
    let limit = p.memory_limit.unwrap();
    let phase = (t - p.from).rem_euclid(OOM_PERIOD) as f64;
    let rise = 90_000.0;
    let frac = if phase < rise {
        0.5 + 0.46 * phase / rise
    } else {
        0.96 + 0.03 * (phase - rise) / (OOM_PERIOD as f64 - rise)
    };
    limit * frac
}

fn cache_memory(_: &Pod, _: Millis) -> f64 {
    3.0 * 1024.0 * MIB
}

/// The cluster and its samples.
pub struct Cluster {
    /// The instant "now" is built around (a whole minute).
    pub anchor: Millis,
    /// Every pod.
    pub pods: Vec<Pod>,
}

impl Cluster {
    /// The fleet described in the module doc, around `anchor`.
    pub fn new(anchor: Millis) -> Cluster {
        let start = anchor - 3 * 3_600_000;
        let end = anchor + 10 * 60_000 + STEP;
        let rollout = anchor - ROLLOUT_BEFORE;
        let pod = |ns, name: &str, kind, owner: &str, container, image: &str| Pod {
            ns,
            name: name.to_string(),
            owner: (kind, owner.to_string()),
            container,
            image: image.to_string(),
            memory_limit: None,
            cpu_limit: None,
            from: start,
            to: end,
            memory: flat(0.40),
            cores: 0.05,
            http: None,
            oom_loop: false,
            sidecar: None,
            pending: false,
            waiting: None,
        };
        let mut pods = Vec::new();
        for suffix in ["x2v7q", "b8n4d"] {
            pods.push(Pod {
                memory_limit: Some(CHECKOUT_LIMIT),
                cpu_limit: Some(0.5),
                to: rollout + 5 * 60_000,
                memory: flat(0.45),
                cores: 0.1,
                http: Some((20.0, 0.02)),
                ..pod(
                    "shop",
                    &format!("checkout-7d9f8b6c5-{suffix}"),
                    "ReplicaSet",
                    "checkout-7d9f8b6c5",
                    "checkout",
                    "registry.example.com/shop/checkout:1.4.2",
                )
            });
        }
        for suffix in ["kq2wz", "t7m9p"] {
            pods.push(Pod {
                memory_limit: Some(CHECKOUT_LIMIT),
                cpu_limit: Some(0.5),
                from: rollout,
                memory: oom_memory,
                cores: 0.1,
                http: Some((20.0, 0.02)),
                oom_loop: true,
                ..pod(
                    "shop",
                    &format!("checkout-5f6d7c8b94-{suffix}"),
                    "ReplicaSet",
                    "checkout-5f6d7c8b94",
                    "checkout",
                    "registry.example.com/shop/checkout:1.5.0",
                )
            });
        }
        for suffix in ["h4k9s", "w2c8x"] {
            pods.push(Pod {
                memory_limit: Some(256.0 * MIB),
                cpu_limit: Some(1.0),
                memory: flat(0.30),
                http: Some((50.0, 0.01)),
                ..pod(
                    "shop",
                    &format!("frontend-6c8d7b5f4-{suffix}"),
                    "ReplicaSet",
                    "frontend-6c8d7b5f4",
                    "frontend",
                    "registry.example.com/shop/frontend:2.3.1",
                )
            });
        }
        // Its app container is limited, its sidecar is not: no workload limit.
        pods.push(Pod {
            memory_limit: Some(256.0 * MIB),
            cpu_limit: Some(0.5),
            sidecar: Some("envoy"),
            ..pod(
                "shop",
                "search-7b9c6d5f8-r2d2x",
                "ReplicaSet",
                "search-7b9c6d5f8",
                "search",
                "registry.example.com/shop/search:0.9.0",
            )
        });
        pods.push(Pod {
            memory: cache_memory,
            ..pod(
                "shop",
                "cache-0",
                "StatefulSet",
                "cache",
                "redis",
                "redis:7.2.4",
            )
        });
        pods.push(Pod {
            pending: true,
            ..pod(
                "shop",
                "cache-1",
                "StatefulSet",
                "cache",
                "redis",
                "redis:7.2.4",
            )
        });
        for suffix in ["7xk2p", "m9q4r"] {
            pods.push(Pod {
                memory_limit: Some(128.0 * MIB),
                cpu_limit: Some(0.2),
                waiting: (suffix == "m9q4r").then_some("ImagePullBackOff"),
                ..pod(
                    "logging",
                    &format!("fluent-bit-{suffix}"),
                    "DaemonSet",
                    "fluent-bit",
                    "fluent-bit",
                    "fluent/fluent-bit:3.0.4",
                )
            });
        }
        pods.push(Pod {
            memory_limit: Some(170.0 * MIB),
            memory: flat(0.95),
            ..pod(
                "kube-system",
                "coredns-5d78c9869d-9vq7l",
                "ReplicaSet",
                "coredns-5d78c9869d",
                "coredns",
                "registry.k8s.io/coredns/coredns:v1.11.1",
            )
        });
        pods.push(Pod {
            memory_limit: Some(64.0 * MIB),
            ..pod(
                "shop",
                "debug-shell",
                "<none>",
                "<none>",
                "shell",
                "busybox:1.36",
            )
        });
        Cluster { anchor, pods }
    }

    /// The ReplicaSets: (namespace, name, deployment, created at).
    pub fn replicasets(&self) -> Vec<(&'static str, &'static str, &'static str, Millis)> {
        let start = self.anchor - 3 * 3_600_000;
        vec![
            ("shop", "checkout-7d9f8b6c5", "checkout", start - 86_400_000),
            (
                "shop",
                "checkout-5f6d7c8b94",
                "checkout",
                self.anchor - ROLLOUT_BEFORE,
            ),
            ("shop", "frontend-6c8d7b5f4", "frontend", start - 86_400_000),
            ("shop", "search-7b9c6d5f8", "search", start - 86_400_000),
            (
                "kube-system",
                "coredns-5d78c9869d",
                "coredns",
                start - 86_400_000,
            ),
        ]
    }

    /// Instants `[from, to)` on the 15 s grid, clipped to the fixture.
    fn times(&self, from: Millis, to: Millis) -> impl Iterator<Item = Millis> {
        let start = (self.anchor - 3 * 3_600_000).max(from);
        let end = (self.anchor + 10 * 60_000 + STEP).min(to);
        (start..end).step_by(STEP as usize)
    }

    /// Restarts of a pod's app container by `t`.
    pub fn restarts(p: &Pod, t: Millis) -> f64 {
        if p.oom_loop {
            ((t - p.from).max(0) / OOM_PERIOD) as f64
        } else {
            0.0
        }
    }

    /// The whole history as OpenMetrics text.
    pub fn openmetrics(&self) -> String {
        let mut om = Om::default();
        for p in &self.pods {
            let base = |c: &str| {
                vec![
                    ("container", c.to_string()),
                    ("namespace", p.ns.to_string()),
                    ("pod", p.name.clone()),
                    (
                        "image",
                        if c == "POD" {
                            "registry.k8s.io/pause:3.9".into()
                        } else {
                            p.image.clone()
                        },
                    ),
                ]
            };
            let times: Vec<Millis> = self.times(p.from, p.to).collect();
            // cAdvisor: the app container, the pause container and the pod cgroup.
            let cgroups: &[(&str, f64)] = if p.pending {
                &[]
            } else {
                &[(p.container, 1.0), ("POD", 0.0), ("", 1.0)]
            };
            for &(c, share) in cgroups {
                let mut l = base(c);
                if c.is_empty() {
                    l.retain(|(k, _)| *k != "image");
                }
                om.series(
                    "container_memory_working_set_bytes",
                    &l,
                    times.iter().map(|t| {
                        (
                            *t,
                            (p.memory)(p, *t) * share
                                + if c == "POD" {
                                    MIB
                                } else if c.is_empty() {
                                    2.0 * MIB
                                } else {
                                    0.0
                                },
                        )
                    }),
                );
                om.series(
                    "container_cpu_usage_seconds_total",
                    &l,
                    times.iter().map(|t| {
                        (
                            *t,
                            ((t - p.from) as f64 / 1000.0)
                                * (p.cores * share + if c == "POD" { 0.001 } else { 0.0 }),
                        )
                    }),
                );
                if c == p.container {
                    om.series(
                        "container_spec_memory_limit_bytes",
                        &l,
                        times.iter().map(|t| (*t, p.memory_limit.unwrap_or(0.0))),
                    );
                }
            }
            if let Some(side) = p.sidecar {
                let mut l = base(side);
                l.retain(|(k, _)| *k != "image");
                om.series(
                    "container_memory_working_set_bytes",
                    &l,
                    times.iter().map(|t| (*t, 50.0 * MIB)),
                );
                om.series(
                    "container_cpu_usage_seconds_total",
                    &l,
                    times
                        .iter()
                        .map(|t| (*t, (t - p.from) as f64 / 1000.0 * 0.01)),
                );
            }
            let uid = format!("uid-{}", p.name);
            let pl = |extra: &[(&'static str, String)]| {
                let mut l = vec![
                    ("namespace", p.ns.to_string()),
                    ("pod", p.name.clone()),
                    ("uid", uid.clone()),
                ];
                l.extend(extra.iter().cloned());
                l
            };
            let ones = || times.iter().map(|t| (*t, 1.0));
            om.series(
                "kube_pod_owner",
                &pl(&[
                    ("owner_kind", p.owner.0.to_string()),
                    ("owner_name", p.owner.1.clone()),
                    (
                        "owner_is_controller",
                        if p.owner.0 == "<none>" {
                            "<none>"
                        } else {
                            "true"
                        }
                        .to_string(),
                    ),
                ]),
                ones(),
            );
            let cl = |extra: &[(&'static str, String)]| {
                let mut l = pl(&[("container", p.container.to_string())]);
                l.extend(extra.iter().cloned());
                l
            };
            om.series(
                "kube_pod_container_info",
                &cl(&[
                    ("image", p.image.clone()),
                    ("image_spec", p.image.clone()),
                    (
                        "image_id",
                        format!("docker-pullable://{}@sha256:0", p.image),
                    ),
                    ("container_id", format!("containerd://{}", p.name)),
                ]),
                ones(),
            );
            for (resource, unit, v) in [
                ("memory", "byte", p.memory_limit),
                ("cpu", "core", p.cpu_limit),
            ] {
                if let Some(v) = v {
                    om.series(
                        "kube_pod_container_resource_limits",
                        &cl(&[
                            ("node", "node-a".to_string()),
                            ("resource", resource.to_string()),
                            ("unit", unit.to_string()),
                        ]),
                        times.iter().map(move |t| (*t, v)),
                    );
                }
            }
            for (phase, v) in [("Running", !p.pending), ("Pending", p.pending)] {
                om.series(
                    "kube_pod_status_phase",
                    &pl(&[("phase", phase.to_string())]),
                    times.iter().map(move |t| (*t, f64::from(u8::from(v)))),
                );
            }
            if let Some(reason) = p.waiting {
                om.series(
                    "kube_pod_container_status_waiting_reason",
                    &cl(&[("reason", reason.to_string())]),
                    ones(),
                );
            }
            om.series(
                "kube_pod_container_status_restarts_total",
                &cl(&[]),
                times.iter().map(|t| (*t, Self::restarts(p, *t))),
            );
            if p.oom_loop {
                let first = p.from + OOM_PERIOD;
                om.series(
                    "kube_pod_container_status_last_terminated_reason",
                    &cl(&[("reason", "OOMKilled".to_string())]),
                    times.iter().filter(|t| **t >= first).map(|t| (*t, 1.0)),
                );
            }
            if let Some((ok, errors)) = p.http {
                for (code, rate) in [("200", ok), ("500", errors)] {
                    om.series(
                        "http_requests_total",
                        &[
                            ("code", code.to_string()),
                            ("namespace", p.ns.to_string()),
                            ("pod", p.name.clone()),
                            ("container", p.container.to_string()),
                            // What a ServiceMonitor adds: the Kubernetes Service's name.
                            ("service", format!("{}-svc", p.container)),
                        ],
                        times
                            .iter()
                            .map(move |t| (*t, (t - p.from) as f64 / 1000.0 * rate)),
                    );
                }
            }
        }
        let all = || self.times(i64::MIN, i64::MAX);
        for (ns, rs, deploy, created) in self.replicasets() {
            let l = [
                ("namespace", ns.to_string()),
                ("replicaset", rs.to_string()),
                ("owner_kind", "Deployment".to_string()),
                ("owner_name", deploy.to_string()),
                ("owner_is_controller", "true".to_string()),
            ];
            om.series("kube_replicaset_owner", &l, all().map(|t| (t, 1.0)));
            om.series(
                "kube_replicaset_created",
                &l[..2],
                all().map(move |t| (t, (created / 1000) as f64)),
            );
        }
        let rollout = self.anchor - ROLLOUT_BEFORE;
        for (ns, d) in [
            ("shop", "checkout"),
            ("shop", "frontend"),
            ("kube-system", "coredns"),
        ] {
            let l = [("namespace", ns.to_string()), ("deployment", d.to_string())];
            let gen = move |t: Millis| {
                if d == "checkout" && t >= rollout {
                    4.0
                } else {
                    3.0
                }
            };
            om.series(
                "kube_deployment_metadata_generation",
                &l,
                all().map(move |t| (t, gen(t))),
            );
            om.series(
                "kube_deployment_status_observed_generation",
                &l,
                all().map(move |t| (t, gen(t))),
            );
        }
        // checkout's loop keeps a replica unavailable since the rollout.
        for (ns, d) in [("shop", "checkout"), ("shop", "frontend")] {
            let l = [("namespace", ns.to_string()), ("deployment", d.to_string())];
            om.series(
                "kube_deployment_status_replicas_unavailable",
                &l,
                all().map(move |t| {
                    (
                        t,
                        if d == "checkout" && t >= rollout {
                            1.0
                        } else {
                            0.0
                        },
                    )
                }),
            );
        }
        // frontend's HPA is at its maximum.
        let hpa = |extra: &[(&'static str, &str)]| {
            let mut l = vec![
                ("namespace", "shop".to_string()),
                ("horizontalpodautoscaler", "frontend".to_string()),
            ];
            l.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
            l
        };
        om.series(
            "kube_horizontalpodautoscaler_info",
            &hpa(&[
                ("scaletargetref_kind", "Deployment"),
                ("scaletargetref_name", "frontend"),
            ]),
            all().map(|t| (t, 1.0)),
        );
        om.series(
            "kube_horizontalpodautoscaler_spec_max_replicas",
            &hpa(&[]),
            all().map(|t| (t, 2.0)),
        );
        om.series(
            "kube_horizontalpodautoscaler_status_current_replicas",
            &hpa(&[]),
            all().map(|t| (t, 2.0)),
        );
        // Two nodes; node-b reports MemoryPressure.
        for node in ["node-a", "node-b"] {
            om.series(
                "kube_node_info",
                &[("node", node.to_string())],
                all().map(|t| (t, 1.0)),
            );
            for status in ["true", "false", "unknown"] {
                let on = (node == "node-b") == (status == "true") && status != "unknown";
                om.series(
                    "kube_node_status_condition",
                    &[
                        ("node", node.to_string()),
                        ("condition", "MemoryPressure".to_string()),
                        ("status", status.to_string()),
                    ],
                    all().map(move |t| (t, f64::from(u8::from(on)))),
                );
            }
        }
        om.finish()
    }
}

/// OpenMetrics text grouped by family.
#[derive(Default)]
struct Om {
    families: BTreeMap<String, String>,
}

impl Om {
    fn series(
        &mut self,
        name: &str,
        labels: &[(&str, String)],
        points: impl Iterator<Item = (Millis, f64)>,
    ) {
        let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let out = self.families.entry(name.to_string()).or_default();
        for (t, v) in points {
            out.push_str(&format!("{name}{{{}}} {v} {}\n", l.join(","), t / 1000));
        }
    }

    fn finish(self) -> String {
        let mut out = String::new();
        for (name, body) in self.families {
            out.push_str(&format!("# TYPE {name} gauge\n"));
            out.push_str(&body);
        }
        out.push_str("# EOF\n");
        out
    }
}
