//! Measuring medic's detectors on public benchmarks.

pub mod nab;
