//! The headless commands: `scan`, `backtest`, `fix`, `resume`, `incidents`, `merge`.
//! They print; the TUI draws. Every print goes through `crate::terminal`
//! (untrusted text never reaches the terminal raw), so `println!` is denied.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod backtest;
pub mod fix;
pub mod merge;
pub mod scan;
pub mod similar;
