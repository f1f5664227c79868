//! The conference core of the dial-in bridge, without I/O: every call's media and caller
//! flow, every meeting's rules and mixer, and the hold music, in one state machine.
//!
//! It is driven the way str0m's `Rtc` and quinn-proto's `Connection` are: the driver
//! feeds it [`Input`]s with the time they happened (a datagram that arrived on a call's
//! RTP or RTCP port with its source, an answer from the store, a SIP event, a deadline
//! that passed) and drains [`Output`]s until it returns [`Output::Timeout`], the time to
//! call again. The core never reads the clock, opens a socket or waits: tests run it in
//! virtual time, faster than real time and the same every run.
//!
//! A call's life: the SIP side takes an INVITE, binds the call's ports and hands the
//! core a [`NewCall`] ([`Bridge::add_call`]). The call rings for [`Config::answer_delay`]
//! (a caller who gives up at once is cancelled rather than answered and hung up), then
//! the core asks for the answer ([`Event::Answer`]). The caller's ACK
//! ([`Command::Confirmed`]) starts its caller flow ([`pinbridge_ivr::Call`]): prompts,
//! keys (RFC 4733, SIP INFO, in-band), the conference look-up and the PIN check, which go
//! out as [`ControlRequest`]s and come back as [`Command`]s. Joining puts the call into
//! its meeting's room ([`pinbridge_domain::meeting::Meeting`] for the rules, a
//! [`Mixer`] for the audio); the lobby hears music on hold. Every 20 ms ([`TICK`]) each
//! call's jitter buffer gives a frame, each room mixes once, and each call gets one RTP
//! packet ([`Output::Transmit`]). When a call ends, for whatever reason, the core says so
//! ([`Event::Released`]) and the driver closes its ports.
//!
//! Nothing allocates per frame in the steady state: packets are written into one byte
//! arena that is reused, the mixer and the music encode their shared payloads once per
//! codec, and only a call hearing a prompt over the mix has a payload encoded for it
//! alone.
//!
//! **Admission of media**: a call's audio is taken from, and sent to, one remote source
//! only, latched as [`latch`] describes; packets from any other source are ignored and
//! counted ([`Counters::rtp_packets_foreign`]).

pub mod assets;
mod call;
mod directory;
pub mod latch;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pinbridge_domain::meeting::{
    Joiner, Meeting, MeetingEvent, MeetingOptions, ParticipantId, ParticipantKind, Placement,
};
use pinbridge_domain::{ConferenceId, Pin, User};
use pinbridge_ivr::{
    Action, Call as Flow, ConferenceInfo, ConferenceLookup, Config as FlowConfig,
    Input as FlowInput, MeetingNotice, PromptId, Tone,
};
use pinbridge_media::srtp::CallSrtp;
use pinbridge_media::{
    Codec, FRAME_SAMPLES, InbandDetector, JitterBuffer, Mixer, MixerConfig, MusicOnHold,
    PlayoutKind, PromptPlayer, ReceiverStats, RtpSender, SILENT_FRAME, TelephoneEventReceiver,
    ToneGenerator, ToneSegment,
};

pub use assets::{AssetError, Assets, DEFAULT_LANGUAGE, LANGUAGES};
pub use directory::Directory;

use call::{CallState, Member, Pending};

/// The length of one media tick.
pub const TICK: Duration = Duration::from_millis(20);

/// How often the sockets of a caller nobody hears (the lobby, the caller flow with RFC
/// 4733 keys) are read, in ticks: 100 ms of packets in one batched read.
const UNHEARD_READ_TICKS: u64 = 5;

/// How often each call sends an RTCP sender report.
const RTCP_INTERVAL: Duration = Duration::from_secs(5);

/// The largest RTP packet the core builds.
const MAX_PACKET: usize = 1500;

/// Which of a call's two ports a datagram belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The RTP port (even).
    Rtp,
    /// The RTCP port (RTP + 1).
    Rtcp,
}

/// A call, as the driver that brought it names it (for the dial-in bridge, the SIP
/// call's handle): any number unique among the calls alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// A call of the bridge, as the driver names it: the index the core gave it in
/// [`Bridge::add_call`], valid until [`Event::Released`] for it has been polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallKey(usize);

impl CallKey {
    /// A small number, unique among the calls alive: a slab index for the driver's own
    /// per-call state (its sockets).
    pub fn index(self) -> usize {
        self.0
    }
}

/// What the RTP side of a call uses, as negotiated in SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMedia {
    /// Where to send until the caller's RTP arrives; `None` when the caller is on hold.
    pub address: Option<SocketAddr>,
    /// The codec we send and expect.
    pub codec: Codec,
    /// Its payload type.
    pub payload_type: u8,
    /// The telephone-event payload type, if negotiated.
    pub telephone_event: Option<u8>,
    /// The SDES keys when the call's media is SRTP (RFC 3711): every packet in is
    /// authenticated and decrypted, every packet out encrypted and tagged.
    pub srtp: Option<pinbridge_media::srtp::CallKeys>,
}

/// A call the SIP side has taken (it rings; the core answers it after the ring delay).
#[derive(Debug, Clone)]
pub struct NewCall {
    /// The driver's name for the call.
    pub handle: CallId,
    /// Our RTP port (RTCP is the next one); it names the call in logs.
    pub port: u16,
    /// The negotiated media.
    pub media: RemoteMedia,
    /// The number the caller dialled: it chooses the prompts' language.
    pub called_number: String,
    /// The calling number, already masked.
    pub calling_number: Option<String>,
    /// Who placed the call, unmasked, for the PIN-guessing throttle only.
    pub origin: Origin,
    /// Random SSRC, sequence and timestamp seeds for our RTP stream.
    pub rtp_seed: (u32, u16, u32),
}

/// Who placed a call, as its signalling shows it. Used only for the PIN-guessing
/// throttle and its security events; participants and live state see the masked number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The calling number as delivered (the From user part), unmasked.
    pub number: Option<String>,
    /// The address the call's INVITE came from.
    pub address: IpAddr,
}

