//! `pinbridge serve` started on free loopback ports: it waits for the listening lines,
//! knows the addresses they name, reads `/metrics`, and is stopped by its PID.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::Error;
use crate::http::{self, Metrics};
use crate::process::{Lines, Proc};

/// How long `serve` may take to print its listening lines.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long `serve` has to exit after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(15);

/// A running `pinbridge serve`, stopped by PID (SIGKILL) when dropped.
pub struct Serve {
    pub proc: Proc,
    /// `http://127.0.0.1:PORT`, the base of every URL of the web server.
    pub url: String,
    /// The address of the HTTP listener.
    pub http: SocketAddr,
    /// The dial-in bridge's SIP listeners.
    pub sip_udp: SocketAddr,
    pub sip_tcp: SocketAddr,
    /// The SIP over TLS listener, when `--sip-tls` is given.
    pub sip_tls: Option<SocketAddr>,
    /// What `serve` printed on standard output so far.
    pub lines: Lines,
    /// How many of `lines.seen` [`Serve::wait_for_line`] has looked at.
    looked_at: usize,
}

impl Serve {
    /// Runs `cmd serve FLAGS`, where `cmd` is the `pinbridge` binary with its global
    /// options (data directory, database): the HTTP listener and both SIP listeners on
    /// free loopback ports unless `flags` names them. Standard error (the log) goes to
    /// `log`, or to the caller's standard error. Returns once `serve` printed where it
    /// listens.
    pub fn start(mut cmd: Command, flags: &[&str], log: Option<&Path>) -> Result<Serve, Error> {
        cmd.arg("serve");
        for (flag, default) in [
            ("--http", "127.0.0.1:0"),
            ("--sip-udp", "127.0.0.1:0"),
            ("--sip-tcp", "127.0.0.1:0"),
        ] {
            if !flags.contains(&flag) {
                cmd.args([flag, default]);
            }
        }
        cmd.args(flags).stdin(Stdio::null()).stdout(Stdio::piped());
        match log {
            Some(path) => {
                let file = std::fs::File::create(path)
                    .map_err(|e| Error::new(format!("cannot create {}: {e}", path.display())))?;
                cmd.stderr(Stdio::from(file));
            }
            None => {
                cmd.stderr(Stdio::inherit());
            }
        }
        let mut proc = Proc::spawn("pinbridge serve", cmd)?;
        let lines = Lines::read(proc.take_stdout().expect("piped stdout"));
        let mut serve = Serve {
            proc,
            url: String::new(),
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            sip_udp: SocketAddr::from(([127, 0, 0, 1], 0)),
            sip_tcp: SocketAddr::from(([127, 0, 0, 1], 0)),
            sip_tls: None,
            lines,
            looked_at: 0,
        };
        let http = serve.try_wait_for_line("listening on http://", START_TIMEOUT, log)?;
        let url = http.trim_start_matches("listening on ").trim().to_owned();
        serve.http = url
            .trim_start_matches("http://")
            .parse()
            .map_err(|_| Error::new(format!("serve printed an unreadable address: {http:?}")))?;
        serve.url = url;
        let sip = serve.try_wait_for_line("sip listening on ", START_TIMEOUT, log)?;
        let field = |prefix: &str| {
            sip.split_whitespace()
                .find_map(|w| w.strip_prefix(prefix))
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| Error::new(format!("no {prefix} address in {sip:?}")))
        };
        serve.sip_udp = field("udp:")?;
        serve.sip_tcp = field("tcp:")?;
        serve.sip_tls = field("tls:").ok();
        // The listening lines stay visible to later waits.
        serve.looked_at = 0;
        Ok(serve)
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    fn try_wait_for_line(
        &mut self,
        prefix: &str,
        timeout: Duration,
        log: Option<&Path>,
    ) -> Result<String, Error> {
        if let Some(k) = self.lines.seen[self.looked_at..]
            .iter()
            .position(|l| l.starts_with(prefix))
        {
            self.looked_at += k + 1;
            return Ok(self.lines.seen[self.looked_at - 1].clone());
        }
        match self.lines.wait_for(timeout, |l| l.starts_with(prefix)) {
            Some(line) => {
                self.looked_at = self.lines.seen.len();
                Ok(line)
            }
            None => {
                let log = log
                    .map(|p| std::fs::read_to_string(p).unwrap_or_default())
                    .unwrap_or_default();
                Err(Error::new(format!(
                    "serve printed no {prefix:?} line within {timeout:?} (exit: {:?}); \
                     printed {:?}; log:\n{log}",
                    self.proc.exited(),
                    self.lines.seen
                )))
            }
        }
    }

    /// Waits for a line of standard output that starts with `prefix`, looking first at
    /// the lines printed since the last line this returned.
    pub fn wait_for_line(&mut self, prefix: &str, timeout: Duration) -> String {
        self.try_wait_for_line(prefix, timeout, None)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every sample of `/metrics`.
    pub fn metrics(&self) -> Result<Metrics, Error> {
        Ok(Metrics::parse(&http::get_ok(self.http, "/metrics")?))
    }

    /// One value of `/metrics` (with or without labels), e.g. `pinbridge_active_calls`;
    /// panics when `serve` does not export it.
    pub fn metric(&self, name: &str) -> f64 {
        let metrics = self.metrics().unwrap_or_else(|e| panic!("{e}"));
        metrics
            .find(name)
            .unwrap_or_else(|| panic!("no {name} in /metrics: {:?}", metrics.0))
    }

    /// SIGTERM by PID and the exit status; SIGKILL after [`STOP_GRACE`] (the status then
    /// says so: it is not a success).
    pub fn stop(mut self) -> ExitStatus {
        self.stop_process()
    }

    /// Stops this `serve` as [`Serve::stop`] does and starts `cmd serve FLAGS` in its
    /// place, as [`Serve::start`] does: a restart on the same store. The exit status of
    /// the one stopped.
    pub fn restart(&mut self, cmd: Command, flags: &[&str], log: Option<&Path>) -> ExitStatus {
        let status = self.stop_process();
        *self = Serve::start(cmd, flags, log).unwrap_or_else(|e| panic!("restart: {e}"));
        status
    }

    fn stop_process(&mut self) -> ExitStatus {
        match self.proc.stop(STOP_GRACE) {
            (Some(status), _) => status,
            (None, _) => panic!("serve (PID {}) did not exit even after SIGKILL", self.pid()),
        }
    }
}
