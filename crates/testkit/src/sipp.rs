//! SIPp 3.6 (Debian `sip-tester`) started with a scenario in a directory of its own,
//! stopped by its PID, and its files read back: the scenario's log (`<log>` actions),
//! the errors, the SIP messages, the statistics.
//!
//! The scenarios stay where they are committed (`tests/sipp/`, `crates/bench/sipp/`);
//! the caller copies or renders one into the directory before starting SIPp, because
//! SIPp reads relative file names (audio, pcaps, CSV) from its working directory.
//!
//! Scenarios that place calls log `answered call-id=CALL-ID rtp-port=PORT` when
//! pinbridge answers, with pinbridge's RTP port from its SDP answer: tests and the
//! harness tell calls apart by that port, never by the caller's address.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::Error;
use crate::process::{self, Proc};

/// How to start SIPp.
#[derive(Debug, Clone)]
pub struct SippOptions {
    /// The scenario's file name, in the directory SIPp runs in.
    pub scenario: String,
    /// SIPp's own address for SIP and media (`-i`, `-mi`).
    pub local_ip: String,
    /// SIPp's SIP port (`-p`) and media port (`-mp`).
    pub sip_port: u16,
    pub media_port: u16,
    /// SIP over TCP (`-t t1`) instead of UDP (`-t u1`).
    pub tcp: bool,
    /// Where the calls go; `None` for a scenario that answers.
    pub target: Option<String>,
    /// Every SIP message SIPp sends and receives written to `messages.txt`.
    pub trace_messages: bool,
    /// More arguments (`-m`, `-s`, `-inf`, `-timeout`, ...).
    pub args: Vec<String>,
    /// The core SIPp is pinned to.
    pub core: Option<usize>,
}

impl SippOptions {
    /// A scenario on 127.0.0.1 over UDP with the given ports and nothing else.
    pub fn new(scenario: &str, sip_port: u16, media_port: u16) -> SippOptions {
        SippOptions {
            scenario: scenario.to_owned(),
            local_ip: "127.0.0.1".to_owned(),
            sip_port,
            media_port,
            tcp: false,
            target: None,
            trace_messages: false,
            args: Vec::new(),
            core: None,
        }
    }

    /// More arguments.
    pub fn args<'a>(mut self, args: impl IntoIterator<Item = &'a str>) -> SippOptions {
        self.args.extend(args.into_iter().map(str::to_owned));
        self
    }
}

/// What a call's scenario logged when pinbridge answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub call_id: String,
    /// pinbridge's RTP port for this call, from its SDP answer.
    pub rtp_port: u16,
}

/// A running SIPp.
pub struct Sipp {
    pub proc: Proc,
    /// SIPp's working directory: the scenario and every file SIPp writes.
    pub dir: PathBuf,
    pub sip_port: u16,
    pub media_port: u16,
}

