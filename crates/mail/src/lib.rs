//! Conferencing emails: what they say ([`template`]), how they travel ([`transport`]:
//! SMTP, or `.eml` files in a mailbox folder), and the worker that takes them from the
//! store's outbox and records each outcome ([`worker`]).
//!
//! Which email an action causes, and to whom, is decided in the domain crate; the
//! store queues it in the same transaction as the change. This crate only delivers.

pub mod template;
pub mod transport;
pub mod worker;

pub use template::{MessageSettings, Rendered};
pub use transport::{Security, SendError, SmtpConfig, Transport};
pub use worker::{DeliveryReport, RetryPolicy, Worker, WorkerConfig};

/// What can go wrong setting up mail delivery.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail configuration: {0}")]
    Config(String),
    #[error("the mailbox folder {path} cannot be used: {source}")]
    Mailbox {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] pinbridge_store::StoreError),
}
