//! The phone side of the dial-in tests: SIPp and baresip run as real processes on
//! loopback, the RTP a SIPp caller receives captured with tcpdump, and a small pcap,
//! RTP and G.711 reader that turns it back into audio for the media crate's analysis
//! (correlation with the committed prompts and music, Goertzel for tones).
//!
//! Calls are told apart by pinbridge's RTP port for the call (from its SDP answer,
//! which the SIPp scenario logs), never by the caller's address.
//!
//! What SIPp 3.6 (Debian `sip-tester`) and baresip 1.0 do here, which the harness
//! relies on:
//! - `rtp_stream="file,-1,0"` sends a raw µ-law file in a loop from the `-mp` port, and
//!   `play_pcap_audio` sends from that same port only when the SDP offer says
//!   `[media_port]` (with `[rtpstream_audio_port]` the pcap goes out from port 0). Both
//!   send to the address in the answer's SDP. Relative file names are relative to
//!   SIPp's working directory, so each caller runs in a temporary directory.
//! - The DTMF pcaps in /usr/share/sip-tester/ carry one fixed RTP timestamp per digit
//!   and SIPp replays RTP headers as they are: the same digit twice is a duplicate
//!   event. The harness writes its own pcap per stage of keys instead, with fresh
//!   timestamps and sequence numbers ([`rfc4733_pcap`]).
//! - One pcap plays per call at a time (a second `play_pcap_audio` cuts the first
//!   short), and a request arriving during `<pause>` aborts the call as unexpected: the
//!   scenario pauses for the typing time and the test asks for more keys or a hang-up
//!   only after the scenario logged that the keys were typed.
//! - SIPp sends every response to the call's remote side (pinbridge), whatever the
//!   Via says, so the test's MESSAGE/NOTIFY to SIPp get no response.
//! - baresip: `aufile` as the source needs an 8 kHz mono 16-bit WAV (`ausine` only
//!   does 48 kHz stereo); `aubridge` serves as a player that plays nowhere; `sndfile`
//!   writes `dump-<time>-dec.wav` (what it received, decoded) in `snd_path`; the
//!   `menu` module gives ctrl_tcp its `dial`, `sndcode`, `hangup` and `quit` commands;
//!   SIGTERM waits for calls to end, `quit` does not.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pinbridge_media::{Codec, DtmfDigit, RtpPacket, ToneGenerator, ToneSegment, Wav};

pub const SIPP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp");
pub const ASSETS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");
/// The payload type the scenarios offer for telephone-event.
pub const TELEPHONE_EVENT: u8 = 101;

/// The samples of a committed audio asset, e.g. `prompts/en-US/welcome.wav`.
pub fn asset(path: &str) -> Vec<i16> {
    let full = format!("{ASSETS}/{path}");
    let bytes = std::fs::read(&full).unwrap_or_else(|e| panic!("read {full}: {e}"));
    Wav::decode(&bytes)
        .unwrap_or_else(|e| panic!("decode {full}: {e:?}"))
        .samples()
        .to_vec()
}

pub fn prompt(name: &str) -> Vec<i16> {
    asset(&format!("prompts/en-US/{name}.wav"))
}

// ---------------------------------------------------------------------------------
// Ports and processes

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .expect("bind a UDP port")
        .local_addr()
        .unwrap()
        .port()
}

/// `count` consecutive ports, free for UDP and TCP on 127.0.0.1 a moment ago, starting
/// at an even port (RTP/RTCP pairs).
pub fn free_port_block(count: u16) -> u16 {
    for _ in 0..200 {
        let base = free_udp_port() & !1;
        if base < 1024 || base as u32 + count as u32 >= 65_000 {
            continue;
        }
        let all_free = (base..base + count).all(|p| {
            UdpSocket::bind(("127.0.0.1", p)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
        });
        if all_free {
            return base;
        }
    }
    panic!("no block of {count} free ports found");
}

/// A child process stopped by PID when dropped.
pub struct Proc {
    pub name: String,
    pub child: Child,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("start {name}: {e} (is it installed? see tests/APT-PACKAGES)")
        });
        Proc {
            name: name.to_owned(),
            child,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit by itself, up to `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` by PID and waits up to `grace` for the exit, then SIGKILL.
    pub fn stop(&mut self, signal: &str, grace: Duration) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status();
        if self.wait_exit(grace).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `check` until it returns `Some`, up to `timeout`; panics with `what` otherwise.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------
// Packet capture (tcpdump) and a pcap reader/writer

/// One UDP datagram from a capture.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// Seconds since the epoch.
    pub time: f64,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub payload: Vec<u8>,
}

