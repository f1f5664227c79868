//! The cores the harness and what it starts are pinned to, and what `/proc` says about
//! them (CPU time, resident memory). The processes themselves are the test kit's, stopped
//! by their PID.

use std::path::Path;

pub use pinbridge_testkit::process::{Proc, command, signal};

use crate::Error;

/// How many cores the machine has online (not only those this process may use now).
pub fn cores() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n > 0 { n as usize } else { 1 }
}

/// Pins the calling process (every thread it starts later too) to `core`.
pub fn pin_self(core: usize) -> Result<(), Error> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it, and
    // sched_setaffinity reads it for the calling process (pid 0).
    let ok = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    };
    if ok {
        Ok(())
    } else {
        Err(Error::new(format!(
            "cannot pin the harness to core {core}: {}",
            std::io::Error::last_os_error()
        )))
    }
}

/// The calling thread's ID, which names it in `/proc/self/task/`.
pub fn thread_id() -> u64 {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    tid as u64
}

/// Clock ticks per second, the unit of `/proc/PID/stat`'s CPU times.
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as u64 } else { 100 }
}

/// CPU time of a process (all its threads), user and system, in clock ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTicks {
    pub user: u64,
    pub system: u64,
}

impl CpuTicks {
    pub fn total(self) -> u64 {
        self.user + self.system
    }

    /// The later reading, or this one when the later one is lower (a process or thread
    /// that ended reads as zero).
    pub fn max(self, other: CpuTicks) -> CpuTicks {
        if other.total() >= self.total() {
            other
        } else {
            self
        }
    }
}

/// `utime` and `stime` of `/proc/PID/stat` (fields 14 and 15).
pub fn cpu_ticks(pid: u32) -> Result<CpuTicks, Error> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::new(format!("cannot read {path}: {e}")))?;
    parse_stat(&text).ok_or_else(|| Error::new(format!("cannot parse {path}: {text:?}")))
}

fn parse_stat(text: &str) -> Option<CpuTicks> {
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime is field 14, stime field 15.
    Some(CpuTicks {
        user: fields.get(11)?.parse().ok()?,
        system: fields.get(12)?.parse().ok()?,
    })
}

/// CPU time of one thread of this process (`/proc/self/task/TID/stat`); zero when the
/// thread is gone.
pub fn thread_cpu_ticks(tid: u64) -> CpuTicks {
    if tid == 0 {
        return CpuTicks::default();
    }
    std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
        .ok()
        .and_then(|text| parse_stat(&text))
        .unwrap_or_default()
}

/// Memory of a process from `/proc/PID/status`, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident set size now (`VmRSS`).
    pub rss_kib: u64,
    /// Peak resident set size (`VmHWM`).
    pub hwm_kib: u64,
    /// Threads.
    pub threads: u64,
}

pub fn memory(pid: u32) -> Result<Memory, Error> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::new(format!("cannot read {path}: {e}")))?;
    Ok(parse_status(&text))
}

fn parse_status(text: &str) -> Memory {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
        threads: field("Threads:"),
    }
}

/// Open file descriptors of a process.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// The soft limit on open files of this process (children inherit it).
pub fn fd_limit() -> u64 {
    // SAFETY: getrlimit writes into the struct we pass.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur
        } else {
            0
        }
    }
}

/// Busy and total time of each core since boot, in clock ticks (`/proc/stat`).
pub fn core_times() -> Vec<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        // `cpuN ...` lines only (`cpu  ...` is the sum of all cores).
        let Some(rest) = line
            .strip_prefix("cpu")
            .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let Some(core) = fields.next().and_then(|c| c.parse::<usize>().ok()) else {
            continue;
        };
        let v: Vec<u64> = fields.filter_map(|f| f.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal (guest is inside user).
        let total: u64 = v.iter().take(8).sum();
        let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
        if out.len() <= core {
            out.resize(core + 1, (0, 0));
        }
        out[core] = (total - idle, total);
    }
    out
}

/// How busy each core was between two readings of [`core_times`], in %.
pub fn core_busy(before: &[(u64, u64)], after: &[(u64, u64)]) -> Vec<f64> {
    before
        .iter()
        .zip(after)
        .map(|(b, a)| {
            let total = a.1.saturating_sub(b.1);
            if total == 0 {
                0.0
            } else {
                a.0.saturating_sub(b.0) as f64 / total as f64 * 100.0
            }
        })
        .collect()
}

/// The 1-minute load average and what `uptime` would say, for the record.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Whether a program can be run (found on PATH or at that path).
pub fn exists(program: &Path) -> bool {
    if program.components().count() > 1 {
        return program.is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_command_with_spaces() {
        let text = "4242 (pinbridge media) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 9 0 100 0 0";
        let ticks = parse_stat(text).unwrap();
        assert_eq!(
            ticks,
            CpuTicks {
                user: 1234,
                system: 567
            }
        );
    }

    #[test]
    fn status_fields() {
        let text = "Name:\tpinbridge\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nThreads:\t7\n";
        let m = parse_status(text);
        assert_eq!((m.rss_kib, m.hwm_kib, m.threads), (40960, 51200, 7));
    }

    #[test]
    fn every_core_has_times() {
        let times = core_times();
        assert_eq!(times.len(), cores());
        assert!(
            times
                .iter()
                .all(|(busy, total)| busy <= total && *total > 0)
        );
    }

    #[test]
    fn own_process_is_readable() {
        let pid = std::process::id();
        assert!(memory(pid).unwrap().rss_kib > 0);
        cpu_ticks(pid).unwrap();
    }
}
