//! Scripted phones for the dial-in tests: SIPp and baresip run as real processes on
//! loopback, the keys they type (RFC 4733 pcaps, SIPp's stock captures and `play_dtmf`,
//! SIP INFO, in-band tones), and what they received
//! turned back into audio for `pinbridge-media`'s analysis (correlation with the
//! committed prompts and music, Goertzel for tones).
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
//!   and SIPp replays RTP headers as they are: the same digit twice is the very same
//!   packets again ([`KeyMethod::StockCaptures`] types keys that way). The default
//!   method writes its own pcap per stage of keys, with fresh timestamps and sequence
//!   numbers, as phones send them ([`rfc4733_pcap`]).
//! - `play_dtmf` sends telephone-events as payload type 96 only, on a new SSRC for each
//!   action, after a few no-op packets of payload type 97.
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

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pinbridge_media::{Codec, DtmfDigit, RtpPacket, ToneGenerator, ToneSegment, Wav};

use crate::pcap::{Datagram, write_pcap};
use crate::ports::{free_port, free_port_block};
use crate::process::Proc;
use crate::sipp::{Sipp, SippOptions};
use crate::wait_for;

pub use crate::sipp::{Answer, Response};

/// The committed SIPp scenarios of the end-to-end tests.
pub fn sipp_dir() -> PathBuf {
    crate::workspace_root().join("tests/sipp")
}

/// The payload type the scenarios offer for telephone-event.
pub const TELEPHONE_EVENT: u8 = 101;

/// The samples of a committed audio asset, e.g. `prompts/en-US/welcome.wav`.
pub fn asset(path: &str) -> Vec<i16> {
    let full = crate::assets_dir().join(path);
    let bytes = std::fs::read(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()));
    Wav::decode(&bytes)
        .unwrap_or_else(|e| panic!("decode {}: {e:?}", full.display()))
        .samples()
        .to_vec()
}

/// A committed English prompt, e.g. `welcome`.
pub fn prompt(name: &str) -> Vec<i16> {
    asset(&format!("prompts/en-US/{name}.wav"))
}

/// A temporary directory for one phone.
fn phone_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("a temporary directory")
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
    /// RTP telephone-events from SIPp's stock captures (`/usr/share/sip-tester/
    /// dtmf_2833_*.pcap`), one `play_pcap_audio` per key: one SSRC, but each key's
    /// sequence numbers and timestamps are those of its capture, far from the last.
    StockCaptures,
    /// SIPp's own `play_dtmf` (telephone-events as payload type 96 on a new SSRC for
    /// each stage, after no-op packets of payload type 97).
    SippDtmf,
    /// In-band only: DTMF tones in the caller's audio, no telephone-event offered.
    InBand,
}

impl KeyMethod {
    /// The telephone-event payload type the caller offers, if any.
    pub fn telephone_event(self) -> Option<u8> {
        match self {
            KeyMethod::InBand => None,
            // SIPp's play_dtmf always sends payload type 96.
            KeyMethod::SippDtmf => Some(96),
            KeyMethod::Rfc4733 | KeyMethod::Info | KeyMethod::StockCaptures => {
                Some(TELEPHONE_EVENT)
            }
        }
    }
}

/// The number a [`SippCaller`] calls from unless its config says otherwise.
pub const CALLING_NUMBER: &str = "+15555550100";

/// Where Debian's SIPp package keeps its stock captures.
pub const STOCK_CAPTURES: &str = "/usr/share/sip-tester";

/// The stock capture of one key.
fn stock_capture(key: char) -> String {
    let name = match key {
        '*' => "star".to_owned(),
        '#' => "pound".to_owned(),
        '0'..='9' => key.to_string(),
        _ => panic!("no stock capture for {key:?}"),
    };
    format!("{STOCK_CAPTURES}/dtmf_2833_{name}.pcap")
}

