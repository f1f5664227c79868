//! Shared helpers of the end-to-end tests: a fresh store on each backend, the
//! `pinbridge` binary run as a real process, and `serve` on that store (started by the
//! test kit's launcher).
//!
//! Every test runs on SQLite, and also on PostgreSQL when `DATABASE_URL` is set (each
//! test gets a schema of its own there). A `DATABASE_URL` that cannot be reached fails
//! the test: it never silently skips.

#![allow(dead_code)]

pub mod browser;
pub mod directory;
pub mod phone;
pub mod private_postgres;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use pinbridge_app::{App, StoreConfig};
use pinbridge_store::OpenOptions;

pub use pinbridge_testkit::serve::Serve;

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

    /// Starts `pinbridge serve` on this store, every listener on a free loopback port
    /// unless `extra` names it, and waits until it listens.
    pub fn serve(&self, extra: &[&str]) -> Serve {
        self.serve_logged(extra, None)
    }

    /// [`TestStore::serve`], with the log (standard error) written to `log` when given.
    pub fn serve_logged(&self, extra: &[&str], log: Option<&Path>) -> Serve {
        Serve::start(self.command(), extra, log).unwrap_or_else(|e| panic!("[{}] {e}", self.name))
    }
}

/// Sends the signal `name` (e.g. `KILL`) to one process by its PID.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// A plain HTTP/1.1 GET on loopback (`base` is `http://127.0.0.1:PORT`): the status code
/// and the body.
pub fn http_get(base: &str, path: &str) -> (u16, String) {
    let addr = base
        .trim_start_matches("http://")
        .parse()
        .unwrap_or_else(|_| panic!("not a loopback HTTP address: {base:?}"));
    pinbridge_testkit::http::get(addr, path).unwrap_or_else(|e| panic!("{e}"))
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
