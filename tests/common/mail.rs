//! Mail test helpers: a real SMTP server (`tests/smtp_server.py`, on Debian's
//! python3-aiosmtpd) on 127.0.0.1, a config file pointing pinbridge at it, a tenant
//! with dial-in numbers and 12-digit PINs, and deadline-bounded waiting.
//!
//! The mail and web test binaries include it next to `common`:
//! `#[path = "../common/mail.rs"] mod mail;`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pinbridge_testkit::process::{Lines, Proc};

use serde_json::Value;

use crate::common::TestStore;

pub const PYTHON: &str = "/usr/bin/python3";
pub const TENANT: &str = "Contoso & Partners";
pub const PUBLIC_URL: &str = "https://pinbridge.test";
pub const TOLL: &str = "+14255550100";
pub const TOLL_FREE: &str = "+18005550100";

/// Polls `condition` every 50 ms until it holds or `timeout` passes.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The test SMTP server, stopped by PID when dropped.
pub struct SmtpServer {
    proc: Proc,
    pub port: u16,
    log: PathBuf,
}

impl SmtpServer {
    /// Starts the server on `port` (0: any free port) with the script's options.
    pub fn start(dir: &Path, port: u16, options: &[&str]) -> SmtpServer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py");
        let log = dir.join(format!("smtp-{}.jsonl", crate::common::random_hex(4)));
        let mut cmd = Command::new(PYTHON);
        cmd.arg(script)
            .arg("--port")
            .arg(port.to_string())
            .arg("--log")
            .arg(&log)
            .args(options)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut proc = Proc::spawn("tests/smtp_server.py (python3-aiosmtpd)", cmd)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut lines = Lines::read(proc.take_stdout().expect("piped stdout"));
        let line = lines
            .next_within(Duration::from_secs(20))
            .expect("the SMTP server says it is ready");
        let port = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected SMTP server line {line:?}"));
        SmtpServer { proc, port, log }
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Every event so far, in order.
    pub fn events(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The messages answered 250.
    pub fn delivered(&self) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == "delivered")
            .collect()
    }

    pub fn count(&self, event: &str) -> usize {
        self.events().iter().filter(|e| e["event"] == event).count()
    }
}

/// Writes a config file that sends mail to the SMTP server on `port` over plain SMTP,
/// retrying after about a second; `extra` lines are added as they are.
pub fn config_file(store: &TestStore, port: u16, extra: &[&str]) -> String {
    let path = store
        .dir
        .path()
        .join(format!("mail-{}.toml", crate::common::random_hex(4)));
    let mut text = format!(
        "smtp_host = \"127.0.0.1\"\nsmtp_port = {port}\npublic_url = \"{PUBLIC_URL}\"\n\
         mail_from = \"conferencing@contoso.example\"\nmail_retry_first_seconds = 1\n"
    );
    if !extra.iter().any(|l| l.starts_with("smtp_security")) {
        text.push_str("smtp_security = \"none\"\n");
    }
    for line in extra {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(&path, text).expect("write the config file");
    path.to_string_lossy().into_owned()
}

/// A tenant with a display name that needs escaping, 12-digit PINs, a toll and a
/// toll-free number.
pub fn setup_tenant(store: &TestStore) {
    store.ok(&[
        "tenant",
        "set",
        "--pin-length",
        "12",
        "--display-name",
        TENANT,
    ]);
    store.ok(&["number", "add", TOLL]);
    store.ok(&[
        "number",
        "add",
        TOLL_FREE,
        "--toll-free",
        "--language",
        "fr-FR",
    ]);
}

/// Adds a user with a mailbox at their UPN.
pub fn add_user(store: &TestStore, upn: &str, name: &str) {
    store.ok(&["user", "add", upn, "--display-name", name]);
}

/// `pinbridge --json user ARGS`, returning the JSON (with `pin` where one was issued).
pub fn user_json(store: &TestStore, args: &[&str]) -> Value {
    let mut all = vec!["user"];
    all.extend_from_slice(args);
    store.json(&all)
}

/// `pinbridge mail flush` with `config`; returns its JSON report.
pub fn flush(store: &TestStore, config: &str) -> Value {
    store.json(&["--config", config, "mail", "flush"])
}

/// `pinbridge mail list` (all, or only failed).
pub fn list(store: &TestStore, failed: bool) -> Vec<Value> {
    let mut args = vec!["mail", "list"];
    if failed {
        args.push("--failed");
    }
    store.json(&args).as_array().cloned().unwrap_or_default()
}

/// The decoded text and HTML of a received message, together.
pub fn body(event: &Value) -> String {
    format!(
        "{}\n{}",
        event["text"].as_str().unwrap_or(""),
        event["html"].as_str().unwrap_or("")
    )
}

/// The schema name in a test store's PostgreSQL URL.
pub fn pg_schema(store: &TestStore) -> Option<String> {
    let url = store.database_url.as_ref()?;
    url.split("search_path%3D").nth(1).map(|s| {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    })
}
