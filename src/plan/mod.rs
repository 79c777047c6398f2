//! Planning: from the redacted evidence to a remediation plan the operator
//! approves. `llm` speaks the two LLM wire formats; it never sees unredacted
//! text, the caller redacts first.

pub mod llm;
