//! The bridge core in virtual time, with scripted phones and an in-memory directory.
//!
//! [`Sim`] plays both sides the core talks to: the phones (each sends one RTP packet
//! of its own tone, or silence, every 20 ms from its own address, and keeps what it is
//! sent) and the drivers (the SIP side's 200/ACK when the core asks for the answer,
//! the store's answers to look-ups and PIN checks). Time moves only when the core has
//! nothing left to do before its next deadline, so ten minutes of a meeting take a
//! fraction of a second.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pinbridge_bridge::{
    Assets, Bridge, CallId, CallKey, Channel, Command, Config, ControlRequest, Directory, Event,
    Input, LiveUpdate, MeetingRecord, NewCall, Origin, Output, PinCheck, RemoteMedia,
};
use pinbridge_domain::meeting::MeetingOptions;
use pinbridge_domain::user::{AudioConferencing, User, UserId};
use pinbridge_domain::{ConferenceId, PinHash};
use pinbridge_domain::{DisplayName, Upn};
use pinbridge_media::analysis::goertzel_power;
use pinbridge_media::srtp::{CallKeys, CallSrtp, MasterKey};
use pinbridge_media::{Codec, FRAME_SAMPLES, RtpPacket, RtpSender};

/// The organiser's PIN.
pub const PIN: &str = "24680";
/// The meeting's conference ID.
pub const CONFERENCE: &str = "123456789";
/// The number every phone dials.
pub const CALLED: &str = "+14255550100";
/// The RTP payload type of telephone-events.
pub const TELEPHONE_EVENT: u8 = 101;
/// How much of what each phone hears is kept.
const KEPT: usize = 8000 * 20;

/// How a scripted phone behaves.
pub struct Phone {
    pub key: CallKey,
    /// Where it sends from and is sent to.
    pub address: SocketAddr,
    /// The tone it sends (`None`: silence).
    pub tone: Option<f64>,
    /// The codec it sends in.
    pub codec: Codec,
    /// The payload type of the last packet it received.
    pub payload_type: Option<u8>,
    sender: RtpSender,
    phase: f64,
    /// Frames it sends before its tone (keys pressed in-band).
    pub script: VecDeque<[i16; FRAME_SAMPLES]>,
    /// Packets sent and not yet read by the core.
    queued: VecDeque<Vec<u8>>,
    /// The last seconds it heard, decoded.
    pub heard: VecDeque<i16>,
    /// RTP packets it received.
    pub packets: usize,
    pub answered: bool,
    /// The core hung it up (BYE).
    pub hung_up: bool,
    /// The core let go of it (its ports closed).
    pub released: bool,
    /// It stopped sending (on hold, or gone quiet).
    pub quiet: bool,
    /// Its SRTP, when the call's media is encrypted: what it sends is protected with its
    /// key, what it receives unprotected with the bridge's.
    pub srtp: Option<CallSrtp>,
    /// Packets it received that did not unprotect.
    pub srtp_refused: usize,
    /// RTCP compound packets it received that parse (after unprotecting, with SRTP).
    pub rtcp_packets: usize,
}

/// An RTCP packet from the core, for the phone whose RTP address is one port below
/// where it went.
fn receive_rtcp(
    phones: &mut BTreeMap<CallId, Phone>,
    by_address: &HashMap<SocketAddr, CallId>,
    misdirected: &mut Vec<(CallKey, SocketAddr)>,
    (call, destination): (CallKey, SocketAddr),
    bytes: &[u8],
) {
    let rtp = SocketAddr::new(destination.ip(), destination.port().wrapping_sub(1));
    let Some(phone) = by_address
        .get(&rtp)
        .and_then(|id| phones.get_mut(id))
        .filter(|p| p.key == call)
    else {
        misdirected.push((call, destination));
        return;
    };
    let plain = match phone.srtp.as_mut() {
        Some(srtp) => match srtp.unprotect_rtcp(bytes) {
            Ok(plain) => plain,
            Err(_) => {
                phone.srtp_refused += 1;
                return;
            }
        },
        None => bytes.to_vec(),
    };
    if pinbridge_media::rtcp::parse_compound(&plain).is_ok() {
        phone.rtcp_packets += 1;
    }
}

