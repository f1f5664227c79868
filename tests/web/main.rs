//! The web tests: `serve`'s HTTP and HTTPS listeners, the admin center and a user's
//! meetings in headless Chromium, the API under Schemathesis.
//!
//! One module per behaviour; they share the helpers of `tests/common/` and the test kit.

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/mail.rs"]
mod mail;

mod admin_browser;
mod https;
mod meetings_browser;
mod schemathesis;
mod serve_healthz;
