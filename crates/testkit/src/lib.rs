//! Test support shared by the end-to-end tests of the repository root and the load
//! harness of `crates/bench`: one of each of the things both need.
//!
//! - [`process`]: a child process stopped by its PID (also when dropped), with its output
//!   read line by line within a bounded wait;
//! - [`serve`]: `pinbridge serve` on free loopback ports, its listening addresses, its
//!   `/metrics`;
//! - [`ports`]: free loopback ports and port blocks that no two users of one process share;
//! - [`http`]: a plain HTTP/1.1 GET on loopback;
//! - [`pcap`]: tcpdump on the loopback interface and a pcap reader and writer;
//! - [`sipp`]: SIPp started with a scenario, its logs read back;
//! - [`phone`]: scripted phones (a SIPp caller, a baresip, a Linphone, a SIPp answering peer) and what
//!   they typed and heard, analysed with `pinbridge-media`'s audio analysis;
//! - [`tls`]: a test CA with server and client certificates (openssl), and a TLS client
//!   for SIP over TLS.
//!
//! Every wait is bounded; every process is stopped by its PID.

pub mod http;
pub mod pcap;
pub mod phone;
pub mod ports;
pub mod process;
pub mod serve;
pub mod sipp;
pub mod tls;

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Why something could not be started, read or measured: one sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl Error {
    pub fn new(message: impl Into<String>) -> Error {
        Error(message.into())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The root of the repository (the workspace).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The committed audio assets, `assets/` at the root of the repository.
pub fn assets_dir() -> PathBuf {
    workspace_root().join("assets")
}

/// Polls `check` every 50 ms until it returns `Some`, up to `timeout`; panics with
/// `what` otherwise.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
