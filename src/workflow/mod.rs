//! Durable incident workflows: memoized steps in a sled journal, retries,
//! idempotent side effects, resume after a crash.

pub mod engine;
pub mod incident;
pub mod journal;
pub mod memory;
pub mod parts;
pub mod run;
pub mod silence;
pub mod steps;
pub mod watch;