impl Phone {
    /// An RTP packet as the phone puts it on the wire: protected when the call is SRTP.
    fn seal(&mut self, packet: &[u8]) -> Vec<u8> {
        match self.srtp.as_mut() {
            Some(srtp) => srtp.protect_rtp(packet).expect("SRTP protects"),
            None => packet.to_vec(),
        }
    }
}

/// What a meeting is like.
#[derive(Debug, Clone)]
pub struct Meeting {
    pub anonymous_start: bool,
    pub bypass_lobby: bool,
    pub lobby_wait: Duration,
    pub announcements: bool,
}

impl Default for Meeting {
    fn default() -> Self {
        Self {
            anonymous_start: false,
            bypass_lobby: false,
            lobby_wait: Duration::from_secs(15 * 60),
            announcements: false,
        }
    }
}

/// The core and everything around it.
pub struct Sim {
    pub bridge: Bridge,
    pub now: Instant,
    pub start: Instant,
    deadline: Instant,
    pub phones: BTreeMap<CallId, Phone>,
    by_address: HashMap<SocketAddr, CallId>,
    next_call: u64,
    record: MeetingRecord,
    /// Live-state updates, in order.
    pub live: Vec<LiveUpdate>,
    /// PIN checks asked for.
    pub pin_checks: usize,
    /// When set, PIN checks are answered this way instead of by comparing the PIN.
    pub pin_answer: Option<PinCheck>,
    /// Datagrams the core sent to an address that is no phone of the call.
    pub misdirected: Vec<(CallKey, SocketAddr)>,
    /// Answers for the core, fed after its outputs are drained.
    answers: VecDeque<Command>,
}

fn organiser() -> User {
    User {
        id: UserId(1),
        upn: Upn::parse("organiser@contoso.example").unwrap(),
        display_name: DisplayName::parse("Organiser").unwrap(),
        primary_smtp_address: None,
        email_override: None,
        role: Default::default(),
        password_hash: None,
        conferencing: AudioConferencing {
            enabled: true,
            conference_id: Some(ConferenceId::parse(CONFERENCE).unwrap()),
            pin_hash: Some(PinHash::from_stored("not checked here".into())),
            ..Default::default()
        },
        created_at_ms: 0,
    }
}

impl Sim {
    pub fn new(meeting: Meeting) -> Self {
        Self::with_config(meeting, Config::default())
    }

    pub fn with_config(meeting: Meeting, config: Config) -> Self {
        Self::with_numbers(meeting, config, Vec::new())
    }

    /// A core whose directory has these service numbers (the phones dial [`CALLED`]).
    pub fn with_numbers(
        meeting: Meeting,
        config: Config,
        numbers: Vec<pinbridge_domain::ServiceNumber>,
    ) -> Self {
        let assets = Arc::new(Assets::load().expect("the embedded prompts decode"));
        let now = Instant::now();
        let directory = Directory {
            settings: pinbridge_domain::TenantSettings {
                enable_name_recording: false,
                ..Default::default()
            },
            numbers,
        };
        let bridge = Bridge::new(
            config,
            assets,
            directory,
            now,
            Duration::from_secs(1_800_000_000),
        );
        let record = MeetingRecord {
            options: MeetingOptions {
                organiser: UserId(1),
                conference_id: ConferenceId::parse(CONFERENCE).unwrap(),
                anonymous_start: meeting.anonymous_start,
                bypass_lobby: meeting.bypass_lobby,
                lobby_wait: meeting.lobby_wait,
                announcements: meeting.announcements,
            },
            organiser: organiser(),
        };
        let mut sim = Self {
            bridge,
            now,
            start: now,
            deadline: now,
            phones: BTreeMap::new(),
            by_address: HashMap::new(),
            next_call: 1,
            record,
            live: Vec::new(),
            pin_checks: 0,
            pin_answer: None,
            misdirected: Vec::new(),
            answers: VecDeque::new(),
        };
        sim.drain();
        sim
    }

    /// A phone calls in from its own address, sending `tone` (or silence), with RFC
    /// 4733 telephone-events negotiated.
    pub fn dial(&mut self, tone: Option<f64>) -> CallId {
        self.dial_with(tone, Some(TELEPHONE_EVENT))
    }