/// `keys` as in-band DTMF, with the timing of [`typing_time`]: each key
/// 160 ms of its two tones (the high one 2 dB stronger, as telephones send them), then
/// 240 ms of silence; `,` a second of silence.
pub fn inband_keys(keys: &str) -> Vec<i16> {
    let mut segments = Vec::new();
    for key in keys.chars() {
        if key == ',' {
            segments.push(ToneSegment::silence(PAUSE_MS as u32));
            continue;
        }
        let (low, high) = dtmf_digit(key).frequencies();
        segments.push(ToneSegment::dual(low, 5000.0, high, 6300.0, KEY_MS as u32));
        segments.push(ToneSegment::silence(KEY_GAP_MS as u32));
    }
    ToneGenerator::new(segments).render()
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
    /// The calling number (From user part).
    pub calling_number: String,
    /// Late offer: the INVITE has no SDP, the 200 OK carries pinbridge's offer and the
    /// ACK the caller's answer.
    pub late_offer: bool,
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
            calling_number: CALLING_NUMBER.to_owned(),
            late_offer: false,
        }
    }
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
    sipp: Sipp,
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
        let dir = phone_dir("pinbridge-sipp-");
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
                format!("a=rtpmap:{} {name}/8000", c.payload_type())
            })
            .collect();
        let template = std::fs::read_to_string(sipp_dir().join("caller.xml")).expect("caller.xml");
        let mut cseq = 2;
        let mut stream = EventStream::new(u32::from(free_port()));
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
                KeyMethod::StockCaptures => keys
                    .chars()
                    .map(|key| match key {
                        ',' => format!("  <pause milliseconds=\"{PAUSE_MS}\"/>\n"),
                        _ => format!(
                            "  <nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n  <pause milliseconds=\"{}\"/>\n",
                            stock_capture(key),
                            KEY_MS + KEY_GAP_MS
                        ),
                    })
                    .collect(),
                KeyMethod::SippDtmf => keys
                    .split(',')
                    .map(|run| {
                        // play_dtmf sends a key every 2 x its length, after 2 x length.
                        let ms = (run.len() as u64 + 2) * 2 * KEY_MS;
                        let play = if run.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "  <nop><action><exec play_dtmf=\"{run},{KEY_MS}\"/></action></nop>\n"
                            )
                        };
                        format!("{play}  <pause milliseconds=\"{ms}\"/>\n")
                    })
                    .collect::<Vec<_>>()
                    .join(&format!("  <pause milliseconds=\"{PAUSE_MS}\"/>\n")),
                KeyMethod::InBand => {
                    let file = file.replace(".pcap", ".g711");
                    let encoded: Vec<u8> = inband_keys(keys)
                        .iter()
                        .map(|&s| send_codec.encode_sample(s))
                        .collect();
                    std::fs::write(dir.path().join(&file), encoded).unwrap();
                    // The keys replace the phone's sound for their length, then it goes on.
                    format!(
                        "  <nop><action><exec rtp_stream=\"{file},1,@SEND_PT@\"/></action></nop>\n  <pause milliseconds=\"{}\"/>\n  <nop><action><exec rtp_stream=\"send.g711,-1,@SEND_PT@\"/></action></nop>\n",
                        typing_time(keys).as_millis() + 100
                    )
                }
                KeyMethod::Info => {
                    let step = std::fs::read_to_string(sipp_dir().join("info-key.xml"))
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
        let mut pts = pts;
        let mut rtpmaps = rtpmaps;
        if let Some(pt) = config.method.telephone_event() {
            pts.push(pt.to_string());
            rtpmaps.push(format!(
                "a=rtpmap:{pt} telephone-event/8000\na=fmtp:{pt} 0-16"
            ));
        }
        let sdp = format!(
            "Content-Type: application/sdp\nContent-Length: [len]\n\n\
             v=0\no=- 1 1 IN IP4 [media_ip]\ns=-\nc=IN IP4 [media_ip]\nt=0 0\n\
             m=audio [media_port] RTP/AVP {}\n{}\na=ptime:20\na=sendrecv\n",
            pts.join(" "),
            rtpmaps.join("\n")
        );
        let no_body = "Content-Length: 0\n\n".to_owned();
        let (invite_body, ack_body) = if config.late_offer {
            (no_body, sdp)
        } else {
            (sdp, no_body)
        };
        let keys1 = stage(&config.keys, "keys1.pcap");
        let keys2 = stage(&config.more_keys, "keys2.pcap");
        let scenario = template
            .replace("@KEYS1@", &keys1)
            .replace("@KEYS2@", &keys2)
            .replace("@BYE_CSEQ@", &cseq.to_string())
            .replace("@INVITE_BODY@", &invite_body)
            .replace("@ACK_BODY@", &ack_body)
            .replace("@CALLING@", &config.calling_number)
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
        let dir = phone_dir("pinbridge-sipp-");
        std::fs::write(dir.path().join("send.ulaw"), ulaw(&[0i16; 8000])).unwrap();
        std::fs::copy(sipp_dir().join(scenario), dir.path().join(scenario))
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
        let options = SippOptions {
            local_ip: local_ip.to_owned(),
            tcp,
            target: Some(target.to_owned()),
            trace_messages: true,
            ..SippOptions::new(scenario, sip_port, media_port)
        }
        .args(["-m", "1", "-l", "1", "-s", service])
        .args(["-timeout", "300s", "-timeout_error"]);
        let sipp = Sipp::spawn(&format!("sipp {name}"), dir.path(), &options)
            .unwrap_or_else(|e| panic!("{e}"));
        SippCaller {
            name: name.to_owned(),
            sipp,
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
        self.sipp.file(name)
    }

    /// The scenario's log (`<log>` actions).
    pub fn log(&self) -> String {
        self.sipp.log()
    }

    /// The SIP messages SIPp sent and received.
    pub fn messages(&self) -> String {
        self.sipp.messages()
    }

    /// Every SIP response the caller received, in order.
    pub fn received_responses(&self) -> Vec<Response> {
        self.sipp.received_responses()
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

    /// What the scenario logged when pinbridge answered, once it did.
    pub fn answer(&self) -> Option<Answer> {
        self.sipp.answers().into_iter().next()
    }

    /// Waits until pinbridge answered; panics with SIPp's traces otherwise.
    pub fn wait_answered(&mut self, timeout: Duration) -> Answer {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(answer) = self.answer() {
                return answer;
            }
            if let Some(status) = self.sipp.proc.exited() {
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
        match self.sipp.proc.wait_exit(timeout) {
            Some(status) if status.success() => {}
            Some(status) => panic!("{} failed ({status})\n{}", self.name, self.report()),
            None => {
                self.sipp.proc.kill();
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
        self.sipp.proc.wait_exit(timeout)
    }

    pub fn is_running(&mut self) -> bool {
        self.sipp.proc.is_running()
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

/// How a [`Baresip`] is set up beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct BaresipOptions {
    /// What its microphone says: a tone of this frequency, for two minutes.
    pub tone_hz: f32,
    /// Instead of the tone, these samples (8 kHz mono), then silence.
    pub speech: Option<Vec<i16>>,
    /// SIP over TLS trusting this CA, with SRTP required (SDES, the srtp module).
    pub tls_ca: Option<PathBuf>,
}

impl Baresip {
    pub fn start(tone_hz: f32) -> Baresip {
        Baresip::start_with(&BaresipOptions {
            tone_hz,
            ..BaresipOptions::default()
        })
    }

    pub fn start_with(options: &BaresipOptions) -> Baresip {
        let dir = phone_dir("pinbridge-baresip-");
        let d = dir.path();
        let source = match &options.speech {
            Some(speech) => {
                let mut samples = speech.clone();
                samples.resize(samples.len() + 8000 * 120, 0);
                samples
            }
            None => tone(options.tone_hz, 120),
        };
        std::fs::write(d.join("tone.wav"), Wav::encode(&source)).unwrap();
        let ports = free_port_block(24);
        let (sip, ctrl, rtp_low) = (ports, ports + 2, ports + 4);
        let (tls_config, account) = match &options.tls_ca {
            Some(ca) => (
                format!("sip_cafile {}\nmodule srtp.so\n", ca.display()),
                "<sip:+15555550177@127.0.0.1;transport=tls>;regint=0;mediaenc=srtp-mand\n",
            ),
            None => (String::new(), "<sip:+15555550177@127.0.0.1>;regint=0\n"),
        };
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
             {tls_config}\
             module_app account.so\n\
             module_app menu.so\n\
             module_app ctrl_tcp.so\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl}\n\
             snd_path {dir}\n",
            dir = d.display(),
            rtp_high = ports + 23,
        );
        std::fs::write(d.join("config"), config).unwrap();
        std::fs::write(d.join("accounts"), account).unwrap();
        let mut cmd = Command::new("baresip");
        cmd.arg("-f")
            .arg(d)
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                std::fs::File::create(d.join("out.txt")).unwrap(),
            ))
            .stderr(Stdio::from(
                std::fs::File::create(d.join("err.txt")).unwrap(),
            ));
        let proc = Proc::spawn("baresip", cmd).unwrap_or_else(|e| panic!("{e}"));
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
            self.proc.kill();
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

/// One headless Linphone (`linphonec`, Debian `linphone-cli`) in file mode: its
/// microphone a tone WAV, what it receives recorded to a WAV, driven by commands on its
/// standard input (a line of keys during a call sends them as RFC 4733 events).
pub struct Linphone {
    proc: Proc,
    pub dir: tempfile::TempDir,
    stdin: std::process::ChildStdin,
}

impl Linphone {
    pub fn start(tone_hz: f32) -> Linphone {
        let dir = phone_dir("pinbridge-linphone-");
        let d = dir.path();
        std::fs::write(d.join("tone.wav"), Wav::encode(&tone(tone_hz, 120))).unwrap();
        let ports = free_port_block(8);
        let config = format!(
            "[sip]\n\
             sip_port={sip}\n\
             sip_tcp_port=-1\n\
             sip_tls_port=-1\n\
             use_ipv6=0\n\
             bind_address=127.0.0.1\n\
             default_proxy=-1\n\
             [rtp]\n\
             audio_rtp_port={rtp}\n\
             [sound]\n\
             echocancellation=0\n\
             [net]\n\
             firewall_policy=0\n\
             [misc]\n\
             uuid=pinbridge-test\n",
            sip = ports,
            rtp = ports + 2,
        );
        std::fs::write(d.join("linphonerc"), config).unwrap();
        // Without its database (under $HOME) linphonec never opens its SIP port.
        std::fs::create_dir_all(d.join(".local/share/linphone")).unwrap();
        let mut cmd = Command::new("linphonec");
        cmd.arg("-c")
            .arg(d.join("linphonerc"))
            .arg("-d")
            .arg("4")
            .arg("-l")
            .arg(d.join("log.txt"))
            .env("HOME", d)
            .stdin(Stdio::piped())
            .stdout(Stdio::from(
                std::fs::File::create(d.join("out.txt")).unwrap(),
            ))
            .stderr(Stdio::from(
                std::fs::File::create(d.join("err.txt")).unwrap(),
            ));
        let mut proc = Proc::spawn("linphonec", cmd).unwrap_or_else(|e| panic!("{e}"));
        let stdin = proc.take_stdin().expect("linphonec's standard input");
        let (source, recording) = (d.join("tone.wav"), d.join("heard.wav"));
        let mut phone = Linphone { proc, dir, stdin };
        phone.command("soundcard use files");
        phone.command(&format!("play {}", source.display()));
        phone.command(&format!("record {}", recording.display()));
        phone
    }

    /// One line on linphonec's standard input.
    pub fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to linphonec");
        self.stdin.flush().expect("write to linphonec");
    }

    /// Whether its standard output holds `text` yet.
    pub fn printed(&self, text: &str) -> bool {
        std::fs::read_to_string(self.dir.path().join("out.txt")).is_ok_and(|out| out.contains(text))
    }

    /// Waits for `text` on its standard output.
    pub fn wait_printed(&self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.printed(text) {
            assert!(
                Instant::now() < deadline,
                "linphonec printed no {text:?} within {timeout:?}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn output(&self) -> String {
        let read = |n: &str| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        format!(
            "--- linphonec stdout:\n{}\n--- stderr:\n{}",
            read("out.txt"),
            read("err.txt")
        )
    }

    /// Quits linphonec (by command, then by PID) and returns what it recorded.
    pub fn stop(mut self) -> Vec<i16> {
        self.command("quit");
        if self.proc.wait_exit(Duration::from_secs(10)).is_none() {
            self.proc.kill();
        }
        let bytes = std::fs::read(self.dir.path().join("heard.wav"))
            .unwrap_or_else(|e| panic!("linphonec recorded nothing ({e})\n{}", self.output()));
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
    sipp: Sipp,
    pub dir: tempfile::TempDir,
    pub sip_port: u16,
    pub media_port: u16,
}

impl SippPeer {
    pub fn start() -> SippPeer {
        let dir = phone_dir("pinbridge-sipp-peer-");
        std::fs::write(
            dir.path().join("music.ulaw"),
            ulaw(&asset("music/hold.wav")),
        )
        .unwrap();
        std::fs::copy(
            sipp_dir().join("uas-music.xml"),
            dir.path().join("uas-music.xml"),
        )
        .unwrap();
        let sip_port = free_port();
        let media_port = free_port_block(4);
        let options = SippOptions::new("uas-music.xml", sip_port, media_port)
            .args(["-m", "1", "-timeout", "120s"]);
        let sipp = Sipp::spawn("sipp peer", dir.path(), &options).unwrap_or_else(|e| panic!("{e}"));
        SippPeer {
            sipp,
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
        let status = self.sipp.proc.wait_exit(timeout);
        assert!(
            status.is_some_and(|s| s.success()),
            "the SIPp peer failed ({status:?}): {}",
            self.sipp.errors()
        );
    }
}
