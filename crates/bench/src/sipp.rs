//! The SIPp generator: one SIPp 3.6 process places every call of a run with the
//! committed scenarios of `crates/bench/sipp/`, the conference ID of each call injected
//! from a CSV file (`-inf`), speech streamed with `rtp_stream`, the keys sent with
//! `play_dtmf` (RFC 4733). SIPp sends every call's RTP from its one `-mp` port.
//!
//! What the harness reads back: SIPp's statistics file (`-trace_stat`: calls created,
//! successful, failed and why), and the scenario's log, where each call writes its
//! Call-ID and pinbridge's RTP port when answered. In a load run the calls wait for a
//! NOTIFY from the harness before hanging up ([`SippRun::hang_up`]). What the callers
//! hear is captured with tcpdump after the measurement window ([`capture_audio`]),
//! because SIPp does not keep what it receives.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pinbridge_testkit::pcap::{Capture, CaptureOptions};
use pinbridge_testkit::sipp::{Sipp, SippOptions};

use crate::Error;
use crate::audio::{EnergyTable, Heard};

/// How SIPp places the calls.
#[derive(Debug, Clone)]
pub struct SippConfig {
    /// `load-caller.xml` or `setup-caller.xml` of `crates/bench/sipp/`.
    pub scenario: PathBuf,
    /// pinbridge's SIP UDP address.
    pub target: SocketAddr,
    pub service: String,
    /// The conference ID each call types, in call order.
    pub conference_ids: Vec<String>,
    /// Calls per second.
    pub rate: f64,
    pub keys_after: Duration,
    /// How long `play_dtmf` takes to send the longest conference ID and pound.
    pub typing: Duration,
    /// How long a call of the set-up scenario stays after the greeting.
    pub stay: Duration,
    /// The speech every call streams, µ-law.
    pub speech: Vec<u8>,
    /// SIPp's SIP port and media (`-mp`) port.
    pub sip_port: u16,
    pub media_port: u16,
    /// The run directory: scenario, CSV, speech and SIPp's files go there.
    pub dir: PathBuf,
    pub core: Option<usize>,
    /// SIPp gives up (and fails what is left) after this long.
    pub timeout: Duration,
}

/// A running SIPp.
pub struct SippRun {
    pub sipp: Sipp,
    pub calls: usize,
}

impl SippRun {
    pub fn start(config: &SippConfig) -> Result<SippRun, Error> {
        let io = |what: &str, e: std::io::Error| Error::new(format!("{what}: {e}"));
        let template = std::fs::read_to_string(&config.scenario)
            .map_err(|e| io(&format!("read {}", config.scenario.display()), e))?;
        let scenario = template
            .replace(
                "@KEYS_AFTER_MS@",
                &config.keys_after.as_millis().to_string(),
            )
            .replace("@TYPING_MS@", &config.typing.as_millis().to_string())
            .replace("@STAY_MS@", &config.stay.as_millis().to_string());
        let dir = &config.dir;
        std::fs::create_dir_all(dir).map_err(|e| io("create the SIPp directory", e))?;
        std::fs::write(dir.join("caller.xml"), scenario).map_err(|e| io("write caller.xml", e))?;
        std::fs::write(dir.join("speech.ulaw"), &config.speech)
            .map_err(|e| io("write speech.ulaw", e))?;
        let mut csv = String::from("SEQUENTIAL\n");
        for id in &config.conference_ids {
            csv.push_str(id);
            csv.push_str(";\n");
        }
        std::fs::write(dir.join("callers.csv"), csv).map_err(|e| io("write callers.csv", e))?;
        // SIPp takes a whole number of calls per period: the rate in calls per 10 s.
        let per_10s = (config.rate * 10.0).round().max(1.0) as u64;
        let calls = config.conference_ids.len();
        let options = SippOptions {
            target: Some(config.target.to_string()),
            core: config.core,
            ..SippOptions::new("caller.xml", config.sip_port, config.media_port)
        }
        .args(["-inf", "callers.csv", "-s", &config.service])
        .args(["-r", &per_10s.to_string(), "-rp", "10000"])
        .args(["-m", &calls.to_string(), "-l", &calls.to_string()])
        .args(["-trace_stat", "-stf", "stats.csv", "-fd", "1"])
        .args(["-timeout", &format!("{}s", config.timeout.as_secs().max(1))])
        .args(["-timeout_error"]);
        let sipp = Sipp::spawn("sipp", dir, &options)?;
        Ok(SippRun { sipp, calls })
    }

    pub fn pid(&self) -> u32 {
        self.sipp.pid()
    }