    /// A phone calls in, with `telephone_event` negotiated or (`None`) keys in-band only.
    pub fn dial_with(&mut self, tone: Option<f64>, telephone_event: Option<u8>) -> CallId {
        self.dial_media(tone, telephone_event, false)
    }

    /// A phone calls in with SRTP (keys as SDES would agree them) and telephone-events.
    pub fn dial_srtp(&mut self, tone: Option<f64>) -> CallId {
        self.dial_media(tone, Some(TELEPHONE_EVENT), true)
    }

    fn dial_media(&mut self, tone: Option<f64>, telephone_event: Option<u8>, srtp: bool) -> CallId {
        let id = CallId(self.next_call);
        self.next_call += 1;
        let address = SocketAddr::from(([192, 0, 2, 10], 20_000 + 2 * id.0 as u16));
        let port = 40_000 + 2 * id.0 as u16;
        // Distinct keys per call and direction: the phone's and the bridge's.
        let phone_key = MasterKey::from_array(&[id.0 as u8; 30]);
        let bridge_key = MasterKey::from_array(&[0x80 | id.0 as u8; 30]);
        let keys = srtp.then(|| CallKeys {
            remote: phone_key.clone(),
            local: bridge_key.clone(),
        });
        let phone_srtp = srtp.then(|| {
            CallSrtp::new(CallKeys {
                remote: bridge_key,
                local: phone_key,
            })
            .expect("SRTP contexts")
        });
        let media = RemoteMedia {
            address: Some(address),
            codec: Codec::Pcmu,
            payload_type: 0,
            telephone_event,
            srtp: keys,
        };
        let key = self.bridge.add_call(
            self.now,
            NewCall {
                handle: id,
                port,
                media,
                called_number: CALLED.into(),
                calling_number: Some(format!("+1425555{:04}", id.0)),
                origin: Origin {
                    number: Some(format!("+1425555{:04}", id.0)),
                    address: address.ip(),
                },
                rtp_seed: (id.0 as u32, 1, 1000),
            },
        );
        self.phones.insert(
            id,
            Phone {
                key,
                address,
                tone,
                codec: Codec::Pcmu,
                payload_type: None,
                sender: RtpSender::new(0x1000 + id.0 as u32, 0, 100, 0),
                phase: 0.0,
                script: VecDeque::new(),
                queued: VecDeque::new(),
                heard: VecDeque::new(),
                packets: 0,
                answered: false,
                hung_up: false,
                released: false,
                quiet: false,
                srtp: phone_srtp,
                srtp_refused: 0,
                rtcp_packets: 0,
            },
        );
        self.by_address.insert(address, id);
        self.drain();
        id
    }

    /// Keys pressed on a phone, sent by SIP INFO, one every 200 ms.
    pub fn keys(&mut self, id: CallId, keys: &str) {
        for key in keys.chars() {
            self.command(Command::Digit(id, key));
            self.run(Duration::from_millis(200));
        }
    }

    /// Keys pressed on a phone, sent as RFC 4733 telephone-events in its RTP stream:
    /// each key one event of five packets (the last with the end bit) on one timestamp.
    pub fn rfc4733_keys(&mut self, id: CallId, keys: &str) {
        for key in keys.chars() {
            let code = pinbridge_media::DtmfDigit::from_char(key)
                .expect("a DTMF key")
                .event_code();
            let phone = self.phones.get_mut(&id).unwrap();
            phone.sender.set_payload_type(TELEPHONE_EVENT);
            phone.sender.start_talkspurt();
            for i in 0..5u16 {
                let event = pinbridge_media::TelephoneEvent {
                    event: code,
                    end: i == 4,
                    volume: 10,
                    duration: 160 * (i + 1),
                };
                let mut buf = [0u8; 64];
                let samples = if i == 4 { 800 } else { 0 };
                let len = phone
                    .sender
                    .write_packet(&event.to_bytes(), samples, &mut buf)
                    .unwrap();
                let packet = phone.seal(&buf[..len]);
                phone.queued.push_back(packet);
            }
            self.run(Duration::from_millis(200));
        }
    }

