//! Triage: turns a flag (a suspicion) into an incident worth acting on, and
//! makes sure nothing leaves the machine with a secret in it.
//!
//! `redact` is the door every outgoing text passes through.

pub mod redact;
