//! `pinbridge serve` as the harness runs it: loopback only, its own RTP port range,
//! pinned to one core, its `/metrics` read over plain HTTP, stopped by PID.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::Error;
use crate::directory::Cli;
use crate::process::Proc;

/// How long `serve` may take to print its listening lines.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `pinbridge serve`.
pub struct Serve {
    pub proc: Proc,
    /// `127.0.0.1:PORT` of the HTTP listener (for `/metrics`).
    pub http: SocketAddr,
    pub sip_udp: SocketAddr,
    pub rtp_low: u16,
    pub rtp_high: u16,
    /// Every line `serve` printed on standard output (its log goes to a file).
    pub lines: Vec<String>,
}

/// Where and how to start `serve`.
pub struct ServeConfig<'a> {
    pub cli: &'a Cli,
    pub rtp_low: u16,
    pub rtp_high: u16,
    pub core: Option<usize>,
    /// Standard error (the log) goes here.
    pub log: &'a Path,
}

impl Serve {
    pub fn start(config: &ServeConfig<'_>) -> Result<Serve, Error> {
        let mut cmd = config.cli.command_on(config.core);
        let range = format!("{}-{}", config.rtp_low, config.rtp_high);
        cmd.args(["serve", "--http", "127.0.0.1:0"])
            .args(["--sip-udp", "127.0.0.1:0", "--sip-tcp", "127.0.0.1:0"])
            .args(["--rtp-ports", &range, "--trunk-allow", "127.0.0.1/32"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(config.log).map_err(
                |e| Error::new(format!("cannot create {}: {e}", config.log.display())),
            )?));
        let mut proc = Proc::spawn("pinbridge serve", cmd)?;
        let stdout = proc.take_stdout().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        let mut http = None;
        let mut sip_udp = None;
        let deadline = Instant::now() + START_TIMEOUT;
        while http.is_none() || sip_udp.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => {
                    let log = std::fs::read_to_string(config.log).unwrap_or_default();
                    return Err(Error::new(format!(
                        "serve did not print its listening lines within {START_TIMEOUT:?} \
                         (exit: {:?}); printed {lines:?}; log:\n{log}",
                        proc.exited()
                    )));
                }
            };
            if let Some(rest) = line.strip_prefix("listening on http://") {
                http = rest.trim().parse().ok();
            }
            if line.starts_with("sip listening on") {
                sip_udp = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("udp:"))
                    .and_then(|a| a.parse().ok());
            }
            lines.push(line);
        }
        Ok(Serve {
            proc,
            http: http.expect("checked"),
            sip_udp: sip_udp.expect("checked"),
            rtp_low: config.rtp_low,
            rtp_high: config.rtp_high,
            lines,
        })
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Every sample of `/metrics`, by name (labels kept as part of the name).
    pub fn metrics(&self) -> Result<Metrics, Error> {
        let body = http_get(self.http, "/metrics")?;
        Ok(Metrics::parse(&body))
    }

    /// SIGTERM, up to 15 s for a clean exit, then SIGKILL.
    pub fn stop(&mut self) -> String {
        match self.proc.stop(Duration::from_secs(15)) {
            (Some(status), false) => format!("exited after SIGTERM: {status}"),
            (Some(status), true) => format!("killed with SIGKILL after 15 s: {status}"),
            (None, _) => "did not exit even after SIGKILL".into(),
        }
    }
}

/// One reading of `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Metrics(pub BTreeMap<String, f64>);

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        Metrics(
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    let (key, value) = l.rsplit_once(' ')?;
                    Some((key.trim().to_owned(), value.trim().parse().ok()?))
                })
                .collect(),
        )
    }

    /// A value, 0 when pinbridge does not export it (an older or newer binary).
    pub fn get(&self, name: &str) -> f64 {
        self.0.get(name).copied().unwrap_or(0.0)
    }

    /// `later - self` for every counter both readings have.
    pub fn delta(&self, later: &Metrics) -> Metrics {
        Metrics(
            later
                .0
                .iter()
                .map(|(k, v)| (k.clone(), v - self.0.get(k).copied().unwrap_or(0.0)))
                .collect(),
        )
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::json!(v)))
                .collect(),
        )
    }
}

/// A plain HTTP/1.1 GET on loopback; the body of a 200.
pub fn http_get(addr: SocketAddr, path: &str) -> Result<String, Error> {
    let fail = |e: std::io::Error| Error::new(format!("GET http://{addr}{path}: {e}"));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(fail)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(fail)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(fail)?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(fail)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    if !head.starts_with("HTTP/1.1 200") {
        return Err(Error::new(format!(
            "GET http://{addr}{path}: {}",
            head.lines().next().unwrap_or("no response")
        )));
    }
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Ok(if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Where the port blocks handed out by this process start and end: below Linux's
/// ephemeral ports (32768 and up), so that sockets bound to port 0 never take them.
const PORTS_FROM: u16 = 10_000;
const PORTS_BELOW: u16 = 32_700;

/// The next port this process looks at (0: not chosen yet). Two runs in one process
/// (parallel tests) get disjoint blocks, because pinbridge binds its RTP ports only when a
/// call comes; two processes start at different places (by PID), which makes a clash of
/// two harnesses on one machine unlikely, not impossible.
static NEXT_PORT: std::sync::Mutex<u16> = std::sync::Mutex::new(0);

/// A block of `count` consecutive UDP ports on 127.0.0.1, starting at an even port, every
/// one of them free a moment ago and not handed out before by this process.
pub fn free_port_block(count: u16) -> Result<u16, Error> {
    let mut next = NEXT_PORT.lock().unwrap_or_else(|e| e.into_inner());
    if *next == 0 {
        let span = u32::from(PORTS_BELOW - PORTS_FROM) / 2;
        *next = PORTS_FROM + 2 * (std::process::id().wrapping_mul(7919) % span) as u16;
    }
    let mut wrapped = false;
    let mut base = *next + (*next % 2);
    loop {
        if u32::from(base) + u32::from(count) > u32::from(PORTS_BELOW) {
            if wrapped {
                return Err(Error::new(format!(
                    "no {count} free consecutive UDP ports between {PORTS_FROM} and {PORTS_BELOW}"
                )));
            }
            wrapped = true;
            base = PORTS_FROM;
            continue;
        }
        match (base..base + count).find(|&p| UdpSocket::bind(("127.0.0.1", p)).is_err()) {
            None => {
                *next = base + count;
                return Ok(base);
            }
            Some(taken) => base = (taken + 1) + ((taken + 1) % 2),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_text() {
        let m = Metrics::parse(
            "# HELP pinbridge_active_calls x\n# TYPE pinbridge_active_calls gauge\n\
             pinbridge_active_calls 12\npinbridge_rtp_packets_sent_total 3000\n",
        );
        assert_eq!(m.get("pinbridge_active_calls"), 12.0);
        assert_eq!(m.get("pinbridge_nothing"), 0.0);
        let later = Metrics::parse("pinbridge_rtp_packets_sent_total 4500\n");
        assert_eq!(
            m.delta(&later).get("pinbridge_rtp_packets_sent_total"),
            1500.0
        );
    }

    #[test]
    fn port_blocks_do_not_overlap() {
        let a = free_port_block(10).unwrap();
        let b = free_port_block(4).unwrap();
        assert_eq!(a % 2, 0);
        assert!(b >= a + 10 || b + 4 <= a, "{a} {b}");
    }

    #[test]
    fn chunked_body() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
    }
}
