//! medic: watches services' metrics, flags the ones in real trouble, plans a
//! fix and drives a coding agent to a draft pull request, with a human
//! holding the keys.
//!
//! Data flows one way: `sources` → `detect` → (triage, workflow) → `tui` / CLI.

pub mod agent;
pub mod commands;
pub mod config;
pub mod detect;
pub mod eval;
pub mod forge;
pub mod model;
pub mod plan;
pub mod preflight;
pub mod refresh;
pub mod setup;
pub mod sources;
pub mod spark;
pub mod terminal;
pub mod triage;
pub mod tui;
pub mod units;
pub mod workflow;
