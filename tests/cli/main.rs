//! The admin CLI tests: `pinbridge` run as a process against a fresh store on each
//! backend.
//!
//! One module per behaviour; they share the helpers of `tests/common/` and the test kit.

#[path = "../common/mod.rs"]
mod common;

mod api_tokens_audited;
mod bad_input;
mod concurrent_pin_resets;
mod config_precedence;
mod meeting_created_audited;
mod pin_lifecycle;
mod server_key_mismatch;
mod sign_in_lock_cleared_audited;
mod user_search;