/// What a conference ID leads to, as the store knows it.
#[derive(Debug, Clone)]
pub struct MeetingRecord {
    /// The meeting's options, resolved from the store.
    pub options: MeetingOptions,
    /// The organiser, whose PIN starts the meeting by phone.
    pub organiser: User,
}

/// The answer to a PIN check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinCheck {
    /// The PIN is the organiser's.
    Correct,
    /// It is not.
    Wrong,
    /// Too many PIN checks are waiting: the caller is told goodbye, not judged.
    Busy,
    /// Phone PIN entry is locked for this organiser or this calling number after too
    /// many wrong PINs (this one may have been the last): the caller is told so.
    Locked,
}

/// What the driver tells the core, besides datagrams.
#[derive(Debug)]
pub enum Command {
    /// The caller's ACK arrived: the caller flow begins.
    Confirmed(CallId),
    /// A key pressed, sent by SIP INFO.
    Digit(CallId, char),
    /// A re-INVITE changed the media.
    Remote(CallId, RemoteMedia),
    /// The SIP side ended the call (CANCEL or BYE from the caller, timeouts).
    Ended(CallId),
    /// The answer to [`ControlRequest::Lookup`].
    LookedUp(CallId, Option<Box<MeetingRecord>>),
    /// The answer to [`ControlRequest::VerifyPin`].
    PinChecked(CallId, PinCheck),
    /// The tenant's settings or numbers changed.
    Directory(Box<Directory>),
}

/// An input of the core.
#[derive(Debug)]
pub enum Input<'a> {
    /// A datagram arrived on a call's port.
    Datagram {
        call: CallKey,
        channel: Channel,
        source: SocketAddr,
        bytes: &'a [u8],
    },
    /// A command from the SIP side or the store.
    Command(Command),
    /// The time of the last [`Output::Timeout`] has come.
    Timeout,
}

/// A change of live state, for the store.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveUpdate {
    /// A meeting has callers; `started_at_ms` says whether (since when) it has started.
    Meeting {
        conference_id: ConferenceId,
        started_at_ms: Option<i64>,
    },
    /// Nobody is connected to the meeting any more.
    MeetingClosed { conference_id: ConferenceId },
    /// A participant joined or moved.
    Participant {
        conference_id: ConferenceId,
        participant: u64,
        is_organiser: bool,
        kind: ParticipantKind,
        placement: Placement,
        calling_number: Option<String>,
        joined_at_ms: i64,
    },
    /// A participant left.
    ParticipantLeft {
        conference_id: ConferenceId,
        participant: u64,
    },
}

/// What the core asks of the store.
#[derive(Debug)]
pub enum ControlRequest {
    /// Find the meeting of a conference ID.
    Lookup(CallId, ConferenceId),
    /// Check an organiser PIN (Argon2, away from the media).
    VerifyPin {
        call: CallId,
        organiser: Box<User>,
        digits: Pin,
        origin: Origin,
    },
    /// Write live state.
    Live(LiveUpdate),
}

/// Something for the driver to do, other than sending a datagram.
#[derive(Debug)]
pub enum Event {
    /// The call has rung long enough: answer it (200 OK).
    Answer(CallId),
    /// Hang the call up (BYE).
    Hangup(CallId),
    /// A request for the store.
    Control(ControlRequest),
    /// The call is gone from the core: close its ports and free `port`.
    Released { call: CallKey, port: u16 },
}

/// A datagram to send from one of a call's ports.
#[derive(Debug, PartialEq, Eq)]
pub struct Transmit<'a> {
    pub call: CallKey,
    pub channel: Channel,
    pub destination: SocketAddr,
    pub payload: &'a [u8],
}

/// An output of the core, drained with [`Bridge::poll_output`].
#[derive(Debug)]
pub enum Output<'a> {
    /// Something to do.
    Event(Event),
    /// A datagram to send.
    Transmit(Transmit<'a>),
    /// Nothing more until this time (or an input): call with [`Input::Timeout`] then.
    Timeout(Instant),
}

/// The core's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// A call with no RTP for this long is hung up.
    pub rtp_timeout: Duration,
    /// How long a call rings (180) before it is answered.
    pub answer_delay: Duration,
    /// How often callers in the lobby are reminded that they are still waiting; `None`:
    /// never.
    pub lobby_reminder: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            rtp_timeout: Duration::from_secs(60),
            answer_delay: Duration::from_millis(150),
            lobby_reminder: FlowConfig::default().lobby_reminder,
        }
    }
}

/// Counts of what happened, taken (and reset) with [`Bridge::take_counters`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Media ticks run.
    pub ticks: u64,
    /// Ticks that ran later than one frame after their due time.
    pub late_ticks: u64,
    /// Wrong organiser PINs entered.
    pub pin_failures: u64,
    /// PIN checks refused because too many were waiting.
    pub pin_checks_refused: u64,
    /// RTP packets accepted from the call's latched source.
    pub rtp_packets_received: u64,
    /// RTP packets that arrived after their audio was played.
    pub rtp_packets_late: u64,
    /// RTP packets the senders' sequence numbers say never arrived.
    pub rtp_packets_lost: u64,
    /// RTP packets from a source other than the call's latched one, ignored.
    pub rtp_packets_foreign: u64,
    /// RTCP packets from a source other than the call's latched one, ignored.
    pub rtcp_packets_foreign: u64,
    /// Times a call's media moved to a new source (silence or a new SSRC on probation).
    pub rtp_source_moves: u64,
    /// Calls hung up because no RTP arrived for the RTP timeout.
    pub rtp_timeouts: u64,
    /// SRTP or SRTCP packets refused: not authentic under the call's keys, replayed or
    /// malformed.
    pub srtp_packets_refused: u64,
}

impl Counters {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &Counters) {
        self.ticks += other.ticks;
        self.late_ticks += other.late_ticks;
        self.pin_failures += other.pin_failures;
        self.pin_checks_refused += other.pin_checks_refused;
        self.rtp_packets_received += other.rtp_packets_received;
        self.rtp_packets_late += other.rtp_packets_late;
        self.rtp_packets_lost += other.rtp_packets_lost;
        self.rtp_packets_foreign += other.rtp_packets_foreign;
        self.rtcp_packets_foreign += other.rtcp_packets_foreign;
        self.rtp_source_moves += other.rtp_source_moves;
        self.rtp_timeouts += other.rtp_timeouts;
        self.srtp_packets_refused += other.srtp_packets_refused;
    }
}

