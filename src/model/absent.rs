//! Serde for `f64` values that may be absent: JSON has no NaN or infinity,
//! so a non-finite value is written as `null` and `null` reads back as NaN
//! (absent). Without it one NaN made a journal record unreadable.

use serde::{Deserialize, Deserializer, Serializer};

/// Write a finite value as a number, anything else as `null`.
pub fn serialize<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
    if value.is_finite() {
        s.serialize_f64(*value)
    } else {
        s.serialize_none()
    }
}

/// Read a number, or `null` as NaN (absent).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}