impl Sipp {
    /// Starts SIPp in `dir`, which holds the scenario and the files it names. Its log,
    /// errors and screen go to `log.txt`, `errors.txt`, `screen.txt` and `stderr.txt`.
    pub fn spawn(name: &str, dir: &Path, options: &SippOptions) -> Result<Sipp, Error> {
        let create = |file: &str| {
            std::fs::File::create(dir.join(file))
                .map_err(|e| Error::new(format!("create {}: {e}", dir.join(file).display())))
        };
        let mut cmd = process::command("sipp", options.core);
        cmd.current_dir(dir)
            .args(["-sf", &options.scenario])
            .args(["-i", &options.local_ip, "-mi", &options.local_ip])
            .args(["-p", &options.sip_port.to_string()])
            .args(["-mp", &options.media_port.to_string()])
            .args(["-t", if options.tcp { "t1" } else { "u1" }, "-nostdin"])
            .args(["-trace_logs", "-log_file", "log.txt"])
            .args(["-trace_err", "-error_file", "errors.txt"]);
        if options.trace_messages {
            cmd.args(["-trace_msg", "-message_file", "messages.txt"]);
        }
        cmd.args(&options.args);
        if let Some(target) = &options.target {
            cmd.arg(target);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(create("screen.txt")?))
            .stderr(Stdio::from(create("stderr.txt")?));
        let proc = Proc::spawn(name, cmd)?;
        Ok(Sipp {
            proc,
            dir: dir.to_path_buf(),
            sip_port: options.sip_port,
            media_port: options.media_port,
        })
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// A file SIPp wrote, empty when it wrote none.
    pub fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// The scenario's log (`<log>` actions).
    pub fn log(&self) -> String {
        self.file("log.txt")
    }

    /// The SIP messages SIPp sent and received (with [`SippOptions::trace_messages`]).
    pub fn messages(&self) -> String {
        self.file("messages.txt")
    }

    /// The SIP messages SIPp received, in order, each from its first line (with
    /// [`SippOptions::trace_messages`]).
    pub fn received_messages(&self) -> Vec<String> {
        received_messages(&self.messages())
    }

    /// Every response SIPp received, in order.
    pub fn received_responses(&self) -> Vec<Response> {
        self.received_messages()
            .iter()
            .filter_map(|m| Response::parse(m))
            .collect()
    }

    /// What SIPp wrote about errors.
    pub fn errors(&self) -> String {
        let mut text = self.file("errors.txt");
        text.push_str(&self.file("stderr.txt"));
        text
    }

    /// The calls answered so far, in answer order.
    pub fn answers(&self) -> Vec<Answer> {
        self.log()
            .lines()
            .filter(|l| l.contains("answered call-id="))
            .filter_map(|l| {
                let field = |key: &str| {
                    l.split_whitespace()
                        .find_map(|w| w.strip_prefix(key))
                        .map(str::to_owned)
                };
                Some(Answer {
                    call_id: field("call-id=")?,
                    rtp_port: field("rtp-port=")?.parse().ok()?,
                })
            })
            .collect()
    }

    /// The last line of SIPp's statistics file (`-trace_stat -stf stats.csv`), by column
    /// (the cumulative `(C)` counters among them).
    pub fn stats(&self) -> BTreeMap<String, String> {
        parse_stats(&self.file("stats.csv"))
    }

    /// A cumulative counter of the statistics, e.g. `SuccessfulCall`.
    pub fn counter(stats: &BTreeMap<String, String>, name: &str) -> u64 {
        stats
            .get(&format!("{name}(C)"))
            .or_else(|| stats.get(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// One SIP response as SIPp logged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The CSeq header's value, e.g. `1 INVITE`.
    pub cseq: String,
    /// The To header's tag, if it has one.
    pub to_tag: Option<String>,
    /// The whole message.
    pub text: String,
}

impl Response {
    /// Reads a response; `None` for a request or a message without a CSeq.
    pub fn parse(text: &str) -> Option<Response> {
        let status = text
            .lines()
            .next()?
            .strip_prefix("SIP/2.0 ")?
            .split(' ')
            .next()?
            .parse()
            .ok()?;
        let cseq = header(text, &["CSeq"])?.to_owned();
        let to_tag = header(text, &["To", "t"]).and_then(|to| {
            to.split(';')
                .skip(1)
                .find_map(|p| p.trim().strip_prefix("tag="))
                .map(str::to_owned)
        });
        Some(Response {
            status,
            cseq,
            to_tag,
            text: text.to_owned(),
        })
    }
}

/// The value of the first header of a SIP message named one of `names` (the full and
/// the compact form), before the body.
pub fn header<'a>(message: &'a str, names: &[&str]) -> Option<&'a str> {
    message
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            names
                .iter()
                .any(|n| name.trim().eq_ignore_ascii_case(n))
                .then(|| value.trim())
        })
}

/// The messages SIPp's `-trace_msg` file says it received: each entry starts with a line
/// of dashes and a line `... message received [N] bytes :`, then the message.
fn received_messages(log: &str) -> Vec<String> {
    log.split("-----------------------------------------------")
        .filter_map(|entry| {
            let (head, message) = entry.split_once('\n')?;
            let head_and_more = if head.contains("message received") {
                message
            } else {
                let (second, rest) = message.split_once('\n')?;
                if !second.contains("message received") {
                    return None;
                }
                rest
            };
            let text = head_and_more.trim_start_matches(['\r', '\n']).trim_end();
            (!text.is_empty()).then(|| text.to_owned())
        })
        .collect()
}

fn parse_stats(text: &str) -> BTreeMap<String, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return BTreeMap::new();
    };
    let Some(last) = lines.next_back() else {
        return BTreeMap::new();
    };
    header
        .split(';')
        .zip(last.split(';'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_responses_of_a_message_trace() {
        let log = "----------------------------------------------- 2026-01-01\n\
                   UDP message sent (10 bytes):\n\nINVITE sip:x@h SIP/2.0\nCSeq: 1 INVITE\n\n\
                   ----------------------------------------------- 2026-01-01\n\
                   UDP message received [80] bytes :\n\nSIP/2.0 100 Trying\n\
                   To: <sip:x@h>\nCSeq: 1 INVITE\n\n\
                   ----------------------------------------------- 2026-01-01\n\
                   UDP message received [90] bytes :\n\nSIP/2.0 487 Request Terminated\n\
                   To: <sip:x@h>;tag=abc\nCSeq: 1 INVITE\n\nv=0\nt: <sip:body>;tag=no\n";
        let got: Vec<Response> = received_messages(log)
            .iter()
            .filter_map(|m| Response::parse(m))
            .collect();
        let summary: Vec<(u16, &str, Option<&str>)> = got
            .iter()
            .map(|r| (r.status, r.cseq.as_str(), r.to_tag.as_deref()))
            .collect();
        assert_eq!(
            summary,
            vec![(100, "1 INVITE", None), (487, "1 INVITE", Some("abc"))]
        );
    }

    #[test]
    fn last_line_of_the_statistics() {
        let text = "StartTime;TotalCallCreated;SuccessfulCall(C);FailedCall(C);\n\
                    t0;5;0;0;\n\
                    t1;20;18;2;\n";
        let stats = parse_stats(text);
        assert_eq!(Sipp::counter(&stats, "SuccessfulCall"), 18);
        assert_eq!(Sipp::counter(&stats, "FailedCall"), 2);
        assert_eq!(Sipp::counter(&stats, "TotalCallCreated"), 20);
    }
}