/// tcpdump on the loopback interface, writing every matching UDP datagram to a file.
pub struct Capture {
    proc: Proc,
    pub path: PathBuf,
}

impl Capture {
    /// Starts `tcpdump -i lo` with `filter` (BPF) and waits until it is capturing.
    pub fn start(dir: &Path, filter: &str) -> Capture {
        let path = dir.join(format!("capture-{}.pcap", free_udp_port()));
        let mut proc = Proc::spawn(
            "tcpdump",
            Command::new("tcpdump")
                .args(["-i", "lo", "-n", "-U", "-s", "0", "-w"])
                .arg(&path)
                .arg(filter)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        let stderr = proc.child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains("listening on") => break,
                Ok(line) => seen.push(line),
                Err(_) => panic!(
                    "tcpdump did not start capturing (it needs CAP_NET_RAW): {seen:?} {:?}",
                    proc.child.try_wait()
                ),
            }
        }
        Capture { proc, path }
    }

    /// What has been captured so far (the capture goes on).
    pub fn datagrams(&self) -> Vec<Datagram> {
        match std::fs::read(&self.path) {
            Ok(bytes) => read_pcap(&bytes),
            Err(_) => Vec::new(),
        }
    }

    /// Stops tcpdump and returns everything it captured.
    pub fn stop(mut self) -> Vec<Datagram> {
        self.proc.stop("INT", Duration::from_secs(5));
        self.datagrams()
    }
}

fn u16_at(b: &[u8], i: usize, big: bool) -> u16 {
    let v = [b[i], b[i + 1]];
    if big {
        u16::from_be_bytes(v)
    } else {
        u16::from_le_bytes(v)
    }
}

fn u32_at(b: &[u8], i: usize, big: bool) -> u32 {
    let v = [b[i], b[i + 1], b[i + 2], b[i + 3]];
    if big {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    }
}

/// The IPv4 UDP datagrams of a pcap file (Ethernet, Linux cooked v1/v2, BSD loopback or
/// raw IP link types). A record cut short at the end (a capture still running) is left
/// out.
pub fn read_pcap(bytes: &[u8]) -> Vec<Datagram> {
    let mut out = Vec::new();
    if bytes.len() < 24 {
        return out;
    }
    let (big, nanos) = match [bytes[0], bytes[1], bytes[2], bytes[3]] {
        [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
        other => panic!("not a pcap file (magic {other:02x?})"),
    };
    let link = u32_at(bytes, 20, big);
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let sec = u32_at(bytes, at, big) as f64;
        let frac = u32_at(bytes, at + 4, big) as f64;
        let len = u32_at(bytes, at + 8, big) as usize;
        let start = at + 16;
        if start + len > bytes.len() {
            break;
        }
        let frame = &bytes[start..start + len];
        at = start + len;
        let time = sec + frac / if nanos { 1e9 } else { 1e6 };
        let ip = match link {
            1 if frame.len() > 14 && frame[12..14] == [0x08, 0x00] => &frame[14..],
            113 if frame.len() > 16 && frame[14..16] == [0x08, 0x00] => &frame[16..],
            276 if frame.len() > 20 && frame[0..2] == [0x08, 0x00] => &frame[20..],
            0 if frame.len() > 4 => &frame[4..],
            12 | 101 | 228 => frame,
            _ => continue,
        };
        if ip.len() < 28 || ip[0] >> 4 != 4 || ip[9] != 17 {
            continue;
        }
        let ihl = (ip[0] & 0x0f) as usize * 4;
        if ip.len() < ihl + 8 {
            continue;
        }
        let src_ip = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let udp = &ip[ihl..];
        let src_port = u16_at(udp, 0, true);
        let dst_port = u16_at(udp, 2, true);
        let udp_len = (u16_at(udp, 4, true) as usize).clamp(8, udp.len());
        out.push(Datagram {
            time,
            src: SocketAddrV4::new(src_ip, src_port),
            dst: SocketAddrV4::new(dst_ip, dst_port),
            payload: udp[8..udp_len].to_vec(),
        });
    }
    out
}

