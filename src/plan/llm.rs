//! LLM clients (in progress).
