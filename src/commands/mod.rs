//! The headless commands: `scan`, `backtest`, `fix`, `resume`, `incidents`,
//! `merge`, `doctor`.
//! They print; the TUI draws. Every print goes through `crate::terminal`
//! (untrusted text never reaches the terminal raw), so `println!` is denied.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod backtest;
pub mod doctor;
pub mod fix;
pub mod hint;
pub mod incidents;
pub mod merge;
pub mod progress;
pub mod scan;
pub mod similar;