/// A pcap file (Ethernet link type) of UDP datagrams 127.0.0.1:src → 127.0.0.1:dst sent
/// at the given offsets. SIPp's `play_pcap_audio` replays it with the same timing,
/// rewriting addresses and ports to those of the call.
pub fn write_pcap(packets: &[(Duration, Vec<u8>)], src_port: u16, dst_port: u16) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    let base = 1_700_000_000u64;
    for (at, payload) in packets {
        let mut frame = Vec::new();
        frame.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x08, 0x00]);
        let total = 20 + 8 + payload.len();
        let mut ip = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
            127,
            0,
            0,
            1,
            127,
            0,
            0,
            1,
        ];
        let mut sum: u32 = ip
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32)
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        let check = !(sum as u16);
        ip[10..12].copy_from_slice(&check.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&src_port.to_be_bytes());
        frame.extend_from_slice(&dst_port.to_be_bytes());
        frame.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(payload);
        let sec = base + at.as_secs();
        out.extend_from_slice(&(sec as u32).to_le_bytes());
        out.extend_from_slice(&at.subsec_micros().to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

// ---------------------------------------------------------------------------------
// Keys and tones a phone sends

/// The RFC 4733 event code of a key: 0–9, `*` 10, `#` 11, A–D 12–15.
pub fn event_code(key: char) -> u8 {
    match key {
        '0'..='9' => key as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => key as u8 - b'A' + 12,
        _ => panic!("not a key: {key:?}"),
    }
}

/// The keypad digit of a key, for its DTMF frequencies.
pub fn dtmf_digit(key: char) -> DtmfDigit {
    DtmfDigit::from_event_code(event_code(key)).expect("a DTMF key")
}

/// How a phone sends keys: a sequence of keys; `,` is a one-second pause.
pub const KEY_MS: u64 = 160;
pub const KEY_GAP_MS: u64 = 240;
pub const PAUSE_MS: u64 = 1000;

/// RTP telephone-event packets (RFC 4733) for `keys`, as a pcap file for SIPp: each key
/// 160 ms (eight updates, the first with the marker bit, then three end packets), 240 ms
/// apart; `,` pauses a second. Timestamps and sequence numbers go on from `stream`, so
/// two stages of keys on one call never repeat an event.
pub fn rfc4733_pcap(keys: &str, stream: &mut EventStream) -> Vec<u8> {
    let mut packets = Vec::new();
    let mut at_ms: u64 = 20;
    for key in keys.chars() {
        if key == ',' {
            at_ms += PAUSE_MS;
            continue;
        }
        let code = event_code(key);
        let timestamp = stream.timestamp.wrapping_add((at_ms * 8) as u32);
        let updates = KEY_MS / 20;
        for i in 0..updates + 3 {
            let end = i >= updates;
            let duration = ((i.min(updates - 1) + 1) * 160) as u16;
            let mut payload = vec![code, 10, 0, 0];
            if end {
                payload[1] |= 0x80;
            }
            payload[2..4].copy_from_slice(&duration.to_be_bytes());
            let mut rtp = vec![0x80, TELEPHONE_EVENT | if i == 0 { 0x80 } else { 0 }];
            rtp.extend_from_slice(&stream.seq.to_be_bytes());
            rtp.extend_from_slice(&timestamp.to_be_bytes());
            rtp.extend_from_slice(&stream.ssrc.to_be_bytes());
            rtp.extend_from_slice(&payload);
            stream.seq = stream.seq.wrapping_add(1);
            // The end packet is sent three times, 20 ms apart (RFC 4733, 2.5.1.4).
            let send_ms = at_ms + i * 20;
            packets.push((Duration::from_millis(send_ms), rtp));
        }
        at_ms += KEY_MS + KEY_GAP_MS;
    }
    stream.timestamp = stream.timestamp.wrapping_add((at_ms * 8) as u32 + 8000);
    write_pcap(&packets, 40_000, 40_002)
}

/// The RTP state of one caller's telephone events across stages.
pub struct EventStream {
    pub ssrc: u32,
    pub seq: u16,
    pub timestamp: u32,
}

impl EventStream {
    pub fn new(seed: u32) -> EventStream {
        EventStream {
            ssrc: 0x7e1e_0000 ^ seed,
            seq: (seed as u16).wrapping_mul(7919),
            timestamp: seed.wrapping_mul(2_654_435_761),
        }
    }
}

/// How long a phone takes to type `keys`.
pub fn typing_time(keys: &str) -> Duration {
    let ms: u64 = keys
        .chars()
        .map(|c| {
            if c == ',' {
                PAUSE_MS
            } else {
                KEY_MS + KEY_GAP_MS
            }
        })
        .sum();
    Duration::from_millis(ms)
}

/// `seconds` of a sine at `hz` (amplitude 6000), 8 kHz.
pub fn tone(hz: f32, seconds: u32) -> Vec<i16> {
    ToneGenerator::new(vec![ToneSegment::tone(hz, 6000.0, seconds * 1000)]).render()
}

/// µ-law bytes of `samples` (what SIPp's `rtp_stream` sends as payload type 0).
pub fn ulaw(samples: &[i16]) -> Vec<u8> {
    samples
        .iter()
        .map(|&s| Codec::Pcmu.encode_sample(s))
        .collect()
}

// ---------------------------------------------------------------------------------
// What a phone received

/// The audio one call received: every G.711 packet from pinbridge's RTP port, decoded in
/// the order it arrived, and the telephone events (if any) among them.
#[derive(Debug, Default)]
pub struct Received {
    pub samples: Vec<i16>,
    pub packets: usize,
    /// Capture time of each decoded 20 ms packet, in step with `samples`.
    pub times: Vec<f64>,
    pub events: usize,
    pub payload_types: Vec<u8>,
}

/// The audio sent from `from_port` (pinbridge's RTP port of the call) in `datagrams`.
pub fn received_audio(datagrams: &[Datagram], from_port: u16) -> Received {
    let mut out = Received::default();
    for d in datagrams.iter().filter(|d| d.src.port() == from_port) {
        let Ok(packet) = RtpPacket::parse(&d.payload) else {
            continue;
        };
        if !out.payload_types.contains(&packet.payload_type) {
            out.payload_types.push(packet.payload_type);
        }
        match Codec::from_payload_type(packet.payload_type) {
            Some(codec) => {
                let mut pcm = vec![0i16; packet.payload.len()];
                codec.decode(packet.payload, &mut pcm);
                out.samples.extend_from_slice(&pcm);
                out.times.push(d.time);
                out.packets += 1;
            }
            None if packet.payload_type == TELEPHONE_EVENT => out.events += 1,
            None => {}
        }
    }
    out
}

/// Whether `reference` (a prompt) was heard in full in `received`: the best normalised
/// cross-correlation, which must be above 0.8 for a match.
pub fn prompt_score(reference: &[i16], received: &[i16]) -> f64 {
    pinbridge_media::analysis::locate(reference, received)
        .map(|m| m.score)
        .unwrap_or(0.0)
}

/// How well a stretch of what was received matches the looping hold music.
pub fn music_score(stretch: &[i16]) -> f64 {
    let music = asset("music/hold.wav");
    pinbridge_media::analysis::locate_looping(stretch, &music)
        .map(|m| m.score)
        .unwrap_or(0.0)
}

// ---------------------------------------------------------------------------------
// A SIPp caller

/// How the keys reach pinbridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMethod {
    /// RTP telephone-events (RFC 4733), replayed by SIPp from a generated pcap.
    Rfc4733,
    /// SIP INFO with `application/dtmf-relay`.
    Info,
}