/// How many of each there are now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Calls the core holds (ringing, in the caller flow, the lobby or a meeting).
    pub calls: usize,
    /// Calls waiting in a lobby.
    pub lobby_calls: usize,
    /// Meetings that have started and not ended.
    pub meetings: usize,
}

/// One meeting with callers: its rules and its mixer.
struct Room {
    meeting: Meeting,
    mixer: Mixer,
    /// Participant → slab index of its call.
    members: HashMap<ParticipantId, usize>,
}

/// The core; see the crate documentation.
pub struct Bridge {
    config: Config,
    assets: Arc<Assets>,
    directory: Directory,
    calls: Vec<Option<CallState>>,
    /// Slots whose release the driver has taken, free for new calls.
    free: Vec<usize>,
    /// The slots of the calls still ringing (their `answer_at` set): a handful at most,
    /// so that the next answer's deadline is found without looking at every call.
    ringing: Vec<usize>,
    by_handle: HashMap<CallId, usize>,
    rooms: HashMap<ConferenceId, Room>,
    music: MusicOnHold,
    next_participant: u64,
    /// Ticks run so far.
    ticks: u64,
    next_tick: Instant,
    /// The wall clock at `epoch` (for RTCP and the live state's times).
    epoch: Instant,
    unix_at_epoch: Duration,
    /// Inputs for caller flows, handled in order (one flow's action may affect others).
    inputs: VecDeque<(usize, FlowInput)>,
    events: VecDeque<Event>,
    arena: Vec<u8>,
    transmits: Vec<Pending>,
    next_transmit: usize,
    counters: Counters,
    silence: [[u8; FRAME_SAMPLES]; 2],
}

fn tone_segments(tone: Tone) -> Vec<ToneSegment> {
    match tone {
        Tone::Beep => vec![ToneSegment::tone(1000.0, 6000.0, 250)],
        Tone::Error => vec![
            ToneSegment::tone(480.0, 5000.0, 150),
            ToneSegment::silence(50),
            ToneSegment::tone(480.0, 5000.0, 150),
        ],
    }
}

impl Bridge {
    /// A core with no calls, whose first tick is due one [`TICK`] after `now`, when the
    /// wall clock reads `unix_now` (time since the Unix epoch).
    pub fn new(
        config: Config,
        assets: Arc<Assets>,
        directory: Directory,
        now: Instant,
        unix_now: Duration,
    ) -> Self {
        let music = MusicOnHold::new(assets.music());
        Self {
            config,
            assets,
            directory,
            calls: Vec::new(),
            free: Vec::new(),
            ringing: Vec::new(),
            by_handle: HashMap::new(),
            rooms: HashMap::new(),
            music,
            next_participant: 1,
            ticks: 0,
            next_tick: now + TICK,
            epoch: now,
            unix_at_epoch: unix_now,
            inputs: VecDeque::new(),
            events: VecDeque::new(),
            arena: Vec::new(),
            transmits: Vec::new(),
            next_transmit: 0,
            counters: Counters::default(),
            silence: call::silence_payloads(),
        }
    }

