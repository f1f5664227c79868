//! Shared helpers of the end-to-end tests: a fresh store on each backend, the
//! `pinbridge` binary run as a real process, and a running `serve`.
//!
//! Every test runs on SQLite, and also on PostgreSQL when `DATABASE_URL` is set (each
//! test gets a schema of its own there). A `DATABASE_URL` that cannot be reached fails
//! the test: it never silently skips.

#![allow(dead_code)]

pub mod browser;
pub mod directory;
pub mod phone;
pub mod private_postgres;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use pinbridge_app::{App, StoreConfig};
use pinbridge_store::OpenOptions;

pub const BIN: &str = env!("CARGO_BIN_EXE_pinbridge");

/// One fresh store for one test.
pub struct TestStore {
    pub name: &'static str,
    pub dir: tempfile::TempDir,
    /// Set for PostgreSQL; `None` is the embedded SQLite in `dir`.
    pub database_url: Option<String>,
    /// The server key for PostgreSQL (SQLite keeps its own in `dir/server.key`).
    pub server_key: Option<String>,
    /// The PostgreSQL schema this test owns, and the URL of its database.
    pub schema: Option<(String, String)>,
}

/// The stores a test runs on: SQLite always, PostgreSQL when `DATABASE_URL` is set.
pub fn stores() -> Vec<TestStore> {
    let mut out = vec![sqlite()];
    if let Ok(url) = std::env::var("DATABASE_URL") {
        out.push(postgres(&url));
    }
    out
}

pub fn sqlite() -> TestStore {
    TestStore {
        name: "sqlite",
        dir: tempdir(),
        database_url: None,
        server_key: None,
        schema: None,
    }
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pinbridge-test-")
        .tempdir()
        .expect("a temporary directory")
}

/// A new schema in the database `base_url` names, and a URL that uses it.
pub fn postgres(base_url: &str) -> TestStore {
    let schema = format!("t_{}_{}", std::process::id(), random_hex(6));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(base_url)
            .await
            .unwrap_or_else(|e| {
                panic!("DATABASE_URL is set but PostgreSQL cannot be reached: {e}")
            });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .expect("create a test schema");
    });
    let sep = if base_url.contains('?') { '&' } else { '?' };
    TestStore {
        name: "postgres",
        dir: tempdir(),
        database_url: Some(format!(
            "{base_url}{sep}options=-c%20search_path%3D{schema}"
        )),
        server_key: Some(random_hex(32)),
        schema: Some((schema, base_url.to_owned())),
    }
}

pub fn random_hex(bytes: usize) -> String {
    use rand_core::RngCore;
    let mut buf = vec![0u8; bytes];
    rand_core::OsRng.fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

impl TestStore {
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The `pinbridge` command, pointed at this store.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_remove("DATABASE_URL")
            .env_remove("PINBRIDGE_DATABASE_URL")
            .env_remove("PINBRIDGE_SERVER_KEY");
        cmd.arg("--data-dir").arg(self.data_dir());
        if let Some(url) = &self.database_url {
            cmd.arg("--database-url").arg(url);
        }
        if let Some(key) = &self.server_key {
            cmd.env("PINBRIDGE_SERVER_KEY", key);
        }
        cmd
    }

    /// Runs `pinbridge ARGS` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run pinbridge")
    }

    /// Runs `pinbridge ARGS`, which must succeed, and returns its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "[{}] pinbridge {args:?} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    /// Runs `pinbridge --json ARGS` and parses the output.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).expect("JSON output")
    }

    /// Runs `pinbridge ARGS`, which must fail with a one-line error; returns the line.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "[{}] pinbridge {args:?} should have failed",
            self.name
        );
        let err = String::from_utf8(out.stderr).expect("UTF-8 errors");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "one-line error expected, got {err:?}"
        );
        assert!(err.starts_with("error: "), "{err:?}");
        err.trim_end().to_owned()
    }

    /// Everything the store holds on disk, as (where, bytes): each file under the data
    /// directory (database, WAL, key, logs), and for PostgreSQL a `pg_dump` of the
    /// test's schema.
    pub fn stored_bytes(&self) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<(String, Vec<u8>)> = files_below(&self.data_dir())
            .into_iter()
            .map(|f| {
                let bytes = std::fs::read(&f).expect("read a data file");
                (f.display().to_string(), bytes)
            })
            .collect();
        if let Some((schema, url)) = &self.schema {
            let dump = Command::new("pg_dump")
                .args(["--schema", schema, "--data-only", "--dbname", url])
                .output()
                .expect("run pg_dump");
            assert!(
                dump.status.success(),
                "pg_dump failed: {}",
                String::from_utf8_lossy(&dump.stderr)
            );
            out.push((format!("pg_dump of {schema}"), dump.stdout));
        }
        out
    }

    /// Everything an admin can read back — settings, numbers, users, audit log — to
    /// show that a refused command changed nothing.
    pub fn snapshot(&self) -> String {
        [
            self.ok(&["--json", "tenant", "show"]),
            self.ok(&["--json", "number", "list"]),
            self.ok(&["--json", "user", "list", "--limit", "1000"]),
            self.ok(&["--json", "audit", "--limit", "100000"]),
        ]
        .join("\n")
    }

    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            data_dir: self.data_dir(),
            database_url: self.database_url.clone(),
            server_key: self.server_key.clone(),
            open: OpenOptions::default(),
        }
    }

    /// The application over this store, in this process, to check what the CLI did.
    pub async fn app(&self) -> App {
        App::open(&self.store_config())
            .await
            .expect("open the test store")
    }

    /// Starts `pinbridge serve` on a free loopback port and waits until it listens.
    pub fn serve(&self, extra: &[&str]) -> Serve {
        let mut cmd = self.command();
        cmd.args(["serve", "--http", "127.0.0.1:0"]);
        // Tests run in parallel: every serve takes free ports unless the test names its own.
        if !extra.contains(&"--sip-udp") {
            cmd.args(["--sip-udp", "127.0.0.1:0"]);
        }
        if !extra.contains(&"--sip-tcp") {
            cmd.args(["--sip-tcp", "127.0.0.1:0"]);
        }
        cmd.args(extra);
        Serve::start(cmd)
    }
}

/// A running `pinbridge serve`, stopped by PID when dropped.
pub struct Serve {
    pub child: Child,
    pub http: String,
    pub stdout_lines: mpsc::Receiver<String>,
    /// Every line of standard output read so far.
    pub seen: Vec<String>,
}

impl Serve {
    pub fn start(mut cmd: Command) -> Serve {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start pinbridge serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut serve = Serve {
            child,
            http: String::new(),
            stdout_lines: rx,
            seen: Vec::new(),
        };
        let line = serve.wait_for_line("listening on http://", Duration::from_secs(60));
        serve.http = line.trim_start_matches("listening on ").trim().to_owned();
        serve
    }

    /// Waits for a line of standard output that starts with `prefix`.
    pub fn wait_for_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.stdout_lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(_) => {
                    let status = self.child.try_wait();
                    panic!(
                        "serve printed no {prefix:?} line within {timeout:?} (process: {status:?})"
                    )
                }
            }
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        signal(self.child.id(), "TERM");
        let status = self.child.wait().expect("wait for serve");
        std::mem::forget(self);
        status
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// A plain HTTP/1.1 GET on loopback: the status code and the body.
pub fn http_get(base: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to serve");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Every file below `dir`, recursively (none if it does not exist).
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if !dir.exists() {
        return out;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}