#[derive(Debug, Clone)]
pub struct CallerConfig {
    /// The number dialled (Request-URI user part).
    pub service: String,
    /// Keys typed once the call is answered.
    pub keys: String,
    /// Keys typed when the test calls [`SippCaller::more_keys`].
    pub more_keys: String,
    pub method: KeyMethod,
    /// A tone the phone sends all along; silence when `None`.
    pub tone_hz: Option<f32>,
    /// The caller's own address (127.0.0.1 unless a test calls from elsewhere).
    pub local_ip: String,
    /// SIP over TCP (to pinbridge's TCP address) instead of UDP.
    pub tcp: bool,
    /// The only codec offered; `None` offers PCMU and PCMA (and sends PCMU).
    pub codec: Option<Codec>,
}

impl CallerConfig {
    pub fn new(service: &str, keys: &str) -> CallerConfig {
        CallerConfig {
            service: service.to_owned(),
            keys: keys.to_owned(),
            more_keys: String::new(),
            method: KeyMethod::Rfc4733,
            tone_hz: None,
            local_ip: "127.0.0.1".to_owned(),
            tcp: false,
            codec: None,
        }
    }
}

/// What the scenario logged when pinbridge answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub call_id: String,
    /// pinbridge's RTP port for this call, from its SDP answer.
    pub rtp_port: u16,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// pinbridge sent BYE.
    ByBridge,
    /// The caller hung up (the test asked it to).
    ByCaller,
}

/// One SIPp process placing one call with `tests/sipp/caller.xml`.
pub struct SippCaller {
    pub name: String,
    proc: Proc,
    pub dir: tempfile::TempDir,
    pub sip_port: u16,
    pub media_port: u16,
    pub local_ip: String,
    more_keys_asked: std::cell::Cell<bool>,
    tcp: bool,
    /// The test's connections to a TCP SIPp, kept open for the call.
    connections: std::cell::RefCell<Vec<TcpStream>>,
}