    /// Takes a call the SIP side has accepted for set-up: it rings for the ring delay,
    /// then [`Event::Answer`] asks for its answer. When the caller flow or the call's SRTP
    /// contexts cannot be built, [`Event::Hangup`] and [`Event::Released`] follow at once.
    pub fn add_call(&mut self, now: Instant, new: NewCall) -> CallKey {
        let language = self.prompt_language(&new.called_number);
        let alternates = self.alternate_languages(&new.called_number, &language);
        let flow_config = FlowConfig {
            name_recording: self.directory.settings.enable_name_recording,
            lobby_reminder: self.config.lobby_reminder,
            alternate_languages: u8::try_from(alternates.len()).unwrap_or(u8::MAX),
            ..FlowConfig::default()
        };
        let flow = match Flow::new(flow_config) {
            Ok(flow) => Some(flow),
            Err(e) => {
                tracing::error!(error = %e, "caller flow settings are invalid; refusing the call");
                None
            }
        };
        let srtp = match new.media.srtp.clone().map(CallSrtp::new).transpose() {
            Ok(srtp) => Some(srtp.map(Box::new)),
            Err(e) => {
                tracing::error!(error = %e, "cannot set up the call's SRTP; refusing the call");
                None
            }
        };
        let (ssrc, sequence, timestamp) = new.rtp_seed;
        let payload_type = new.media.payload_type;
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.calls.push(None);
                self.calls.len() - 1
            }
        };
        let (Some(flow), Some(srtp)) = (flow, srtp) else {
            self.events.push_back(Event::Hangup(new.handle));
            self.events.push_back(Event::Released {
                call: CallKey(slot),
                port: new.port,
            });
            return CallKey(slot);
        };
        self.calls[slot] = Some(CallState {
            handle: new.handle,
            port: new.port,
            media: new.media,
            answer_at: Some(now + self.config.answer_delay),
            latch: Default::default(),
            rtcp_latch: Default::default(),
            language: self.assets.language_index(&language),
            alternates,
            calling_number: new.calling_number,
            origin: new.origin,
            flow,
            confirmed: false,
            jitter: JitterBuffer::default(),
            events: TelephoneEventReceiver::new(),
            inband: InbandDetector::new(Default::default()),
            stats: ReceiverStats::new(8000),
            sender: RtpSender::new(ssrc, payload_type, sequence, timestamp),
            prompt: PromptPlayer::new(),
            prompt_id: None,
            tone: ToneGenerator::new(Vec::new()),
            music: false,
            last_rtp: now,
            next_rtcp: now + RTCP_INTERVAL,
            input: SILENT_FRAME,
            has_input: false,
            record: None,
            member: None,
            reported_lost: 0,
            sent_at_tick: u64::MAX,
            srtp,
        });
        self.by_handle.insert(new.handle, slot);
        self.ringing.push(slot);
        tracing::debug!(call = new.handle.0, port = new.port, "call rings");
        CallKey(slot)
    }

    /// The prompt language for a dialled number: its service number's language when
    /// there are prompts in it, else the default.
    fn prompt_language(&self, called: &str) -> String {
        match self.directory.language_of(called) {
            Some(l) if self.assets.has_language(l) => l.to_owned(),
            Some(l) => {
                tracing::info!(called = %called, language = %l, "no prompts in this language; using the default");
                DEFAULT_LANGUAGE.to_owned()
            }
            None => {
                tracing::info!(called = %called, "called number is not a registered service number; using the default");
                DEFAULT_LANGUAGE.to_owned()
            }
        }
    }

    /// The alternate languages a dialled number's greeting offers: those with prompts,
    /// other than `primary` (the call's own) and each once, at most
    /// [`PromptId::MAX_LANGUAGE_OFFERS`]. The others are logged and not offered.
    fn alternate_languages(&self, called: &str, primary: &str) -> Vec<usize> {
        let mut offered: Vec<usize> = Vec::new();
        let primary = self.assets.language_index(primary);
        for language in self.directory.alternates_of(called) {
            if !self.assets.has_language(language) {
                tracing::info!(called = %called, language = %language, "no prompts in this alternate language; not offered");
                continue;
            }
            let index = self.assets.language_index(language);
            if index != primary
                && !offered.contains(&index)
                && offered.len() < usize::from(PromptId::MAX_LANGUAGE_OFFERS)
            {
                offered.push(index);
            }
        }
        offered
    }

    /// Whether the next tick is due at `now`: the driver reads the calls' sockets then,
    /// before [`Input::Timeout`].
    pub fn tick_due(&self, now: Instant) -> bool {
        now >= self.next_tick
    }

    /// Whether the coming tick uses what arrived on `call`'s ports. Audio nobody hears
    /// is read in batches every few ticks (each call on its own tick of the cycle): keys
    /// and the RTP timeout can wait that long.
    pub fn reads_due(&self, call: CallKey) -> bool {
        self.calls
            .get(call.0)
            .and_then(Option::as_ref)
            .is_some_and(|c| {
                c.listens() || (self.ticks + call.0 as u64).is_multiple_of(UNHEARD_READ_TICKS)
            })
    }

    /// Handles one input at `now`; drain [`Bridge::poll_output`] afterwards.
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        match input {
            Input::Datagram {
                call,
                channel,
                source,
                bytes,
            } => {
                let Some(state) = self.calls.get_mut(call.0).and_then(Option::as_mut) else {
                    return;
                };
                match channel {
                    Channel::Rtp => {
                        if let Some(digit) =
                            state.receive_rtp(source, bytes, now, &mut self.counters)
                        {
                            self.inputs.push_back((call.0, FlowInput::Digit(digit)));
                        }
                    }
                    Channel::Rtcp => state.receive_rtcp(source, bytes, now, &mut self.counters),
                }
                // Keys are handled with the tick, after the rest of the batch.
            }
            Input::Command(command) => {
                self.command(command, now);
                self.drain_inputs(now);
            }
            Input::Timeout => {
                self.answer_due(now);
                if now >= self.next_tick {
                    self.counters.ticks += 1;
                    if now >= self.next_tick + TICK {
                        self.counters.late_ticks += 1;
                    }
                    self.tick(now);
                    self.next_tick += TICK;
                    if now > self.next_tick + 5 * TICK {
                        // A long stall (the machine was suspended): start afresh.
                        self.next_tick = now + TICK;
                    }
                }
            }
        }
    }

    /// The next thing for the driver to do; [`Output::Timeout`] when there is nothing.
    pub fn poll_output(&mut self) -> Output<'_> {
        if let Some(event) = self.events.pop_front() {
            if let Event::Released { call, .. } = event {
                // The driver has been told: the slot may hold a new call now.
                self.free.push(call.0);
            }
            return Output::Event(event);
        }
        if let Some(pending) = self.transmits.get(self.next_transmit).copied() {
            self.next_transmit += 1;
            return Output::Transmit(Transmit {
                call: pending.call,
                channel: pending.channel,
                destination: pending.destination,
                payload: &self.arena[pending.start..pending.end],
            });
        }
        self.transmits.clear();
        self.arena.clear();
        self.next_transmit = 0;
        let next_answer = self
            .ringing
            .iter()
            .filter_map(|&slot| self.calls[slot].as_ref()?.answer_at)
            .min();
        Output::Timeout(next_answer.map_or(self.next_tick, |at| at.min(self.next_tick)))
    }

    /// Ends every call without hanging up (the SIP side is hanging up everything):
    /// [`Event::Released`] for each.
    pub fn shutdown(&mut self, now: Instant) {
        let slots: Vec<usize> = self.by_handle.values().copied().collect();
        for slot in slots {
            self.remove_call(slot, false, now);
        }
    }

    /// The counts since the last call.
    pub fn take_counters(&mut self) -> Counters {
        std::mem::take(&mut self.counters)
    }

    /// How many calls, lobby callers and started meetings there are.
    pub fn gauges(&self) -> Gauges {
        Gauges {
            calls: self.by_handle.len(),
            lobby_calls: self.rooms.values().map(|r| r.meeting.lobby().count()).sum(),
            meetings: self
                .rooms
                .values()
                .filter(|r| r.meeting.is_started())
                .count(),
        }
    }

    /// The meeting of a conference ID, while it has callers: its rules' state (who is in
    /// the lobby, who is muted) for status and tests.
    pub fn meeting(&self, conference_id: &ConferenceId) -> Option<&Meeting> {
        self.rooms.get(conference_id).map(|r| &r.meeting)
    }

    /// The participant a call is in its meeting, once it has joined.
    pub fn participant_of(&self, handle: CallId) -> Option<ParticipantId> {
        self.by_handle
            .get(&handle)
            .and_then(|&slot| self.calls[slot].as_ref())
            .and_then(|c| c.member.as_ref())
            .map(|m| m.participant)
    }

    /// Where a call's RTP goes now (its latched source, else its SDP address).
    pub fn rtp_destination(&self, handle: CallId) -> Option<SocketAddr> {
        self.by_handle
            .get(&handle)
            .and_then(|&slot| self.calls[slot].as_ref())
            .and_then(CallState::rtp_destination)
    }

    fn unix_ms(&self, now: Instant) -> i64 {
        (self.unix_at_epoch + now.saturating_duration_since(self.epoch)).as_millis() as i64
    }

    fn command(&mut self, command: Command, now: Instant) {
        match command {
            Command::Confirmed(handle) => {
                if let Some(slot) = self.slot_of(handle)
                    && let Some(call) = self.calls[slot].as_mut()
                    && !call.confirmed
                {
                    call.confirmed = true;
                    self.inputs.push_back((slot, FlowInput::CallAnswered));
                }
            }
            Command::Digit(handle, digit) => {
                if let Some(slot) = self.slot_of(handle) {
                    self.inputs.push_back((slot, FlowInput::Digit(digit)));
                }
            }
            Command::Remote(handle, media) => {
                if let Some(call) = self.slot_of(handle).and_then(|s| self.calls[s].as_mut()) {
                    if call.media.codec != media.codec
                        && let Some(member) = call.member.as_ref()
                        && let Some(room) = self.rooms.get_mut(&member.conference_id)
                        && let Some(id) = member.mixer
                    {
                        room.mixer.set_codec(id, media.codec);
                    }
                    call.sender.set_payload_type(media.payload_type);
                    if call.media.srtp != media.srtp {
                        // New keys (a re-INVITE): new contexts. Keys that cannot be used
                        // end the call rather than let its media go out in the clear.
                        match media.srtp.clone().map(CallSrtp::new).transpose() {
                            Ok(srtp) => call.srtp = srtp.map(Box::new),
                            Err(e) => {
                                tracing::warn!(error = %e, "the call's new SRTP keys cannot be used; hanging up");
                                self.events.push_back(Event::Hangup(handle));
                            }
                        }
                    }
                    call.media = media;
                }
            }
            Command::Ended(handle) => {
                if let Some(slot) = self.slot_of(handle) {
                    self.remove_call(slot, false, now);
                }
            }
            Command::LookedUp(handle, record) => {
                if let Some(slot) = self.slot_of(handle) {
                    let lookup = match &record {
                        None => ConferenceLookup::NotFound,
                        Some(record) => ConferenceLookup::Found(self.conference_info(record)),
                    };
                    if let Some(call) = self.calls[slot].as_mut() {
                        call.record = record;
                    }
                    self.inputs
                        .push_back((slot, FlowInput::ConferenceLookup(lookup)));
                }
            }
            Command::PinChecked(handle, check) => {
                if let Some(slot) = self.slot_of(handle) {
                    let input = match check {
                        PinCheck::Correct => FlowInput::PinChecked(true),
                        PinCheck::Wrong => {
                            self.counters.pin_failures += 1;
                            FlowInput::PinChecked(false)
                        }
                        PinCheck::Busy => {
                            self.counters.pin_checks_refused += 1;
                            FlowInput::ServiceBusy
                        }
                        PinCheck::Locked => FlowInput::PinEntryLocked,
                    };
                    self.inputs.push_back((slot, input));
                }
            }
            Command::Directory(directory) => self.directory = *directory,
        }
    }

    fn slot_of(&self, handle: CallId) -> Option<usize> {
        self.by_handle.get(&handle).copied()
    }

    fn conference_info(&self, record: &MeetingRecord) -> ConferenceInfo {
        let options = &record.options;
        let (started, caller_placement) = match self.rooms.get(&options.conference_id) {
            Some(room) => (
                room.meeting.is_started(),
                room.meeting.placement_for(Joiner::Caller),
            ),
            None => (false, options.placement_for(Joiner::Caller, false)),
        };
        let organiser = &record.organiser.conferencing;
        ConferenceInfo {
            anonymous_start: options.anonymous_start,
            started,
            organiser_has_pin: organiser.enabled && organiser.pin_hash.is_some(),
            caller_placement,
        }
    }

    /// Asks for the answer of the calls that have rung long enough.
    fn answer_due(&mut self, now: Instant) {
        let (calls, events) = (&mut self.calls, &mut self.events);
        self.ringing.retain(|&slot| {
            let Some(call) = calls[slot].as_mut() else {
                return false;
            };
            if call.answer_at.is_some_and(|at| at <= now) {
                call.answer_at = None;
                // The RTP timeout and the RTCP schedule count from the answer.
                call.last_rtp = now;
                call.next_rtcp = now + RTCP_INTERVAL;
                events.push_back(Event::Answer(call.handle));
            }
            call.answer_at.is_some()
        });
    }

    /// Ends a call: it leaves its room, the driver is told to release its ports, and
    /// with `hang_up` to send BYE.
    fn remove_call(&mut self, slot: usize, hang_up: bool, now: Instant) {
        let Some(mut call) = self.calls.get_mut(slot).and_then(Option::take) else {
            return;
        };
        self.by_handle.remove(&call.handle);
        self.ringing.retain(|&s| s != slot);
        self.inputs.retain(|(s, _)| *s != slot);
        call.report_loss(&mut self.counters);
        if let Some(member) = call.member.take() {
            self.leave_room(member, now);
        }
        if hang_up {
            self.events.push_back(Event::Hangup(call.handle));
        }
        self.events.push_back(Event::Released {
            call: CallKey(slot),
            port: call.port,
        });
        tracing::debug!(port = call.port, "call released");
    }

    fn leave_room(&mut self, member: Member, now: Instant) {
        let Some(room) = self.rooms.get_mut(&member.conference_id) else {
            return;
        };
        if let Some(id) = member.mixer {
            room.mixer.remove(id);
        }
        room.members.remove(&member.participant);
        let _ = room.meeting.leave(member.participant);
        self.meeting_events(&member.conference_id, now);
        if self
            .rooms
            .get(&member.conference_id)
            .is_some_and(|r| r.meeting.is_empty())
        {
            self.rooms.remove(&member.conference_id);
            self.live(LiveUpdate::MeetingClosed {
                conference_id: member.conference_id,
            });
        }
    }

    fn live(&mut self, update: LiveUpdate) {
        self.events
            .push_back(Event::Control(ControlRequest::Live(update)));
    }

    // ----- the caller flows -----

    fn drain_inputs(&mut self, now: Instant) {
        // Each input may queue more (an admit-all wakes every lobby caller); the queue
        // drains because every flow's actions are finite.
        while let Some((slot, input)) = self.inputs.pop_front() {
            let Some(call) = self.calls.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            call.flow.handle(input, now);
            self.run_actions(slot, now);
        }
    }

    fn run_actions(&mut self, slot: usize, now: Instant) {
        loop {
            let Some(call) = self.calls.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            let Some(action) = call.flow.poll_action() else {
                return;
            };
            self.act(slot, action, now);
        }
    }

    fn act(&mut self, slot: usize, action: Action, now: Instant) {
        let Some(call) = self.calls.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let prompts = self.assets.prompts_at(call.language);
        match action {
            Action::Play(prompt) => {
                call.prompt.play(prompts.clip(prompt));
                call.prompt_id = Some(prompt);
            }
            Action::PlaySequence(sequence) => {
                call.prompt.stop();
                for prompt in &sequence {
                    call.prompt.enqueue(prompts.clip(*prompt));
                }
                call.prompt_id = sequence.last().copied();
            }
            Action::StopPrompt => {
                call.prompt.stop();
                call.prompt_id = None;
            }
            Action::OfferLanguages { count } => {
                call.prompt.stop();
                let mut last = None;
                for (key, &language) in (1..=count).zip(&call.alternates) {
                    if let Some(offer) = PromptId::language_offer(key) {
                        call.prompt
                            .enqueue(self.assets.prompts_at(language).clip(offer));
                        last = Some(offer);
                    }
                }
                call.prompt_id = last;
            }
            Action::SetLanguage(key) => {
                if let Some(&language) = call.alternates.get(usize::from(key).wrapping_sub(1)) {
                    call.language = language;
                    tracing::debug!(call = call.handle.0, language = %self.assets.name_at(language), "caller chose a language");
                }
            }
            Action::StartMusicOnHold => call.music = true,
            Action::StopMusicOnHold => call.music = false,
            Action::LookupConference(id) => {
                let request = ControlRequest::Lookup(call.handle, id);
                self.events.push_back(Event::Control(request));
            }
            Action::VerifyPin { digits, .. } => match &call.record {
                Some(record) => {
                    let request = ControlRequest::VerifyPin {
                        call: call.handle,
                        organiser: Box::new(record.organiser.clone()),
                        digits,
                        origin: call.origin.clone(),
                    };
                    self.events.push_back(Event::Control(request));
                }
                None => self.inputs.push_back((slot, FlowInput::PinChecked(false))),
            },
            // Names are not kept yet: the flow's own timer ends the recording.
            Action::RecordName { .. } | Action::StopRecording => {}
            Action::PlayTone(tone) => call.tone = ToneGenerator::new(tone_segments(tone)),
            Action::Join { as_organiser } => self.join(slot, as_organiser, now),
            Action::AdmitAll
            | Action::MuteAll
            | Action::ToggleMute
            | Action::ToggleHand
            | Action::ToggleAnnouncements => self.keypad_command(slot, action, now),
            Action::Hangup { reason } => {
                tracing::info!(call = call.handle.0, ?reason, "caller flow hangs up");
                self.remove_call(slot, true, now);
            }
        }
    }

    fn join(&mut self, slot: usize, as_organiser: bool, now: Instant) {
        let participant = ParticipantId(self.next_participant);
        let joined_at_ms = self.unix_ms(now);
        let Some(call) = self.calls.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let Some(record) = call.record.as_ref() else {
            // The flow joins only after a look-up found the meeting.
            return;
        };
        self.next_participant += 1;
        let conference_id = record.options.conference_id.clone();
        let room = self
            .rooms
            .entry(conference_id.clone())
            .or_insert_with(|| Room {
                meeting: Meeting::new(record.options.clone()),
                mixer: Mixer::new(MixerConfig::default()),
                members: HashMap::new(),
            });
        let joiner = if as_organiser {
            Joiner::OrganiserWithPin
        } else {
            Joiner::Caller
        };
        let placement = match room.meeting.join(participant, joiner, now) {
            Ok(outcome) => outcome.placement(),
            Err(e) => {
                tracing::warn!(error = %e, "join refused");
                return;
            }
        };
        room.members.insert(participant, slot);
        let mixer = (placement == Placement::Meeting).then(|| room.mixer.add(call.media.codec));
        call.member = Some(Member {
            conference_id: conference_id.clone(),
            participant,
            mixer,
        });
        let new_room = room.members.len() == 1;
        let calling_number = call.calling_number.clone();
        if new_room {
            self.live(LiveUpdate::Meeting {
                conference_id: conference_id.clone(),
                started_at_ms: None,
            });
        }
        self.live(LiveUpdate::Participant {
            conference_id: conference_id.clone(),
            participant: participant.0,
            is_organiser: as_organiser,
            kind: ParticipantKind::Phone,
            placement,
            calling_number,
            joined_at_ms,
        });
        self.inputs.push_back((slot, FlowInput::Joined(placement)));
        self.meeting_events(&conference_id, now);
        if placement == Placement::Meeting {
            let alone = self
                .rooms
                .get(&conference_id)
                .is_some_and(|r| r.meeting.in_meeting_count() == 1);
            if alone {
                self.inputs
                    .push_back((slot, FlowInput::MeetingEvent(MeetingNotice::OnlyPerson)));
            }
        }
    }

    /// A keypad command of a caller in a meeting, through the meeting's rules.
    fn keypad_command(&mut self, slot: usize, action: Action, now: Instant) {
        let Some(member) = self
            .calls
            .get(slot)
            .and_then(Option::as_ref)
            .and_then(|c| c.member.clone())
        else {
            self.inputs
                .push_back((slot, FlowInput::MeetingEvent(MeetingNotice::NotAllowed)));
            return;
        };
        let Some(room) = self.rooms.get_mut(&member.conference_id) else {
            return;
        };
        let by = member.participant;
        // Mute and hand changes reach the caller through the meeting's events.
        let notice = match action {
            Action::AdmitAll => room.meeting.admit_all(by, now).map(|admitted| {
                Some(MeetingNotice::AdmittedAll {
                    count: admitted.len(),
                })
            }),
            Action::MuteAll => room
                .meeting
                .mute_all_except_organiser(by)
                .map(|_| Some(MeetingNotice::EveryoneMuted)),
            Action::ToggleAnnouncements => room
                .meeting
                .toggle_announcements(by)
                .map(|on| Some(MeetingNotice::AnnouncementsChanged { on })),
            Action::ToggleMute => room.meeting.toggle_mute(by).map(|_| None),
            Action::ToggleHand => room.meeting.toggle_hand(by).map(|_| None),
            _ => return,
        };
        match notice {
            Ok(Some(notice)) => self
                .inputs
                .push_back((slot, FlowInput::MeetingEvent(notice))),
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(error = %e, "keypad command refused");
                self.inputs
                    .push_back((slot, FlowInput::MeetingEvent(MeetingNotice::NotAllowed)));
            }
        }
        self.meeting_events(&member.conference_id, now);
    }

    /// Passes a room's meeting events on: to the mixer, the calls concerned and the
    /// live state.
    fn meeting_events(&mut self, conference_id: &ConferenceId, now: Instant) {
        let at_ms = self.unix_ms(now);
        loop {
            let Some(room) = self.rooms.get_mut(conference_id) else {
                return;
            };
            let Some(event) = room.meeting.poll_event() else {
                return;
            };
            match event {
                MeetingEvent::Started { .. } => {
                    tracing::info!(conference_id = %conference_id, "meeting started");
                    self.live(LiveUpdate::Meeting {
                        conference_id: conference_id.clone(),
                        started_at_ms: Some(at_ms),
                    });
                }
                MeetingEvent::Ended => {
                    tracing::info!(conference_id = %conference_id, "meeting ended");
                    self.live(LiveUpdate::Meeting {
                        conference_id: conference_id.clone(),
                        started_at_ms: None,
                    });
                }
                MeetingEvent::Joined { id } => {
                    if room.meeting.announcements_on() {
                        let others = in_meeting_except(room, id);
                        self.notify(others, MeetingNotice::ParticipantJoined);
                    }
                }
                MeetingEvent::WaitingInLobby { .. } => {}
                MeetingEvent::Admitted { id } => {
                    let Some(&slot) = room.members.get(&id) else {
                        continue;
                    };
                    let Some(call) = self.calls.get_mut(slot).and_then(Option::as_mut) else {
                        continue;
                    };
                    if let Some(member) = call.member.as_mut()
                        && member.mixer.is_none()
                    {
                        member.mixer = Some(room.mixer.add(call.media.codec));
                    }
                    let update = LiveUpdate::Participant {
                        conference_id: conference_id.clone(),
                        participant: id.0,
                        is_organiser: room.meeting.participant(id).is_some_and(|p| p.is_organiser),
                        kind: ParticipantKind::Phone,
                        placement: Placement::Meeting,
                        calling_number: call.calling_number.clone(),
                        joined_at_ms: at_ms,
                    };
                    self.live(update);
                    self.inputs.push_back((slot, FlowInput::Admitted));
                }
                MeetingEvent::Left { id } => {
                    let announce = room.meeting.announcements_on();
                    let others: Vec<usize> = room
                        .members
                        .iter()
                        .filter(|(p, _)| **p != id)
                        .map(|(_, s)| *s)
                        .collect();
                    self.live(LiveUpdate::ParticipantLeft {
                        conference_id: conference_id.clone(),
                        participant: id.0,
                    });
                    if announce {
                        self.notify(others, MeetingNotice::ParticipantLeft);
                    }
                }
                MeetingEvent::LobbyTimedOut { id } => {
                    let slot = room.members.remove(&id);
                    self.live(LiveUpdate::ParticipantLeft {
                        conference_id: conference_id.clone(),
                        participant: id.0,
                    });
                    if let Some(slot) = slot {
                        if let Some(call) = self.calls.get_mut(slot).and_then(Option::as_mut) {
                            // Released from the meeting: hanging up must not leave again.
                            call.member = None;
                        }
                        self.inputs.push_back((slot, FlowInput::LobbyTimedOut));
                    }
                }
                MeetingEvent::MuteChanged { id, muted } => {
                    if let Some(&slot) = room.members.get(&id) {
                        if let Some(mixer) = self
                            .calls
                            .get(slot)
                            .and_then(Option::as_ref)
                            .and_then(|c| c.member.as_ref())
                            .and_then(|m| m.mixer)
                        {
                            room.mixer.set_muted(mixer, muted);
                        }
                        self.inputs.push_back((
                            slot,
                            FlowInput::MeetingEvent(MeetingNotice::MuteChanged { muted }),
                        ));
                    }
                }
                MeetingEvent::HandChanged { id, raised } => {
                    if let Some(&slot) = room.members.get(&id) {
                        self.inputs.push_back((
                            slot,
                            FlowInput::MeetingEvent(MeetingNotice::HandChanged { raised }),
                        ));
                    }
                }
                MeetingEvent::AnnouncementsChanged { .. } => {}
            }
        }
    }

    fn notify(&mut self, slots: Vec<usize>, notice: MeetingNotice) {
        for slot in slots {
            self.inputs
                .push_back((slot, FlowInput::MeetingEvent(notice)));
        }
    }

    // ----- the 20 ms tick -----

    fn tick(&mut self, now: Instant) {
        let mut digits: Vec<(usize, char)> = Vec::new();
        let mut timed_out: Vec<usize> = Vec::new();
        // 1. What arrived: telephone-event ends, a frame from each heard call's jitter
        //    buffer, in-band keys, the RTP timeout.
        for (slot, entry) in self.calls.iter_mut().enumerate() {
            let Some(call) = entry.as_mut() else { continue };
            if call.answer_at.is_some() {
                continue;
            }
            call.events.handle_timeout(now);
            if call.listens() {
                let playout = call.jitter.pop(now);
                call.has_input = !matches!(playout.kind, PlayoutKind::Idle);
                call.input = playout.frame;
            } else {
                call.has_input = false;
            }
            if call.media.telephone_event.is_none() && call.has_input {
                if let Some(digit) = call.inband.process(&call.input) {
                    digits.push((slot, digit.as_char()));
                }
                if call.inband.suppress() {
                    call.input = SILENT_FRAME;
                }
            }
            if now.saturating_duration_since(call.last_rtp) >= self.config.rtp_timeout {
                timed_out.push(slot);
            }
        }
        for slot in timed_out {
            self.counters.rtp_timeouts += 1;
            tracing::info!(
                port = self.calls[slot].as_ref().map_or(0, |c| c.port),
                "no RTP within the RTP timeout; hanging up"
            );
            self.remove_call(slot, true, now);
        }
        for (slot, digit) in digits {
            self.inputs.push_back((slot, FlowInput::Digit(digit)));
        }
        // 2. Caller flows: keys, then due timers.
        for (slot, entry) in self.calls.iter().enumerate() {
            let due = entry
                .as_ref()
                .and_then(|c| c.flow.poll_timeout())
                .is_some_and(|at| at <= now);
            if due {
                self.inputs.push_back((slot, FlowInput::Timeout));
            }
        }
        self.drain_inputs(now);
        // 3. Rooms: lobby waits, then one mix each.
        let expired: Vec<ConferenceId> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.meeting.next_lobby_deadline().is_some_and(|at| at <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some(room) = self.rooms.get_mut(&id) {
                room.meeting.expire_lobby(now);
            }
            self.meeting_events(&id, now);
        }
        self.drain_inputs(now);
        for room in self.rooms.values_mut() {
            if room.mixer.is_empty() {
                continue;
            }
            for &slot in room.members.values() {
                let Some(call) = self.calls.get(slot).and_then(Option::as_ref) else {
                    continue;
                };
                if let (Some(id), true) =
                    (call.member.as_ref().and_then(|m| m.mixer), call.has_input)
                {
                    room.mixer.set_input(id, &call.input);
                }
            }
            room.mixer.mix();
        }
        self.music.tick();
        // 4. One packet per answered call: first everyone who hears a room's mix, room
        //    by room (no look-up of the room per call), then everyone else.
        let mut finished = Vec::new();
        let mut sink = Sink {
            arena: &mut self.arena,
            transmits: &mut self.transmits,
            counters: &mut self.counters,
            music: &self.music,
            silence: &self.silence,
            tick: self.ticks,
            now,
            since_epoch: self.unix_at_epoch + now.saturating_duration_since(self.epoch),
            finished: &mut finished,
        };
        for room in self.rooms.values() {
            for &slot in room.members.values() {
                let Some(call) = self.calls.get_mut(slot).and_then(Option::as_mut) else {
                    continue;
                };
                if let Some(id) = call.member.as_ref().and_then(|m| m.mixer) {
                    sink.send(slot, call, Some((&room.mixer, id)));
                }
            }
        }
        for (slot, entry) in self.calls.iter_mut().enumerate() {
            if let Some(call) = entry.as_mut()
                && call.sent_at_tick != self.ticks
                && call.answer_at.is_none()
            {
                sink.send(slot, call, None);
            }
        }
        self.ticks += 1;
        for (slot, prompt) in finished {
            self.inputs
                .push_back((slot, FlowInput::PromptFinished(prompt)));
        }
        self.drain_inputs(now);
    }
}