    /// Keys pressed on a phone as in-band DTMF in its audio: 100 ms of each key's two
    /// tones, 100 ms of silence.
    pub fn inband_keys(&mut self, id: CallId, keys: &str) {
        let phone = self.phones.get_mut(&id).unwrap();
        for key in keys.chars() {
            let (low, high) = pinbridge_media::DtmfDigit::from_char(key)
                .expect("a DTMF key")
                .frequencies();
            let mut t = 0.0f64;
            for frame in 0..10 {
                let mut pcm = [0i16; FRAME_SAMPLES];
                if frame < 5 {
                    for s in &mut pcm {
                        let two_pi = 2.0 * std::f64::consts::PI;
                        let v = (two_pi * f64::from(low) * t).sin()
                            + (two_pi * f64::from(high) * t).sin();
                        *s = (5000.0 * v) as i16;
                        t += 1.0 / 8000.0;
                    }
                }
                phone.script.push_back(pcm);
            }
        }
        let length = Duration::from_millis(200 * keys.len() as u64);
        self.run(length);
    }

    /// Everything a phone has heard that is kept (the last 20 s).
    pub fn heard(&self, id: CallId) -> Vec<i16> {
        self.phones[&id].heard.iter().copied().collect()
    }

    /// What a phone heard since it had received `packets` packets (as far as it is kept).
    pub fn heard_since(&self, id: CallId, packets: usize) -> Vec<i16> {
        let phone = &self.phones[&id];
        let n = ((phone.packets - packets) * FRAME_SAMPLES).min(phone.heard.len());
        phone
            .heard
            .iter()
            .skip(phone.heard.len() - n)
            .copied()
            .collect()
    }

    /// The phone hangs up (BYE).
    pub fn hang_up(&mut self, id: CallId) {
        self.command(Command::Ended(id));
    }

    /// Something from the SIP side.
    pub fn command(&mut self, command: Command) {
        self.bridge.handle_input(self.now, Input::Command(command));
        self.drain();
    }

    /// A datagram from anywhere to a call's port, as an attacker would send one.
    pub fn inject(&mut self, id: CallId, channel: Channel, source: SocketAddr, bytes: &[u8]) {
        let key = self.phones[&id].key;
        self.bridge.handle_input(
            self.now,
            Input::Datagram {
                call: key,
                channel,
                source,
                bytes,
            },
        );
    }

    /// Runs the core for `duration` of virtual time.
    pub fn run(&mut self, duration: Duration) {
        let end = self.now + duration;
        // Bounded: the core's deadline moves on by at least a tick each round.
        let rounds = 2 + (duration.as_millis() as usize / 20) * 2;
        for _ in 0..rounds {
            if self.deadline > end {
                break;
            }
            self.now = self.now.max(self.deadline);
            if self.bridge.tick_due(self.now) {
                self.send_media();
            }
            self.bridge.handle_input(self.now, Input::Timeout);
            self.drain();
        }
        self.now = end;
    }

    /// Each phone's packet for this 20 ms, and the core reading the sockets it reads now.
    fn send_media(&mut self) {
        for phone in self.phones.values_mut() {
            if !phone.answered || phone.released || phone.quiet {
                continue;
            }
            let mut pcm = [0i16; FRAME_SAMPLES];
            if let Some(frame) = phone.script.pop_front() {
                pcm = frame;
            } else if let Some(hz) = phone.tone {
                for sample in &mut pcm {
                    *sample = (8000.0 * phone.phase.sin()) as i16;
                    phone.phase += 2.0 * std::f64::consts::PI * hz / 8000.0;
                }
            }
            let mut payload = [0u8; FRAME_SAMPLES];
            phone.codec.encode(&pcm, &mut payload);
            phone.sender.set_payload_type(match phone.codec {
                Codec::Pcmu => 0,
                Codec::Pcma => 8,
            });
            let mut buf = [0u8; 256];
            let len = phone
                .sender
                .write_packet(&payload, FRAME_SAMPLES as u32, &mut buf)
                .unwrap();
            let packet = phone.seal(&buf[..len]);
            phone.queued.push_back(packet);
        }
        let ids: Vec<CallId> = self.phones.keys().copied().collect();
        for id in ids {
            let phone = self.phones.get_mut(&id).unwrap();
            if phone.released || !self.bridge.reads_due(phone.key) {
                continue;
            }
            while let Some(bytes) = phone.queued.pop_front() {
                self.bridge.handle_input(
                    self.now,
                    Input::Datagram {
                        call: phone.key,
                        channel: Channel::Rtp,
                        source: phone.address,
                        bytes: &bytes,
                    },
                );
            }
        }
    }