impl SippCaller {
    /// Starts the call to pinbridge's SIP UDP address `target`.
    pub fn start(name: &str, target: &str, config: &CallerConfig) -> SippCaller {
        let dir = tempfile::Builder::new()
            .prefix("pinbridge-sipp-")
            .tempdir()
            .expect("a temporary directory");
        let send = match config.tone_hz {
            Some(hz) => tone(hz, 20),
            None => vec![0i16; 8000],
        };
        let send_codec = config.codec.unwrap_or(Codec::Pcmu);
        let encoded: Vec<u8> = send.iter().map(|&s| send_codec.encode_sample(s)).collect();
        std::fs::write(dir.path().join("send.g711"), encoded).unwrap();
        let offered: Vec<Codec> = match config.codec {
            Some(codec) => vec![codec],
            None => vec![Codec::Pcmu, Codec::Pcma],
        };
        let pts: Vec<String> = offered
            .iter()
            .map(|c| c.payload_type().to_string())
            .collect();
        let rtpmaps: Vec<String> = offered
            .iter()
            .map(|c| {
                let name = if *c == Codec::Pcmu { "PCMU" } else { "PCMA" };
                format!("      a=rtpmap:{} {name}/8000", c.payload_type())
            })
            .collect();
        let template =
            std::fs::read_to_string(format!("{SIPP_DIR}/caller.xml")).expect("caller.xml");
        let mut cseq = 2;
        let mut stream = EventStream::new(free_udp_port() as u32);
        let mut stage = |keys: &str, file: &str| -> String {
            if keys.is_empty() {
                return String::new();
            }
            match config.method {
                KeyMethod::Rfc4733 => {
                    std::fs::write(dir.path().join(file), rfc4733_pcap(keys, &mut stream)).unwrap();
                    // The replay runs on its own; the pause keeps a second stage from
                    // cutting it short (SIPp plays one pcap per call at a time).
                    format!(
                        "  <nop><action><exec play_pcap_audio=\"{file}\"/></action></nop>\n  <pause milliseconds=\"{}\"/>\n",
                        typing_time(keys).as_millis() + 100
                    )
                }
                KeyMethod::Info => {
                    let step = std::fs::read_to_string(format!("{SIPP_DIR}/info-key.xml"))
                        .expect("info-key.xml");
                    let step = step
                        .split_once("-->\n")
                        .map(|(_, s)| s.to_owned())
                        .unwrap_or(step);
                    let mut xml = String::new();
                    for key in keys.chars() {
                        if key == ',' {
                            xml += &format!("  <pause milliseconds=\"{PAUSE_MS}\"/>\n");
                            continue;
                        }
                        event_code(key);
                        xml += &step
                            .replace("@KEY@", &key.to_string())
                            .replace("@CSEQ@", &cseq.to_string())
                            .replace("@GAP@", &KEY_GAP_MS.to_string());
                        cseq += 1;
                    }
                    xml
                }
            }
        };
        let keys1 = stage(&config.keys, "keys1.pcap");
        let keys2 = stage(&config.more_keys, "keys2.pcap");
        let scenario = template
            .replace("@KEYS1@", &keys1)
            .replace("@KEYS2@", &keys2)
            .replace("@BYE_CSEQ@", &cseq.to_string())
            .replace("@AUDIO_PTS@", &pts.join(" "))
            .replace("@AUDIO_RTPMAPS@", &rtpmaps.join("\n"))
            .replace("@SEND_PT@", &send_codec.payload_type().to_string());
        std::fs::write(dir.path().join("caller.xml"), scenario).unwrap();
        Self::spawn(
            name,
            target,
            &config.service,
            &config.local_ip,
            dir,
            "caller.xml",
            config.tcp,
        )
    }

    /// Starts one of the committed scenarios of `tests/sipp/` as it is (silence as the
    /// phone's sound).
    pub fn start_scenario(
        name: &str,
        target: &str,
        service: &str,
        local_ip: &str,
        scenario: &str,
    ) -> SippCaller {
        let dir = tempfile::Builder::new()
            .prefix("pinbridge-sipp-")
            .tempdir()
            .expect("a temporary directory");
        std::fs::write(dir.path().join("send.ulaw"), ulaw(&[0i16; 8000])).unwrap();
        std::fs::copy(format!("{SIPP_DIR}/{scenario}"), dir.path().join(scenario))
            .unwrap_or_else(|e| panic!("{scenario}: {e}"));
        Self::spawn(name, target, service, local_ip, dir, scenario, false)
    }

