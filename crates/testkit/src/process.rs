//! A child process stopped by its PID, and its output read line by line within a bounded
//! wait.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::Error;

/// A child process stopped by its PID: a signal, then SIGKILL after a bounded wait. It is
/// also stopped (SIGKILL) when dropped, so an early return or a failed assertion never
/// leaves it running.
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    child: Child,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `cmd`. Should the thread that started it die without stopping it (a test
    /// thread that panicked past its drops, a killed harness), the kernel sends the child
    /// SIGTERM.
    pub fn spawn(name: &str, mut cmd: Command) -> Result<Proc, Error> {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches only the child being started.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let child = cmd.spawn().map_err(|e| {
            Error::new(format!(
                "cannot start {name}: {e} (is it installed? see tests/APT-PACKAGES)"
            ))
        })?;
        Ok(Proc {
            name: name.to_owned(),
            child,
            status: None,
        })
    }

    /// The process ID (the program's, also when started through `taskset`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's standard input, once.
    pub fn take_stdin(&mut self) -> Option<std::process::ChildStdin> {
        self.child.stdin.take()
    }

    /// The child's standard output, once.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    /// The child's standard error, once.
    pub fn take_stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.child.stderr.take()
    }

    /// Whether it has exited, without waiting.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        self.exited().is_none()
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `sig` by PID, up to `grace` for the exit, then SIGKILL. Returns how it ended and
    /// whether SIGKILL was needed.
    pub fn stop_with(&mut self, sig: libc::c_int, grace: Duration) -> (Option<ExitStatus>, bool) {
        if let Some(status) = self.exited() {
            return (Some(status), false);
        }
        signal(self.pid(), sig);
        if let Some(status) = self.wait_exit(grace) {
            return (Some(status), false);
        }
        signal(self.pid(), libc::SIGKILL);
        (self.wait_exit(Duration::from_secs(10)), true)
    }

    /// SIGTERM by PID, up to `grace` for the exit, then SIGKILL.
    pub fn stop(&mut self, grace: Duration) -> (Option<ExitStatus>, bool) {
        self.stop_with(libc::SIGTERM, grace)
    }

    /// SIGKILL by PID, and the exit collected.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        self.stop_with(libc::SIGKILL, Duration::from_secs(10)).0
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited().is_none() {
            signal(self.pid(), libc::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// The command that runs `program`: as it is, or pinned to `core` with `taskset -c`,
/// which executes it in its own process (the child's PID is the program's).
pub fn command(program: impl AsRef<std::ffi::OsStr>, core: Option<usize>) -> Command {
    match core {
        Some(core) => {
            let mut cmd = Command::new("taskset");
            cmd.arg("-c").arg(core.to_string()).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// Sends `sig` to one process by its PID.
pub fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) with the PID of a child this process started and a valid signal.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// The lines a child writes to one of its pipes, read by a thread of their own, and
/// every line taken so far.
pub struct Lines {
    rx: mpsc::Receiver<String>,
    /// Every line taken so far, in order.
    pub seen: Vec<String>,
}

impl Lines {
    /// Starts reading `pipe` (a child's standard output or error) line by line.
    pub fn read(pipe: impl Read + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
        }
    }

    /// The next line, waiting up to `timeout`; `None` when none came (or the pipe closed).
    pub fn next_within(&mut self, timeout: Duration) -> Option<String> {
        let line = self.rx.recv_timeout(timeout).ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Waits up to `timeout` for a line that satisfies `matches` and returns it; lines
    /// before it are kept in [`Lines::seen`].
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.next_within(left)?;
            if matches(&line) {
                return Some(line);
            }
        }
    }
}
