//! What a mitigation may do, whatever the plan says: touch only the
//! incident's service, name a real image tag or digest (a newline in a tag
//! would be YAML injection), keep 1..=ceiling replicas, and raise a memory
//! limit within a band of the current one (never 18 EB).

use super::quantity;
use crate::config::MitigateConfig;
use crate::model::{Mitigation, ServiceId};

/// The limits one run of the offline agent keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounds {
    /// The services the incident is about (one, in the workflow); a
    /// mitigation naming any other is refused.
    pub services: Vec<ServiceId>,
    /// Most replicas a mitigation may set.
    pub max_replicas: u32,
    /// A memory limit may be raised to at most this many times the current one.
    pub max_limit_factor: f64,
}

impl Bounds {
    /// The bounds for an incident about `service`, with `[agent.mitigate]`'s limits.
    pub fn new(service: ServiceId, config: &MitigateConfig) -> Bounds {
        Bounds::for_services([service], config)
    }

    /// The bounds for mitigations on any of `services`.
    pub fn for_services(
        services: impl IntoIterator<Item = ServiceId>,
        config: &MitigateConfig,
    ) -> Bounds {
        Bounds {
            services: services.into_iter().collect(),
            max_replicas: config.max_replicas.0,
            max_limit_factor: config.max_limit_factor.0,
        }
    }

    /// Why `m` is refused, or `Ok` when it is within bounds (the memory band
    /// is checked against the manifest's current value when it is read).
    pub fn check(&self, m: &Mitigation) -> Result<(), String> {
        let service = match m {
            Mitigation::RaiseMemoryLimit { service, .. }
            | Mitigation::SetReplicas { service, .. }
            | Mitigation::RollbackImage { service, .. } => service,
        };
        if !self.services.contains(service) {
            let own = self
                .services
                .iter()
                .map(|s| format!("`{}`", s.0.escape_debug()))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(format!(
                "it names `{}`, but this incident is about {}; a mitigation may only change the incident's own service",
                service.0.escape_debug(),
                if own.is_empty() { "no known service".to_string() } else { own }
            ));
        }
        match m {
            Mitigation::SetReplicas { replicas: 0, .. } => Err(
                "0 replicas would stop the service; a mitigation keeps at least 1".to_string(),
            ),
            Mitigation::SetReplicas { replicas, .. } if *replicas > self.max_replicas => {
                Err(format!(
                    "{replicas} replicas is above the ceiling of {} ([agent.mitigate] max_replicas)",
                    self.max_replicas
                ))
            }
            Mitigation::RollbackImage { tag, .. } if !is_image_ref(tag) => Err(format!(
                "{tag:?} is not an image tag ([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}) nor a digest (sha256:<64 hex digits>)"
            )),
            Mitigation::RaiseMemoryLimit { bytes: 0, .. } => {
                Err("a memory limit of 0 bytes is no limit to raise to".to_string())
            }
            _ => Ok(()),
        }
    }
}

/// True for an OCI tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`) or a
/// `sha256:` digest (64 lowercase hex digits).
pub fn is_image_ref(tag: &str) -> bool {
    if let Some(hex) = tag.strip_prefix("sha256:") {
        return hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    }
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Refuses raising `field` from `current` to `asked` bytes when that is more
/// than `max_factor` times the current limit.
pub(crate) fn within_band(
    field: &str,
    current: u64,
    asked: u64,
    max_factor: f64,
) -> Result<(), String> {
    let cap = current as f64 * max_factor;
    if asked as f64 > cap {
        return Err(format!(
            "refused: raising {field} from {} to {} is more than {max_factor}× the current limit \
             (at most {}; [agent.mitigate] max_limit_factor)",
            quantity::Human(current),
            quantity::Human(asked),
            quantity::Human(cap.min(u64::MAX as f64) as u64)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_refs_follow_the_oci_grammar() {
        for ok in [
            "v2.13.3",
            "latest",
            "_x",
            "1.0-rc_1",
            &"a".repeat(128),
            &format!("sha256:{}", "ab".repeat(32)),
        ] {
            assert!(is_image_ref(ok), "{ok}");
        }
        for bad in [
            "",
            "v1\n        command: [sh, -c, evil]",
            "v1 # c",
            "-v1",
            ".v1",
            "v1:2",
            "v1/x",
            "v1\"",
            &"a".repeat(129),
            "sha256:abc",
            &format!("sha256:{}", "AB".repeat(32)),
            "v1\u{202e}",
        ] {
            assert!(!is_image_ref(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_band_is_relative_to_the_current_limit() {
        assert!(within_band("m", 32 << 30, 128 << 30, 4.0).is_ok());
        let e = within_band("m", 32 << 30, 18_000_000_000_000_000_000, 4.0).unwrap_err();
        assert!(e.contains("more than 4× the current limit"), "{e}");
    }
}