    fn file(&self, name: &str) -> String {
        self.sipp.file(name)
    }

    /// The calls answered so far: (Call-ID, pinbridge's RTP port), in answer order.
    pub fn answered(&self) -> Vec<(String, u16)> {
        self.sipp
            .answers()
            .into_iter()
            .map(|a| (a.call_id, a.rtp_port))
            .collect()
    }

    /// The Call-IDs of the calls that ran the scenario to its end.
    pub fn completed(&self) -> std::collections::BTreeSet<String> {
        self.file("log.txt")
            .lines()
            .filter_map(|l| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix("completed call-id="))
            })
            .map(str::to_owned)
            .collect()
    }

    /// How many calls logged that their keys were sent.
    pub fn keyed(&self) -> usize {
        self.file("log.txt")
            .lines()
            .filter(|l| l.contains("keys sent call-id="))
            .count()
    }

    /// The last line of SIPp's statistics file, by column (the cumulative `(C)` counters
    /// among them).
    pub fn stats(&self) -> BTreeMap<String, String> {
        self.sipp.stats()
    }

    /// A cumulative counter of the statistics, e.g. `SuccessfulCall`.
    pub fn counter(stats: &BTreeMap<String, String>, name: &str) -> u64 {
        Sipp::counter(stats, name)
    }

    /// What SIPp wrote about errors, for the report.
    pub fn errors(&self) -> String {
        self.sipp.errors()
    }

    /// Tells every answered call to hang up, `rate` calls per second: a NOTIFY with the
    /// call's Call-ID, which the scenario waits for.
    pub fn hang_up(&self, calls: &[(String, u16)], rate: f64) -> Result<(), Error> {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .map_err(|e| Error::new(format!("bind a socket for the NOTIFYs: {e}")))?;
        let port = socket.local_addr().map(|a| a.port()).unwrap_or(0);
        let start = Instant::now();
        for (k, (call_id, _)) in calls.iter().enumerate() {
            let due = start + Duration::from_secs_f64(k as f64 / rate.max(1.0));
            let wait = due.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            let request = format!(
                "NOTIFY sip:load@127.0.0.1:{sp} SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-hangup-{k}\r\n\
                 From: <sip:harness@127.0.0.1>;tag=harness{k}\r\n\
                 To: <sip:load@127.0.0.1>\r\n\
                 Call-ID: {call_id}\r\n\
                 CSeq: 1 NOTIFY\r\n\
                 Max-Forwards: 70\r\n\
                 Content-Length: 0\r\n\r\n",
                sp = self.sipp.sip_port,
            );
            let _ = socket.send_to(request.as_bytes(), ("127.0.0.1", self.sipp.sip_port));
        }
        Ok(())
    }
}

/// How long SIPp's `play_dtmf` takes for `keys`: 400 ms of filler packets, then 400 ms a
/// key (200 ms tone, 200 ms pause).
pub fn play_dtmf_time(keys: usize) -> Duration {
    Duration::from_millis(400 + 400 * keys as u64)
}

/// What a sample of SIPp's callers heard: every datagram pinbridge sent from `ports` to
/// SIPp's media port, captured with tcpdump for `seconds`. (port, what it heard).
pub fn capture_audio(
    dir: &Path,
    media_port: u16,
    ports: &[u16],
    length: Duration,
    core: Option<usize>,
) -> Result<Vec<(u16, Heard)>, Error> {
    if ports.is_empty() {
        return Ok(Vec::new());
    }
    let path = dir.join("audio-check.pcap");
    let sources: Vec<String> = ports.iter().map(|p| format!("src port {p}")).collect();
    let filter = format!(
        "udp and dst port {media_port} and ({})",
        sources.join(" or ")
    );
    let options = CaptureOptions {
        snaplen: Some(256),
        buffer_kib: Some(16384),
        core,
    };
    let capture = Capture::try_start(&path, &filter, &options)?;
    std::thread::sleep(length);
    let datagrams = capture.finish()?;
    let table = EnergyTable::default();
    let mut heard: BTreeMap<u16, Heard> = ports.iter().map(|&p| (p, Heard::default())).collect();
    for d in datagrams {
        let Some(h) = heard.get_mut(&d.src.port()) else {
            continue;
        };
        if let Ok(packet) = pinbridge_media::RtpPacket::parse(&d.payload)
            && (packet.payload_type == 0 || packet.payload_type == 8)
        {
            h.add(&table, packet.payload_type, packet.payload);
        }
    }
    Ok(heard.into_iter().collect())
}
