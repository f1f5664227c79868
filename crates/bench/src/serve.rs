//! `pinbridge serve` as the harness runs it: loopback only, its own RTP port range,
//! pinned to one core, its log in a file; started and stopped by the test kit's
//! launcher.

use std::path::Path;

pub use pinbridge_testkit::http::Metrics;
pub use pinbridge_testkit::ports::try_free_port_block as free_port_block;
pub use pinbridge_testkit::serve::{STOP_GRACE, Serve};

use crate::Error;
use crate::directory::Cli;

/// Where and how to start `serve`.
pub struct ServeConfig<'a> {
    pub cli: &'a Cli,
    pub rtp_low: u16,
    pub rtp_high: u16,
    pub core: Option<usize>,
    /// Standard error (the log) goes here.
    pub log: &'a Path,
}

/// Starts `serve` on free loopback ports with the RTP range of `config`, trunk calls
/// allowed from loopback, and waits until it listens.
pub fn start(config: &ServeConfig<'_>) -> Result<Serve, Error> {
    let range = format!("{}-{}", config.rtp_low, config.rtp_high);
    Serve::start(
        config.cli.command_on(config.core),
        &["--rtp-ports", &range, "--trunk-allow", "127.0.0.1/32"],
        Some(config.log),
    )
}

/// SIGTERM, up to [`STOP_GRACE`] for a clean exit, then SIGKILL; how it ended.
pub fn stop(serve: &mut Serve) -> String {
    match serve.proc.stop(STOP_GRACE) {
        (Some(status), false) => format!("exited after SIGTERM: {status}"),
        (Some(status), true) => format!("killed with SIGKILL after {STOP_GRACE:?}: {status}"),
        (None, _) => "did not exit even after SIGKILL".into(),
    }
}
