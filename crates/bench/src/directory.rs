//! A fresh data directory prepared with the `pinbridge` CLI, as an admin would: the
//! tenant's settings, a service number, an organiser, and the meetings the callers join.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Error;

/// The number the callers dial.
pub const SERVICE_NUMBER: &str = "+14255550100";
/// The organiser of every meeting.
pub const ORGANISER: &str = "load.organiser@bench.example";

/// The `pinbridge` binary pointed at one data directory.
#[derive(Debug, Clone)]
pub struct Cli {
    pub bin: PathBuf,
    pub data_dir: PathBuf,
}

impl Cli {
    pub fn new(bin: &Path, data_dir: &Path) -> Cli {
        Cli {
            bin: bin.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// `pinbridge --data-dir DIR`, with no database URL or server key from the
    /// environment (the embedded SQLite and its own key file).
    pub fn command(&self) -> Command {
        self.command_on(None)
    }

    /// [`Cli::command`], pinned to `core` when given.
    pub fn command_on(&self, core: Option<usize>) -> Command {
        let mut cmd = crate::process::command(&self.bin, core);
        cmd.env_remove("DATABASE_URL")
            .env_remove("PINBRIDGE_DATABASE_URL")
            .env_remove("PINBRIDGE_SERVER_KEY")
            .arg("--data-dir")
            .arg(&self.data_dir);
        cmd
    }

    /// Runs `pinbridge ARGS`, which must succeed; its standard output.
    pub fn run(&self, args: &[&str]) -> Result<String, Error> {
        let out = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::new(format!("cannot run {}: {e}", self.bin.display())))?;
        if !out.status.success() {
            return Err(Error::new(format!(
                "pinbridge {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs `pinbridge --json ARGS` and parses what it prints.
    pub fn json(&self, args: &[&str]) -> Result<serde_json::Value, Error> {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all)?;
        serde_json::from_str(&out).map_err(|e| {
            Error::new(format!(
                "pinbridge {}: not JSON ({e}): {out}",
                args.join(" ")
            ))
        })
    }

    /// Tenant, number and organiser: name recording off (short calls), no automatic
    /// emails (nothing for the mail worker to do during a run), the longest lobby wait.
    pub fn prepare_tenant(&self) -> Result<(), Error> {
        self.run(&[
            "tenant",
            "set",
            "--enable-name-recording",
            "false",
            "--automatically-send-emails",
            "false",
        ])?;
        self.run(&["number", "add", SERVICE_NUMBER])?;
        self.run(&["user", "add", ORGANISER, "--display-name", "Load Organiser"])?;
        // A meeting's conference ID is found only while its organiser is enabled.
        self.run(&["user", "enable", ORGANISER])?;
        Ok(())
    }

    /// A new meeting; its conference ID. `starts` makes it one that callers start
    /// (anonymous start) and join directly (lobby bypass); otherwise nobody can start it
    /// without the organiser's PIN, so every caller waits in the lobby.
    pub fn new_meeting(&self, starts: bool) -> Result<String, Error> {
        let flag = if starts { "true" } else { "false" };
        let out = self.json(&[
            "meeting",
            "new",
            "--organizer",
            ORGANISER,
            "--allow-anonymous-start",
            flag,
            "--allow-pstn-users-to-bypass-lobby",
            flag,
        ])?;
        let id = &out["conference_id"];
        id.as_str()
            .map(str::to_owned)
            .or_else(|| id.as_u64().map(|n| n.to_string()))
            .ok_or_else(|| Error::new(format!("meeting new printed no conference_id: {out}")))
    }

    /// Participants of a meeting as `meeting show --json` lists them: (in the meeting,
    /// in the lobby).
    pub fn participants(&self, conference_id: &str) -> Result<(usize, usize), Error> {
        let out = self.json(&["meeting", "show", conference_id])?;
        let list = out["participants"].as_array().cloned().unwrap_or_default();
        let lobby = list
            .iter()
            .filter(|p| {
                p["placement"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case("lobby"))
                    || p["in_lobby"].as_bool() == Some(true)
            })
            .count();
        Ok((list.len() - lobby, lobby))
    }
}