/// Where one tick's packets go: the byte arena and its index.
struct Sink<'a> {
    arena: &'a mut Vec<u8>,
    transmits: &'a mut Vec<Pending>,
    counters: &'a mut Counters,
    music: &'a MusicOnHold,
    silence: &'a [[u8; FRAME_SAMPLES]; 2],
    tick: u64,
    now: Instant,
    since_epoch: Duration,
    finished: &'a mut Vec<(usize, pinbridge_ivr::PromptId)>,
}

impl Sink<'_> {
    fn send(
        &mut self,
        slot: usize,
        call: &mut CallState,
        mix: Option<(&Mixer, pinbridge_media::ParticipantId)>,
    ) {
        call.sent_at_tick = self.tick;
        let mut packet = [0u8; MAX_PACKET];
        let (written, prompt) = call.build_frame(mix, self.music, self.silence, &mut packet);
        if let Some(prompt) = prompt {
            self.finished.push((slot, prompt));
        }
        if let (Some(len), Some(destination)) = (written, call.rtp_destination()) {
            self.push(slot, Channel::Rtp, destination, &packet[..len]);
        }
        if self.now >= call.next_rtcp {
            call.next_rtcp = self.now + RTCP_INTERVAL;
            if let Some((destination, bytes)) =
                call.build_rtcp(self.now, self.since_epoch, self.counters)
            {
                self.push(slot, Channel::Rtcp, destination, &bytes);
            }
        }
    }

    fn push(&mut self, slot: usize, channel: Channel, destination: SocketAddr, bytes: &[u8]) {
        let start = self.arena.len();
        self.arena.extend_from_slice(bytes);
        self.transmits.push(Pending {
            call: CallKey(slot),
            channel,
            destination,
            start,
            end: self.arena.len(),
        });
    }
}

/// The calls of a room's members in the meeting (not the lobby), but `except`.
fn in_meeting_except(room: &Room, except: ParticipantId) -> Vec<usize> {
    room.members
        .iter()
        .filter(|(p, _)| **p != except)
        .filter(|(p, _)| {
            room.meeting
                .participant(**p)
                .is_some_and(|p| p.placement == Placement::Meeting)
        })
        .map(|(_, s)| *s)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tones_are_short() {
        for tone in [Tone::Beep, Tone::Error] {
            let samples = ToneGenerator::new(tone_segments(tone)).render().len();
            assert!(samples > 0 && samples <= 8000, "{tone:?}: {samples}");
        }
    }
}
