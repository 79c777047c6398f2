//! The headless commands: `scan` and `backtest`. They print; the TUI draws.

pub mod backtest;
pub mod scan;