    /// Carries out the core's outputs, answering for the SIP side and the store.
    fn drain(&mut self) {
        loop {
            loop {
                match self.bridge.poll_output() {
                    Output::Transmit(t) => {
                        if t.channel == Channel::Rtcp {
                            receive_rtcp(
                                &mut self.phones,
                                &self.by_address,
                                &mut self.misdirected,
                                (t.call, t.destination),
                                t.payload,
                            );
                            continue;
                        }
                        let phone = self
                            .by_address
                            .get(&t.destination)
                            .and_then(|id| self.phones.get_mut(id))
                            .filter(|p| p.key == t.call);
                        let Some(phone) = phone else {
                            self.misdirected.push((t.call, t.destination));
                            continue;
                        };
                        let opened;
                        let payload = match phone.srtp.as_mut() {
                            Some(srtp) => match srtp.unprotect_rtp(t.payload) {
                                Ok(plain) => {
                                    opened = plain;
                                    &opened[..]
                                }
                                Err(_) => {
                                    phone.srtp_refused += 1;
                                    continue;
                                }
                            },
                            None => t.payload,
                        };
                        let packet = RtpPacket::parse(payload).expect("the core sends valid RTP");
                        let codec = match packet.payload_type {
                            0 => Codec::Pcmu,
                            8 => Codec::Pcma,
                            other => panic!("the core sent payload type {other}"),
                        };
                        phone.payload_type = Some(packet.payload_type);
                        let mut pcm = vec![0i16; packet.payload.len()];
                        codec.decode(packet.payload, &mut pcm);
                        phone.heard.extend(pcm);
                        while phone.heard.len() > KEPT {
                            phone.heard.pop_front();
                        }
                        phone.packets += 1;
                    }
                    Output::Event(Event::Answer(id)) => {
                        if let Some(phone) = self.phones.get_mut(&id) {
                            phone.answered = true;
                        }
                        // The 200 OK went out and the ACK came back.
                        self.answers.push_back(Command::Confirmed(id));
                    }
                    Output::Event(Event::Hangup(id)) => {
                        if let Some(phone) = self.phones.get_mut(&id) {
                            phone.hung_up = true;
                        }
                    }
                    Output::Event(Event::Released { call, .. }) => {
                        for phone in self.phones.values_mut() {
                            if phone.key == call && !phone.released {
                                phone.released = true;
                                break;
                            }
                        }
                    }
                    Output::Event(Event::Control(request)) => self.store(request),
                    Output::Timeout(at) => {
                        self.deadline = at;
                        break;
                    }
                }
            }
            let Some(answer) = self.answers.pop_front() else {
                return;
            };
            self.bridge.handle_input(self.now, Input::Command(answer));
        }
    }

    /// The store's answers.
    fn store(&mut self, request: ControlRequest) {
        match request {
            ControlRequest::Lookup(id, conference_id) => {
                let record =
                    (conference_id.as_str() == CONFERENCE).then(|| Box::new(self.record.clone()));
                self.answers.push_back(Command::LookedUp(id, record));
            }
            ControlRequest::VerifyPin { call, digits, .. } => {
                self.pin_checks += 1;
                let check = self.pin_answer.unwrap_or(if digits.reveal() == PIN {
                    PinCheck::Correct
                } else {
                    PinCheck::Wrong
                });
                self.answers.push_back(Command::PinChecked(call, check));
            }
            ControlRequest::Live(update) => self.live.push(update),
        }
    }

    /// Dials in and reaches the meeting as its organiser (conference ID, `*`, PIN).
    pub fn organiser(&mut self, tone: Option<f64>) -> CallId {
        let id = self.dial(tone);
        self.run(Duration::from_millis(400));
        self.keys(id, &format!("{CONFERENCE}#*{PIN}#"));
        self.until_placed(id);
        id
    }