    /// Starts SIPp with a scenario already in `dir` (for the scenarios of one test).
    pub fn spawn(
        name: &str,
        target: &str,
        service: &str,
        local_ip: &str,
        dir: tempfile::TempDir,
        scenario: &str,
        tcp: bool,
    ) -> SippCaller {
        let sip_port = free_port_block(1);
        let media_port = free_port_block(4);
        let proc = Proc::spawn(
            &format!("sipp {name}"),
            Command::new("sipp")
                .current_dir(dir.path())
                .args(["-sf", scenario, "-i", local_ip, "-mi", local_ip])
                .args(["-p", &sip_port.to_string(), "-mp", &media_port.to_string()])
                .args(["-m", "1", "-l", "1", "-nostdin", "-s", service])
                .args(["-t", if tcp { "t1" } else { "u1" }])
                .args(["-trace_logs", "-log_file", "log.txt"])
                .args(["-trace_err", "-error_file", "errors.txt"])
                .args(["-trace_msg", "-message_file", "messages.txt"])
                .args(["-timeout", "300s", "-timeout_error"])
                .arg(target)
                .stdin(Stdio::null())
                .stdout(Stdio::from(
                    std::fs::File::create(dir.path().join("screen.txt")).unwrap(),
                ))
                .stderr(Stdio::from(
                    std::fs::File::create(dir.path().join("stderr.txt")).unwrap(),
                )),
        );
        SippCaller {
            name: name.to_owned(),
            proc,
            dir,
            sip_port,
            media_port,
            local_ip: local_ip.to_owned(),
            more_keys_asked: std::cell::Cell::new(false),
            tcp,
            connections: std::cell::RefCell::new(Vec::new()),
        }
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// The scenario's log (`<log>` actions).
    pub fn log(&self) -> String {
        self.file("log.txt")
    }

    /// The SIP messages SIPp sent and received.
    pub fn messages(&self) -> String {
        self.file("messages.txt")
    }

    /// Everything SIPp wrote, for a failure message.
    pub fn report(&self) -> String {
        format!(
            "--- {} log:\n{}\n--- errors:\n{}\n--- stderr:\n{}\n--- messages:\n{}",
            self.name,
            self.log(),
            self.file("errors.txt"),
            self.file("stderr.txt"),
            self.messages()
        )
    }

    pub fn answer(&self) -> Option<Answer> {
        let log = self.log();
        let line = log.lines().find(|l| l.contains("answered call-id="))?;
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .map(str::to_owned)
        };
        Some(Answer {
            call_id: field("call-id=")?,
            rtp_port: field("rtp-port=")?.parse().ok()?,
        })
    }

