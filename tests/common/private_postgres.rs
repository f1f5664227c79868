//! A PostgreSQL server of the test's own, in a temporary directory on a free loopback
//! port, so a test can stop and start it without touching the shared server.

use std::path::PathBuf;
use std::process::Command;

pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    pub port: u16,
    bindir: PathBuf,
}

/// Runs a PostgreSQL tool as the `postgres` account when we are root (the server
/// refuses to run as root), else as ourselves.
fn as_postgres(program: &PathBuf) -> Command {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    if is_root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl PrivatePostgres {
    /// Creates a cluster (trust authentication) and starts it.
    pub fn start() -> Self {
        let bindir = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .expect("pg_config (postgresql-server-dev or libpq-dev)");
        let bindir = PathBuf::from(String::from_utf8(bindir.stdout).expect("UTF-8").trim());
        let dir = super::tempdir();
        // The server's account must own its directory; as a non-root user this fails
        // harmlessly, since the server then runs as that user.
        let _ = Command::new("chown")
            .arg("postgres")
            .arg(dir.path())
            .status();
        let data = dir.path().join("data");
        let out = as_postgres(&bindir.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let server = Self {
            dir,
            port: free_port(),
            bindir,
        };
        server.start_again();
        server
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts the server and waits until it accepts connections (`pg_ctl -w`).
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let out = as_postgres(&self.bindir.join("pg_ctl"))
            .args(["-w", "-t", "60", "-l"])
            .arg(self.dir.path().join("server.log"))
            .arg("-D")
            .arg(self.data())
            .args(["-o", &options, "start"])
            .output()
            .expect("run pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the server (fast shutdown, by the PID in its postmaster.pid) and waits.
    pub fn stop(&self) {
        let out = as_postgres(&self.bindir.join("pg_ctl"))
            .args(["-w", "-t", "60", "-m", "fast", "-D"])
            .arg(self.data())
            .arg("stop")
            .output()
            .expect("run pg_ctl stop");
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists() {
            let _ = as_postgres(&self.bindir.join("pg_ctl"))
                .args(["-w", "-m", "immediate", "-D"])
                .arg(self.data())
                .arg("stop")
                .output();
        }
    }
}
