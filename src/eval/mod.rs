//! Measuring medic's detectors on public benchmarks, and its triage and
//! planner on the team's own incident history.

pub mod incidents;
pub mod nab;
