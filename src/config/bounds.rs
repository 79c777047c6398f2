//! `[agent.mitigate]` and `[http]`: the bounds medic keeps whatever a plan or
//! a server says (how far a mitigation may go, how much of an answer is read).

use serde::{Deserialize, Deserializer};

/// `[agent.mitigate]`: how far the offline agent may change a service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MitigateConfig {
    /// Most replicas a mitigation may set (at least 1).
    pub max_replicas: Replicas,
    /// A raised memory limit may be at most this many times the current one.
    pub max_limit_factor: Factor,
}

impl Default for MitigateConfig {
    fn default() -> Self {
        MitigateConfig {
            max_replicas: Replicas(20),
            max_limit_factor: Factor(4.0),
        }
    }
}

/// A replica ceiling, at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replicas(pub u32);

impl<'de> Deserialize<'de> for Replicas {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u32::deserialize(d)?;
        if n >= 1 {
            Ok(Replicas(n))
        } else {
            Err(serde::de::Error::custom(
                "must be at least 1: a mitigation never scales a service to zero",
            ))
        }
    }
}

/// A growth factor, finite and at least 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Factor(pub f64);

impl<'de> Deserialize<'de> for Factor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = f64::deserialize(d)?;
        if f.is_finite() && f >= 1.0 {
            Ok(Factor(f))
        } else {
            Err(serde::de::Error::custom(format!(
                "{f} is not a growth factor: use a number ≥ 1, e.g. 4 (up to 4× the current limit)"
            )))
        }
    }
}

/// Default cap on one HTTP answer's body: 64 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 64 << 20;

/// `[http]`: limits on what medic reads from servers (sources and LLM).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest response body read, in bytes; a bigger answer is an error naming the URL.
    pub max_body_bytes: BodyCap,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: BodyCap(DEFAULT_MAX_BODY_BYTES),
        }
    }
}

/// A body cap in bytes, at least 1 KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyCap(pub u64);

impl<'de> Deserialize<'de> for BodyCap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u64::deserialize(d)?;
        if n >= 1024 {
            Ok(BodyCap(n))
        } else {
            Err(serde::de::Error::custom(format!(
                "{n} bytes is too small for any answer: use at least 1024 (default 67108864, 64 MiB)"
            )))
        }
    }
}
