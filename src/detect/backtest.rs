//! Replay rules over history: every state change, in time order.

use super::rules::Rule;
use super::Detector;
use crate::model::{FleetSnapshot, Transition};

/// Evaluate `rules` over every point of `history`, from a clean state.
pub fn run(rules: &[Rule], history: &FleetSnapshot) -> Vec<Transition> {
    Detector::new(rules.to_vec()).ingest(history)
}
