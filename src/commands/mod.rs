//! The headless commands: `scan`, `backtest`, `fix`, `resume`, `incidents`.
//! They print; the TUI draws.

pub mod backtest;
pub mod fix;
pub mod scan;
