//! The mail tests: `serve` and `mail flush` delivering to a real SMTP server
//! (`tests/smtp_server.py`) on loopback.
//!
//! One module per behaviour; they share the helpers of `tests/common/` and the test kit.

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/mail.rs"]
mod mail;

mod automatic_emails_off;
mod every_event;
mod mailbox_default;
mod no_plaintext_at_rest;
mod permanent_failure;
mod serve_killed;
mod server_down;
mod starttls;
mod temporary_failure;
mod two_serves;