    /// Waits until pinbridge answered; panics with SIPp's traces otherwise.
    pub fn wait_answered(&mut self, timeout: Duration) -> Answer {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(answer) = self.answer() {
                return answer;
            }
            if let Some(status) = self.proc.child.try_wait().unwrap() {
                panic!(
                    "{} ended ({status}) before an answer\n{}",
                    self.name,
                    self.report()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} not answered within {timeout:?}\n{}",
                    self.name,
                    self.report()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the scenario logged `line`.
    pub fn logged(&self, line: &str) -> bool {
        self.log().contains(line)
    }

    fn tell(&self, method: &str) {
        let answer = self.answer().expect("the call was answered");
        let socket = UdpSocket::bind((self.local_ip.as_str(), 0)).expect("bind");
        let port = socket.local_addr().unwrap().port();
        let transport = if self.tcp { "TCP" } else { "UDP" };
        let request = format!(
            "{method} sip:caller@{ip}:{sp} SIP/2.0\r\n\
             Via: SIP/2.0/{transport} {ip}:{port};branch=z9hG4bK-test-{method}-{port}\r\n\
             From: <sip:test@{ip}>;tag=test{port}\r\n\
             To: <sip:caller@{ip}>\r\n\
             Call-ID: {cid}\r\n\
             CSeq: 1 {method}\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
            ip = self.local_ip,
            sp = self.sip_port,
            cid = answer.call_id,
        );
        if self.tcp {
            let mut stream = TcpStream::connect((self.local_ip.as_str(), self.sip_port))
                .expect("connect to SIPp");
            stream.write_all(request.as_bytes()).expect("send to SIPp");
            self.connections.borrow_mut().push(stream);
        } else {
            socket
                .send_to(request.as_bytes(), (self.local_ip.as_str(), self.sip_port))
                .expect("send to SIPp");
        }
    }

    /// Types the second stage of keys (`CallerConfig::more_keys`).
    pub fn more_keys(&self) {
        wait_for("the first keys typed", Duration::from_secs(60), || {
            self.logged("keys1 sent").then_some(())
        });
        self.more_keys_asked.set(true);
        self.tell("MESSAGE");
    }

    /// Hangs up: the scenario sends BYE, once the keys it was typing are typed (SIPp
    /// takes a request during a pause as unexpected and aborts the call).
    pub fn hang_up(&self) {
        let typed = |stage: &str| self.logged(&format!("{stage} sent"));
        wait_for("the keys typed", Duration::from_secs(60), || {
            let more_asked = self.more_keys_asked.get();
            (typed("keys1") && (!more_asked || typed("keys2"))).then_some(())
        });
        self.tell("NOTIFY");
    }

    /// Waits for SIPp to finish the call, which must succeed; returns who ended it.
    pub fn wait_end(&mut self, timeout: Duration) -> Ending {
        match self.proc.wait_exit(timeout) {
            Some(status) if status.success() => {}
            Some(status) => panic!("{} failed ({status})\n{}", self.name, self.report()),
            None => {
                self.proc.stop("KILL", Duration::from_secs(5));
                panic!(
                    "{} still in the call after {timeout:?}\n{}",
                    self.name,
                    self.report()
                )
            }
        }
        let log = self.log();
        if log.contains("ended by=bridge") {
            Ending::ByBridge
        } else if log.contains("ended by=caller") {
            Ending::ByCaller
        } else {
            panic!("{} ended without a BYE\n{}", self.name, self.report())
        }
    }

    /// Waits for SIPp to exit, whatever the outcome.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.proc.wait_exit(timeout)
    }

    pub fn is_running(&mut self) -> bool {
        self.proc.child.try_wait().unwrap().is_none()
    }
}

// ---------------------------------------------------------------------------------
// A baresip phone

/// One headless baresip: its sound source a tone (aufile), what it receives recorded by
/// sndfile, driven through ctrl_tcp (netstring JSON).
pub struct Baresip {
    proc: Proc,
    pub dir: tempfile::TempDir,
    ctrl: TcpStream,
    events: mpsc::Receiver<serde_json::Value>,
    pub seen: Vec<serde_json::Value>,
}

impl Baresip {
    pub fn start(tone_hz: f32) -> Baresip {
        let dir = tempfile::Builder::new()
            .prefix("pinbridge-baresip-")
            .tempdir()
            .expect("a temporary directory");
        let d = dir.path();
        std::fs::write(d.join("tone.wav"), Wav::encode(&tone(tone_hz, 120))).unwrap();
        let ports = free_port_block(24);
        let (sip, ctrl, rtp_low) = (ports, ports + 2, ports + 4);
        let config = format!(
            "poll_method epoll\n\
             sip_listen 127.0.0.1:{sip}\n\
             sip_trans_def udp\n\
             call_local_timeout 300\n\
             audio_player aubridge,nowhere-{sip}\n\
             audio_alert aubridge,nowhere-{sip}\n\
             audio_source aufile,{dir}/tone.wav\n\
             ausrc_srate 8000\n\
             auplay_srate 8000\n\
             ausrc_channels 1\n\
             auplay_channels 1\n\
             rtp_ports {rtp_low}-{rtp_high}\n\
             module_path /usr/lib/baresip/modules\n\
             module g711.so\n\
             module aufile.so\n\
             module aubridge.so\n\
             module sndfile.so\n\
             module_app account.so\n\
             module_app menu.so\n\
             module_app ctrl_tcp.so\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl}\n\
             snd_path {dir}\n",
            dir = d.display(),
            rtp_high = ports + 23,
        );
        std::fs::write(d.join("config"), config).unwrap();
        std::fs::write(
            d.join("accounts"),
            "<sip:+15555550177@127.0.0.1>;regint=0\n",
        )
        .unwrap();
        let proc = Proc::spawn(
            "baresip",
            Command::new("baresip")
                .arg("-f")
                .arg(d)
                .stdin(Stdio::null())
                .stdout(Stdio::from(
                    std::fs::File::create(d.join("out.txt")).unwrap(),
                ))
                .stderr(Stdio::from(
                    std::fs::File::create(d.join("err.txt")).unwrap(),
                )),
        );
        let stream = wait_for("baresip's ctrl_tcp", Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", ctrl)).ok()
        });
        let reader = stream.try_clone().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || read_netstrings(reader, tx));
        Baresip {
            proc,
            dir,
            ctrl: stream,
            events: rx,
            seen: Vec::new(),
        }
    }

    pub fn command(&mut self, command: &str, params: &str) {
        let body =
            serde_json::json!({"command": command, "params": params, "token": command}).to_string();
        let message = format!("{}:{},", body.len(), body);
        self.ctrl
            .write_all(message.as_bytes())
            .expect("write to ctrl_tcp");
    }

    /// Waits for an event of `kind` (e.g. `CALL_ESTABLISHED`) and returns it.
    pub fn wait_event(&mut self, kind: &str, timeout: Duration) -> serde_json::Value {
        if let Some(found) = self.seen.iter().find(|e| e["type"] == kind) {
            return found.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => {
                    self.seen.push(event.clone());
                    if event["type"] == kind {
                        return event;
                    }
                }
                Err(_) => panic!(
                    "baresip: no {kind} within {timeout:?}; seen {:?}\n{}",
                    self.seen,
                    self.output()
                ),
            }
        }
    }

    pub fn dial(&mut self, uri: &str) {
        self.command("dial", uri);
    }

    /// Presses one key (RFC 4733; baresip ends the event only when the next key comes).
    pub fn key(&mut self, key: char) {
        self.command("sndcode", &key.to_string());
    }

    pub fn hang_up(&mut self) {
        self.command("hangup", "");
    }

    pub fn output(&self) -> String {
        let read = |n: &str| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        format!(
            "--- baresip stdout:\n{}\n--- stderr:\n{}",
            read("out.txt"),
            read("err.txt")
        )
    }

    /// Quits baresip (by command, then by PID) and returns what it received in the call,
    /// decoded (sndfile's `dump-*-dec.wav`).
    pub fn stop(mut self) -> Vec<i16> {
        self.command("quit", "");
        if self.proc.wait_exit(Duration::from_secs(5)).is_none() {
            self.proc.stop("KILL", Duration::from_secs(5));
        }
        let mut dumps: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("dump-") && n.ends_with("-dec.wav"))
            })
            .collect();
        dumps.sort();
        let path = dumps
            .last()
            .unwrap_or_else(|| panic!("baresip recorded nothing\n{}", self.output()));
        let bytes = std::fs::read(path).unwrap();
        wav_samples(&bytes)
    }
}