    /// Runs until the call has a place in the meeting or its lobby (at most a minute of
    /// virtual time), and a second more for the prompts that follow.
    pub fn until_placed(&mut self, id: CallId) {
        for _ in 0..120 {
            if self.bridge.participant_of(id).is_some() {
                break;
            }
            self.run(Duration::from_millis(500));
        }
        assert!(
            self.bridge.participant_of(id).is_some(),
            "{id:?} never reached the meeting"
        );
        self.run(Duration::from_secs(1));
    }

    /// Dials in as a caller (conference ID, then waits out the organiser prompt).
    pub fn caller(&mut self, tone: Option<f64>) -> CallId {
        let id = self.dial(tone);
        self.run(Duration::from_millis(400));
        self.keys(id, &format!("{CONFERENCE}#"));
        self.until_placed(id);
        id
    }

    /// The power of `hz` in the last `window` of what a phone heard.
    pub fn heard_power(&self, id: CallId, hz: f64, window: Duration) -> f64 {
        let phone = &self.phones[&id];
        let n = (window.as_millis() as usize * 8).min(phone.heard.len());
        let samples: Vec<i16> = phone
            .heard
            .iter()
            .skip(phone.heard.len() - n)
            .copied()
            .collect();
        goertzel_power(&samples, hz)
    }

    /// Whether a phone hears `hz` clearly over the last second.
    pub fn hears(&self, id: CallId, hz: f64) -> bool {
        self.heard_power(id, hz, Duration::from_secs(1)) > 1.0e5
    }

    /// The meeting's participants by placement: (in the meeting, in the lobby).
    pub fn counts(&self) -> (usize, usize) {
        let id = ConferenceId::parse(CONFERENCE).unwrap();
        self.bridge
            .meeting(&id)
            .map_or((0, 0), |m| (m.in_meeting_count(), m.lobby().count()))
    }

    pub fn started(&self) -> bool {
        let id = ConferenceId::parse(CONFERENCE).unwrap();
        self.bridge.meeting(&id).is_some_and(|m| m.is_started())
    }
}

// The reader of SIPp's stock captures, shared with the media crate's tests.
#[path = "../../../media/tests/captures/mod.rs"]
mod captures;
use captures::stock_capture;

impl Sim {
    /// Keys typed as SIPp's `play_pcap_audio` of the stock captures plays them: each
    /// key's capture as it was recorded (its own sequence numbers and timestamps, its
    /// own SSRC), one packet every 20 ms and the three end packets together, while the
    /// phone's audio stream goes on; a key typed twice is the same packets twice.
    pub fn stock_capture_keys(&mut self, id: CallId, keys: &str) {
        for key in keys.chars() {
            let packets = stock_capture(key);
            for (i, packet) in packets.into_iter().enumerate() {
                self.phones.get_mut(&id).unwrap().queued.push_back(packet);
                // The first seven packets are 20 ms apart; the three end packets follow
                // the seventh at once.
                if i < 7 {
                    self.run(Duration::from_millis(20));
                }
            }
            self.run(Duration::from_millis(200));
        }
    }

    /// The phone's stream jumps: its next packet's sequence number and timestamp are
    /// `sequence` and `timestamp` further on (wrapping, so a large step is a step back)
    /// than they would have been, and the SSRC stays, as a gateway restarting its stream
    /// sends.
    pub fn jump_stream(&mut self, id: CallId, sequence: u16, timestamp: u32) {
        let phone = self.phones.get_mut(&id).unwrap();
        let ssrc = phone.sender.ssrc();
        let next_sequence = phone.sender.next_sequence().wrapping_add(sequence);
        let next_timestamp = phone
            .sender
            .last_timestamp()
            .wrapping_add(FRAME_SAMPLES as u32)
            .wrapping_add(timestamp);
        phone.sender = RtpSender::new(ssrc, 0, next_sequence, next_timestamp);
    }

    /// The phone's stream starts afresh with a new SSRC.
    pub fn new_ssrc(&mut self, id: CallId, ssrc: u32, sequence: u16, timestamp: u32) {
        self.phones.get_mut(&id).unwrap().sender = RtpSender::new(ssrc, 0, sequence, timestamp);
    }
}