/// The samples of a 16-bit mono WAV, tolerant of a header whose sizes were never
/// finalised.
pub fn wav_samples(bytes: &[u8]) -> Vec<i16> {
    if let Ok(wav) = Wav::decode(bytes) {
        return wav.samples().to_vec();
    }
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        if id == b"data" {
            let data = &bytes[at + 8..];
            return data
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
        }
        at += 8 + len;
    }
    panic!("not a WAV file")
}

fn read_netstrings(mut stream: TcpStream, tx: mpsc::Sender<serde_json::Value>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        while let Some(colon) = buf.iter().position(|&b| b == b':') {
            let Ok(len) = std::str::from_utf8(&buf[..colon])
                .unwrap_or("x")
                .parse::<usize>()
            else {
                return;
            };
            if buf.len() < colon + 1 + len + 1 {
                break;
            }
            let body = buf[colon + 1..colon + 1 + len].to_vec();
            buf.drain(..colon + 1 + len + 1);
            if let Ok(value) = serde_json::from_slice(&body)
                && tx.send(value).is_err()
            {
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// A SIPp answering peer, to check the harness without pinbridge

/// SIPp answering one call with `tests/sipp/uas-music.xml`: it streams the hold music.
pub struct SippPeer {
    proc: Proc,
    pub dir: tempfile::TempDir,
    pub sip_port: u16,
    pub media_port: u16,
}

impl SippPeer {
    pub fn start() -> SippPeer {
        let dir = tempfile::Builder::new()
            .prefix("pinbridge-sipp-peer-")
            .tempdir()
            .expect("a temporary directory");
        std::fs::write(
            dir.path().join("music.ulaw"),
            ulaw(&asset("music/hold.wav")),
        )
        .unwrap();
        std::fs::copy(
            format!("{SIPP_DIR}/uas-music.xml"),
            dir.path().join("uas-music.xml"),
        )
        .unwrap();
        let sip_port = free_udp_port();
        let media_port = free_port_block(4);
        let proc = Proc::spawn(
            "sipp peer",
            Command::new("sipp")
                .current_dir(dir.path())
                .args([
                    "-sf",
                    "uas-music.xml",
                    "-i",
                    "127.0.0.1",
                    "-mi",
                    "127.0.0.1",
                ])
                .args(["-p", &sip_port.to_string(), "-mp", &media_port.to_string()])
                .args(["-m", "1", "-nostdin", "-t", "u1", "-timeout", "120s"])
                .args(["-trace_err", "-error_file", "errors.txt"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        SippPeer {
            proc,
            dir,
            sip_port,
            media_port,
        }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.sip_port)
    }

    /// Waits for the peer to finish its call successfully.
    pub fn wait_done(&mut self, timeout: Duration) {
        let status = self.proc.wait_exit(timeout);
        let errors =
            std::fs::read_to_string(self.dir.path().join("errors.txt")).unwrap_or_default();
        assert!(
            status.is_some_and(|s| s.success()),
            "the SIPp peer failed ({status:?}): {errors}"
        );
    }
}

/// pinbridge's side, for the dial-in tests.
pub mod bridge;
