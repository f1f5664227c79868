//! The media engine: one thread that owns every call's media state and every room, and
//! ticks them all every 20 ms.
//!
//! Calls are plain state in a slab, not tasks: each tick drains every call's RTP socket
//! (non-blocking), feeds digits and timeouts to its caller flow ([`pinbridge_ivr::Call`]),
//! runs each room's [`Meeting`] rules and [`Mixer`] once, ticks the one shared
//! [`MusicOnHold`], and sends one RTP packet per call. Nothing allocates per frame in
//! the steady state: packets are built in a stack buffer, the mixer and the music encode
//! their shared payloads once per codec, and only a call hearing a prompt over the mix
//! has a payload encoded for it alone.
//!
//! The engine never waits for the store: look-ups, PIN checks and live-state writes go
//! to the control task ([`crate::control`]) as [`ControlRequest`]s, and their answers
//! come back as [`EngineCommand`]s. Hang-ups go to the SIP task as [`SipCommand`]s.
//! Calls are told apart by our own RTP port (one socket per call), never by the remote
//! address, which many calls may share.

use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pinbridge_domain::meeting::{
    Joiner, Meeting, MeetingEvent, MeetingOptions, ParticipantId, ParticipantKind, Placement,
};
use pinbridge_domain::{ConferenceId, Pin, User};
use pinbridge_ivr::{
    Action, Call as Flow, ConferenceInfo, ConferenceLookup, Config as FlowConfig, Input,
    MeetingNotice, PromptId, Tone,
};
use pinbridge_media::jitter::PushOutcome;
use pinbridge_media::mixer::limit;
use pinbridge_media::rtcp;
use pinbridge_media::{
    Codec, FRAME_SAMPLES, Frame, InbandDetector, JitterBuffer, MixOutput, Mixer, MixerConfig,
    MusicOnHold, PlayerState, PlayoutKind, PromptPlayer, ReceiverStats, RtpPacket, RtpSender,
    SILENT_FRAME, TelephoneEventReceiver, ToneGenerator, ToneSegment,
};
use pinbridge_sip::CallHandle;
use pinbridge_udp::{self as udp, Readiness, RecvBatch};
use tokio::sync::mpsc::UnboundedSender;

use crate::assets::Assets;
use crate::metrics::{self, METRICS};
use crate::ports::PortAllocator;

/// The length of one media tick.
pub const TICK: Duration = Duration::from_millis(20);

/// The most batched reads of one socket in one tick (a flood cannot starve the rest).
const MAX_READS_PER_TICK: usize = 4;

/// How often the sockets of a caller nobody hears (the lobby, the caller flow with RFC
/// 4733 keys) are read, in ticks: 100 ms of packets in one batched read.
const UNHEARD_READ_TICKS: u64 = 5;

/// Commands (new calls, look-up answers, hang-ups) handled after every tick, whether
/// or not the engine is ahead of its schedule: a media path that is busy for a while
/// delays call set-up by at most a few ticks instead of starving it.
const MAX_COMMANDS_PER_TICK: usize = 256;

/// The largest RTP datagram built.
const MAX_DATAGRAM: usize = udp::MAX_DATAGRAM;

/// How often each call sends an RTCP sender report.
const RTCP_INTERVAL: Duration = Duration::from_secs(5);

/// The CNAME in our RTCP source descriptions.
const CNAME: &[u8] = b"pinbridge";

/// The limiter knee used when a prompt is laid over the mix.
const OVERLAY_KNEE: i16 = 24_576;

/// What the RTP side of a call uses, as negotiated in SDP.
#[derive(Debug, Clone, Copy)]
pub struct RemoteMedia {
    /// Where to send until the caller's RTP arrives; `None` when the caller is on hold.
    pub address: Option<SocketAddr>,
    /// The codec we send and expect.
    pub codec: Codec,
    /// Its payload type.
    pub payload_type: u8,
    /// The telephone-event payload type, if negotiated.
    pub telephone_event: Option<u8>,
}

/// A call answered by the SIP side, handed to the engine with its sockets.
#[derive(Debug)]
pub struct NewCall {
    /// The SIP call.
    pub handle: CallHandle,
    /// Our RTP socket (non-blocking), bound to `port`.
    pub rtp: UdpSocket,
    /// Our RTCP socket (non-blocking), bound to `port + 1`.
    pub rtcp: UdpSocket,
    /// Our RTP port, which identifies the call's media.
    pub port: u16,
    /// The negotiated media.
    pub media: RemoteMedia,
    /// The index of the prompt language ([`Assets::language_index`]).
    pub language: usize,
    /// The calling number, already masked.
    pub calling_number: Option<String>,
    /// The caller flow's settings.
    pub flow: FlowConfig,
    /// Random SSRC, sequence and timestamp seeds for our RTP stream.
    pub rtp_seed: (u32, u16, u32),
}

/// What a conference ID leads to, as the control task found it.
#[derive(Debug, Clone)]
pub struct MeetingRecord {
    /// The meeting's options, resolved from the store.
    pub options: MeetingOptions,
    /// The organiser, whose PIN starts the meeting by phone.
    pub organiser: User,
}

/// Commands to the engine.
#[derive(Debug)]
pub enum EngineCommand {
    /// A call was answered.
    NewCall(Box<NewCall>),
    /// The caller's ACK arrived: the caller flow begins.
    Confirmed(CallHandle),
    /// A key pressed, sent by SIP INFO.
    Digit(CallHandle, char),
    /// A re-INVITE changed the media.
    Remote(CallHandle, RemoteMedia),
    /// The SIP side ended the call (BYE from the caller, timeouts).
    Ended(CallHandle),
    /// The answer to [`ControlRequest::Lookup`].
    LookedUp(CallHandle, Option<Box<MeetingRecord>>),
    /// The answer to [`ControlRequest::VerifyPin`].
    PinChecked(CallHandle, bool),
    /// Stop: the SIP side has hung up every call.
    Shutdown,
}

/// Commands from the engine to the SIP task.
#[derive(Debug)]
pub enum SipCommand {
    /// Hang up (BYE).
    Hangup(CallHandle),
}

/// A change of live state, for the store.
#[derive(Debug, Clone)]
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

/// Requests from the engine to the control task.
#[derive(Debug)]
pub enum ControlRequest {
    /// Find the meeting of a conference ID.
    Lookup(CallHandle, ConferenceId),
    /// Check an organiser PIN (Argon2, off the media thread).
    VerifyPin {
        call: CallHandle,
        organiser: Box<User>,
        digits: Pin,
        calling_number: Option<String>,
    },
    /// Write live state.
    Live(LiveUpdate),
}

/// Where the engine sends what it cannot do itself.
pub struct EngineLinks {
    pub sip: UnboundedSender<SipCommand>,
    pub control: UnboundedSender<ControlRequest>,
    pub ports: Arc<Mutex<PortAllocator>>,
}

/// The engine's settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// A call with no RTP for this long is hung up.
    pub rtp_timeout: Duration,
}

/// The media side of one call.
struct CallSlot {
    handle: CallHandle,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    port: u16,
    media: RemoteMedia,
    /// Where the caller's RTP comes from (symmetric RTP), else the SDP address.
    send_to: Option<SocketAddr>,
    language: usize,
    calling_number: Option<String>,
    flow: Flow,
    answered: bool,
    jitter: JitterBuffer,
    events: TelephoneEventReceiver,
    inband: InbandDetector,
    stats: ReceiverStats,
    sender: RtpSender,
    prompt: PromptPlayer,
    /// The prompt whose end the caller flow waits for.
    prompt_id: Option<PromptId>,
    tone: ToneGenerator,
    music: bool,
    last_rtp: Instant,
    /// The RTP socket may hold datagrams not read yet.
    rtp_readable: bool,
    /// The RTCP socket may hold datagrams not read yet.
    rtcp_readable: bool,
    /// Where the caller's RTCP comes from, once it has arrived.
    rtcp_to: Option<SocketAddr>,
    next_rtcp: Instant,
    input: Frame,
    has_input: bool,
    /// The meeting this call reached, once looked up.
    record: Option<Box<MeetingRecord>>,
    /// The call's place in its room.
    member: Option<Member>,
    reported_lost: i64,
    /// The engine tick this call's last packet was sent in.
    sent_at_tick: u64,
}

impl CallSlot {
    /// Whether anything uses the caller's audio: the room's mixer once they are in the
    /// meeting, or in-band key detection when no telephone-event was negotiated. A caller
    /// in the lobby or the caller flow with RFC 4733 keys is heard by nobody, so their
    /// audio is not buffered (their packets still count for RTCP and the RTP timeout).
    fn listens(&self) -> bool {
        self.media.telephone_event.is_none()
            || self.member.as_ref().is_some_and(|m| m.mixer.is_some())
    }
}

/// A call's place in a room.
#[derive(Debug, Clone)]
struct Member {
    conference_id: ConferenceId,
    participant: ParticipantId,
    mixer: Option<pinbridge_media::ParticipantId>,
}

/// One meeting with callers: its rules and its mixer.
struct Room {
    meeting: Meeting,
    mixer: Mixer,
    /// Participant → slab index of its call.
    members: HashMap<ParticipantId, usize>,
    started_at_ms: Option<i64>,
}

/// The engine; see the module documentation.
pub struct Engine {
    config: EngineConfig,
    assets: Arc<Assets>,
    links: EngineLinks,
    readiness: Readiness,
    datagrams: RecvBatch,
    calls: Vec<Option<CallSlot>>,
    free: Vec<usize>,
    by_handle: HashMap<CallHandle, usize>,
    rooms: HashMap<ConferenceId, Room>,
    music: MusicOnHold,
    next_participant: u64,
    /// Ticks run so far.
    ticks: u64,
    /// Inputs for caller flows, handled in order (one flow's action may affect others).
    inputs: VecDeque<(usize, Input)>,
    silence: [[u8; FRAME_SAMPLES]; 2],
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
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

impl Engine {
    /// An engine with no calls; fails only when the system refuses a readiness set.
    pub fn new(
        config: EngineConfig,
        assets: Arc<Assets>,
        links: EngineLinks,
    ) -> std::io::Result<Self> {
        let music = MusicOnHold::new(assets.music());
        Ok(Self {
            config,
            assets,
            links,
            readiness: Readiness::new()?,
            datagrams: RecvBatch::default(),
            calls: Vec::new(),
            free: Vec::new(),
            by_handle: HashMap::new(),
            rooms: HashMap::new(),
            music,
            next_participant: 1,
            ticks: 0,
            inputs: VecDeque::new(),
            silence: [
                [Codec::Pcmu.silence_code(); FRAME_SAMPLES],
                [Codec::Pcma.silence_code(); FRAME_SAMPLES],
            ],
        })
    }

    /// Runs until [`EngineCommand::Shutdown`] or until every sender is gone: handles
    /// commands as they come and ticks every 20 ms.
    pub fn run(mut self, commands: Receiver<EngineCommand>) {
        let mut next_tick = Instant::now() + TICK;
        'run: loop {
            let now = Instant::now();
            if now >= next_tick {
                metrics::add(&METRICS.ticks, 1);
                if now >= next_tick + TICK {
                    metrics::add(&METRICS.late_ticks, 1);
                }
                self.tick(now);
                next_tick += TICK;
                if now > next_tick + 5 * TICK {
                    // A long stall (the machine was suspended): start afresh.
                    next_tick = now + TICK;
                }
                for _ in 0..MAX_COMMANDS_PER_TICK {
                    match commands.try_recv() {
                        Ok(EngineCommand::Shutdown) | Err(TryRecvError::Disconnected) => {
                            break 'run;
                        }
                        Ok(command) => self.command(command, Instant::now()),
                        Err(TryRecvError::Empty) => break,
                    }
                }
                continue;
            }
            match commands.recv_timeout(next_tick - now) {
                Ok(EngineCommand::Shutdown) => break,
                Ok(command) => self.command(command, Instant::now()),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let slots: Vec<usize> = self.by_handle.values().copied().collect();
        for slot in slots {
            self.remove_call(slot, false, Instant::now());
        }
        self.update_gauges();
    }

    fn command(&mut self, command: EngineCommand, now: Instant) {
        match command {
            EngineCommand::NewCall(call) => self.add_call(*call, now),
            EngineCommand::Confirmed(handle) => {
                if let Some(slot) = self.slot_of(handle)
                    && let Some(call) = self.calls[slot].as_mut()
                    && !call.answered
                {
                    call.answered = true;
                    self.inputs.push_back((slot, Input::CallAnswered));
                }
            }
            EngineCommand::Digit(handle, digit) => {
                if let Some(slot) = self.slot_of(handle) {
                    self.inputs.push_back((slot, Input::Digit(digit)));
                }
            }
            EngineCommand::Remote(handle, media) => {
                if let Some(call) = self.slot_of(handle).and_then(|s| self.calls[s].as_mut()) {
                    if call.media.codec != media.codec
                        && let (Some(member), Some(room)) = (
                            call.member.as_ref(),
                            call.member
                                .as_ref()
                                .and_then(|m| self.rooms.get_mut(&m.conference_id)),
                        )
                        && let Some(id) = member.mixer
                    {
                        room.mixer.set_codec(id, media.codec);
                    }
                    call.sender.set_payload_type(media.payload_type);
                    if media.address.is_some() && call.send_to.is_none() {
                        call.send_to = media.address;
                    }
                    call.media = media;
                }
            }
            EngineCommand::Ended(handle) => {
                if let Some(slot) = self.slot_of(handle) {
                    self.remove_call(slot, false, now);
                }
            }
            EngineCommand::LookedUp(handle, record) => {
                if let Some(slot) = self.slot_of(handle) {
                    let lookup = match &record {
                        None => ConferenceLookup::NotFound,
                        Some(record) => ConferenceLookup::Found(self.conference_info(record)),
                    };
                    if let Some(call) = self.calls[slot].as_mut() {
                        call.record = record;
                    }
                    self.inputs
                        .push_back((slot, Input::ConferenceLookup(lookup)));
                }
            }
            EngineCommand::PinChecked(handle, correct) => {
                if let Some(slot) = self.slot_of(handle) {
                    if !correct {
                        metrics::add(&METRICS.pin_failures, 1);
                    }
                    self.inputs.push_back((slot, Input::PinChecked(correct)));
                }
            }
            EngineCommand::Shutdown => {}
        }
        self.drain_inputs(now);
        self.update_gauges();
    }

    fn slot_of(&self, handle: CallHandle) -> Option<usize> {
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

    fn add_call(&mut self, new: NewCall, now: Instant) {
        let flow = match Flow::new(new.flow) {
            Ok(flow) => flow,
            Err(e) => {
                tracing::error!(error = %e, "caller flow settings are invalid; hanging up");
                let _ = self.links.sip.send(SipCommand::Hangup(new.handle));
                self.release_port(new.port);
                return;
            }
        };
        let (ssrc, sequence, timestamp) = new.rtp_seed;
        let call = CallSlot {
            handle: new.handle,
            rtp: new.rtp,
            rtcp: new.rtcp,
            port: new.port,
            send_to: new.media.address,
            media: new.media,
            language: new.language,
            calling_number: new.calling_number,
            flow,
            answered: false,
            jitter: JitterBuffer::default(),
            events: TelephoneEventReceiver::new(),
            inband: InbandDetector::new(Default::default()),
            stats: ReceiverStats::new(8000),
            sender: RtpSender::new(ssrc, new.media.payload_type, sequence, timestamp),
            prompt: PromptPlayer::new(),
            prompt_id: None,
            tone: ToneGenerator::new(Vec::new()),
            music: false,
            last_rtp: now,
            rtp_readable: true,
            rtcp_readable: true,
            rtcp_to: None,
            next_rtcp: now + RTCP_INTERVAL,
            input: SILENT_FRAME,
            has_input: false,
            record: None,
            member: None,
            reported_lost: 0,
            sent_at_tick: u64::MAX,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.calls[slot] = Some(call);
                slot
            }
            None => {
                self.calls.push(Some(call));
                self.calls.len() - 1
            }
        };
        self.by_handle.insert(new.handle, slot);
        if let Some(call) = self.calls[slot].as_ref() {
            let registered = self
                .readiness
                .register(&call.rtp, rtp_token(slot))
                .and_then(|()| self.readiness.register(&call.rtcp, rtcp_token(slot)));
            if let Err(e) = registered {
                tracing::error!(error = %e, "cannot watch the call's RTP sockets; hanging up");
                self.remove_call(slot, true, now);
                return;
            }
        }
        tracing::debug!(call = new.handle.value(), port = new.port, "media started");
    }

    fn release_port(&self, port: u16) {
        if let Ok(mut ports) = self.links.ports.lock() {
            ports.release(port);
        }
    }

    /// Ends a call's media: it leaves its room, its port is freed, and with `hang_up`
    /// the SIP side is told to send BYE.
    fn remove_call(&mut self, slot: usize, hang_up: bool, now: Instant) {
        let Some(mut call) = self.calls.get_mut(slot).and_then(Option::take) else {
            return;
        };
        self.free.push(slot);
        self.by_handle.remove(&call.handle);
        // Closing the sockets would also end the watch; saying so keeps it explicit.
        let _ = self.readiness.deregister(&call.rtp);
        let _ = self.readiness.deregister(&call.rtcp);
        self.inputs.retain(|(s, _)| *s != slot);
        report_loss(&mut call);
        if let Some(member) = &call.member {
            self.leave_room(member.clone(), now);
        }
        if hang_up {
            let _ = self.links.sip.send(SipCommand::Hangup(call.handle));
        }
        let port = call.port;
        drop(call);
        self.release_port(port);
        tracing::debug!(port, "media stopped");
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

    fn live(&self, update: LiveUpdate) {
        send_live(&self.links.control, update);
    }

    fn update_gauges(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        METRICS
            .active_calls
            .store(self.by_handle.len() as i64, Relaxed);
        let lobby: usize = self.rooms.values().map(|r| r.meeting.lobby().count()).sum();
        METRICS.lobby_calls.store(lobby as i64, Relaxed);
        let started = self
            .rooms
            .values()
            .filter(|r| r.meeting.is_started())
            .count();
        METRICS.active_meetings.store(started as i64, Relaxed);
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
        let assets = Arc::clone(&self.assets);
        let Some(call) = self.calls.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let prompts = assets.prompts_at(call.language);
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
            Action::StartMusicOnHold => call.music = true,
            Action::StopMusicOnHold => call.music = false,
            Action::LookupConference(id) => {
                let _ = self
                    .links
                    .control
                    .send(ControlRequest::Lookup(call.handle, id));
            }
            Action::VerifyPin { digits, .. } => match &call.record {
                Some(record) => {
                    let _ = self.links.control.send(ControlRequest::VerifyPin {
                        call: call.handle,
                        organiser: Box::new(record.organiser.clone()),
                        digits,
                        calling_number: call.calling_number.clone(),
                    });
                }
                None => self.inputs.push_back((slot, Input::PinChecked(false))),
            },
            // Names are not kept yet: the flow's own timer ends the recording.
            Action::RecordName { .. } | Action::StopRecording => {}
            Action::PlayTone(tone) => call.tone = ToneGenerator::new(tone_segments(tone)),
            Action::Join { as_organiser } => self.join(slot, as_organiser, now),
            Action::AdmitAll => self.organiser_command(slot, Action::AdmitAll, now),
            Action::MuteAll => self.organiser_command(slot, Action::MuteAll, now),
            Action::ToggleMute => self.organiser_command(slot, Action::ToggleMute, now),
            Action::ToggleHand => self.organiser_command(slot, Action::ToggleHand, now),
            Action::ToggleAnnouncements => {
                self.organiser_command(slot, Action::ToggleAnnouncements, now)
            }
            Action::Hangup { reason } => {
                tracing::info!(call = call.handle.value(), ?reason, "caller flow hangs up");
                self.remove_call(slot, true, now);
            }
        }
    }

    fn join(&mut self, slot: usize, as_organiser: bool, now: Instant) {
        let Some(call) = self.calls.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let Some(record) = call.record.as_ref() else {
            // The flow joins only after a look-up found the meeting.
            return;
        };
        let conference_id = record.options.conference_id.clone();
        let options = record.options.clone();
        let codec = call.media.codec;
        let calling_number = call.calling_number.clone();
        let participant = ParticipantId(self.next_participant);
        self.next_participant += 1;
        let room = self
            .rooms
            .entry(conference_id.clone())
            .or_insert_with(|| Room {
                meeting: Meeting::new(options),
                mixer: Mixer::new(MixerConfig::default()),
                members: HashMap::new(),
                started_at_ms: None,
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
        let mixer = (placement == Placement::Meeting).then(|| room.mixer.add(codec));
        call.member = Some(Member {
            conference_id: conference_id.clone(),
            participant,
            mixer,
        });
        let new_room = room.members.len() == 1;
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
            joined_at_ms: unix_ms(),
        });
        self.inputs.push_back((slot, Input::Joined(placement)));
        self.meeting_events(&conference_id, now);
        if placement == Placement::Meeting {
            let alone = self
                .rooms
                .get(&conference_id)
                .is_some_and(|r| r.meeting.in_meeting_count() == 1);
            if alone {
                self.inputs
                    .push_back((slot, Input::MeetingEvent(MeetingNotice::OnlyPerson)));
            }
        }
    }

    fn organiser_command(&mut self, slot: usize, action: Action, now: Instant) {
        let Some(member) = self
            .calls
            .get(slot)
            .and_then(Option::as_ref)
            .and_then(|c| c.member.clone())
        else {
            self.inputs
                .push_back((slot, Input::MeetingEvent(MeetingNotice::NotAllowed)));
            return;
        };
        let Some(room) = self.rooms.get_mut(&member.conference_id) else {
            return;
        };
        let by = member.participant;
        let notice = match action {
            Action::AdmitAll => {
                room.meeting
                    .admit_all(by, now)
                    .map(|admitted| MeetingNotice::AdmittedAll {
                        count: admitted.len(),
                    })
            }
            Action::MuteAll => room
                .meeting
                .mute_all_except_organiser(by)
                .map(|_| MeetingNotice::EveryoneMuted),
            Action::ToggleAnnouncements => room
                .meeting
                .toggle_announcements(by)
                .map(|on| MeetingNotice::AnnouncementsChanged { on }),
            // Mute and hand changes reach the caller through the meeting's events.
            Action::ToggleMute => room
                .meeting
                .toggle_mute(by)
                .map(|_| MeetingNotice::NotAllowed),
            Action::ToggleHand => room
                .meeting
                .toggle_hand(by)
                .map(|_| MeetingNotice::NotAllowed),
            _ => return,
        };
        match (action, notice) {
            (Action::ToggleMute | Action::ToggleHand, Ok(_)) => {}
            (_, Ok(notice)) => self.inputs.push_back((slot, Input::MeetingEvent(notice))),
            (_, Err(e)) => {
                tracing::debug!(error = %e, "keypad command refused");
                self.inputs
                    .push_back((slot, Input::MeetingEvent(MeetingNotice::NotAllowed)));
            }
        }
        self.meeting_events(&member.conference_id, now);
    }

    /// Passes a room's meeting events on: to the mixer, the calls concerned and the
    /// live state.
    fn meeting_events(&mut self, conference_id: &ConferenceId, _now: Instant) {
        loop {
            let Some(room) = self.rooms.get_mut(conference_id) else {
                return;
            };
            let Some(event) = room.meeting.poll_event() else {
                return;
            };
            let slot_of = |room: &Room, id: ParticipantId| room.members.get(&id).copied();
            match event {
                MeetingEvent::Started { .. } => {
                    let at = unix_ms();
                    room.started_at_ms = Some(at);
                    tracing::info!(conference_id = %conference_id, "meeting started");
                    send_live(
                        &self.links.control,
                        LiveUpdate::Meeting {
                            conference_id: conference_id.clone(),
                            started_at_ms: Some(at),
                        },
                    );
                }
                MeetingEvent::Ended => {
                    room.started_at_ms = None;
                    tracing::info!(conference_id = %conference_id, "meeting ended");
                    send_live(
                        &self.links.control,
                        LiveUpdate::Meeting {
                            conference_id: conference_id.clone(),
                            started_at_ms: None,
                        },
                    );
                }
                MeetingEvent::Joined { id } => {
                    let announce = room.meeting.announcements_on();
                    let others: Vec<usize> = room
                        .members
                        .iter()
                        .filter(|(p, _)| **p != id)
                        .filter(|(p, _)| {
                            room.meeting
                                .participant(**p)
                                .is_some_and(|p| p.placement == Placement::Meeting)
                        })
                        .map(|(_, s)| *s)
                        .collect();
                    if announce {
                        for other in others {
                            self.inputs.push_back((
                                other,
                                Input::MeetingEvent(MeetingNotice::ParticipantJoined),
                            ));
                        }
                    }
                }
                MeetingEvent::WaitingInLobby { .. } => {}
                MeetingEvent::Admitted { id } => {
                    let Some(slot) = slot_of(room, id) else {
                        continue;
                    };
                    if let Some(call) = self.calls.get_mut(slot).and_then(Option::as_mut) {
                        if let Some(member) = call.member.as_mut()
                            && member.mixer.is_none()
                        {
                            member.mixer = Some(room.mixer.add(call.media.codec));
                        }
                        let participant = room.meeting.participant(id);
                        send_live(
                            &self.links.control,
                            LiveUpdate::Participant {
                                conference_id: conference_id.clone(),
                                participant: id.0,
                                is_organiser: participant.is_some_and(|p| p.is_organiser),
                                kind: ParticipantKind::Phone,
                                placement: Placement::Meeting,
                                calling_number: call.calling_number.clone(),
                                joined_at_ms: unix_ms(),
                            },
                        );
                        self.inputs.push_back((slot, Input::Admitted));
                    }
                }
                MeetingEvent::Left { id } => {
                    let announce = room.meeting.announcements_on();
                    let others: Vec<usize> = room
                        .members
                        .iter()
                        .filter(|(p, _)| **p != id)
                        .map(|(_, s)| *s)
                        .collect();
                    send_live(
                        &self.links.control,
                        LiveUpdate::ParticipantLeft {
                            conference_id: conference_id.clone(),
                            participant: id.0,
                        },
                    );
                    if announce {
                        for other in others {
                            self.inputs.push_back((
                                other,
                                Input::MeetingEvent(MeetingNotice::ParticipantLeft),
                            ));
                        }
                    }
                }
                MeetingEvent::LobbyTimedOut { id } => {
                    let slot = room.members.remove(&id);
                    send_live(
                        &self.links.control,
                        LiveUpdate::ParticipantLeft {
                            conference_id: conference_id.clone(),
                            participant: id.0,
                        },
                    );
                    if let Some(slot) = slot {
                        if let Some(call) = self.calls.get_mut(slot).and_then(Option::as_mut) {
                            // Released from the meeting: hanging up must not leave again.
                            call.member = None;
                        }
                        self.inputs.push_back((slot, Input::LobbyTimedOut));
                    }
                }
                MeetingEvent::MuteChanged { id, muted } => {
                    if let Some(slot) = slot_of(room, id) {
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
                            Input::MeetingEvent(MeetingNotice::MuteChanged { muted }),
                        ));
                    }
                }
                MeetingEvent::HandChanged { id, raised } => {
                    if let Some(slot) = slot_of(room, id) {
                        self.inputs.push_back((
                            slot,
                            Input::MeetingEvent(MeetingNotice::HandChanged { raised }),
                        ));
                    }
                }
                MeetingEvent::AnnouncementsChanged { .. } => {}
            }
        }
    }

    // ----- the 20 ms tick -----

    fn tick(&mut self, now: Instant) {
        let mut buf = [0u8; MAX_DATAGRAM];
        let mut digits: Vec<(usize, char)> = Vec::new();
        let mut timed_out: Vec<usize> = Vec::new();
        // 1. Receive: what arrived on the sockets that became readable.
        let calls = &mut self.calls;
        let drained = self.readiness.drain(2 * self.by_handle.len(), |token| {
            if let Some(call) = calls.get_mut(token / 2).and_then(Option::as_mut) {
                if token % 2 == 0 {
                    call.rtp_readable = true;
                } else {
                    call.rtcp_readable = true;
                }
            }
        });
        if let Err(e) = drained {
            // Read every socket this tick rather than miss what arrived.
            tracing::warn!(error = %e, "socket readiness unavailable; reading every call");
            for call in self.calls.iter_mut().flatten() {
                call.rtp_readable = true;
                call.rtcp_readable = true;
            }
        }
        for (slot, entry) in self.calls.iter_mut().enumerate() {
            let Some(call) = entry.as_mut() else { continue };
            // Audio nobody hears is read in batches every few ticks (each call on its own
            // tick of the cycle): keys and the RTP timeout can wait that long.
            if call.listens() || (self.ticks + slot as u64).is_multiple_of(UNHEARD_READ_TICKS) {
                receive(call, &mut self.datagrams, now, slot, &mut digits);
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
            metrics::add(&METRICS.rtp_timeouts, 1);
            tracing::info!(
                port = self.calls[slot].as_ref().map_or(0, |c| c.port),
                "no RTP within the RTP timeout; hanging up"
            );
            self.remove_call(slot, true, now);
        }
        for (slot, digit) in digits {
            self.inputs.push_back((slot, Input::Digit(digit)));
        }
        // 2. Caller flows: keys, then due timers.
        for slot in 0..self.calls.len() {
            let due = self.calls[slot]
                .as_ref()
                .and_then(|c| c.flow.poll_timeout())
                .is_some_and(|at| at <= now);
            if due {
                self.inputs.push_back((slot, Input::Timeout));
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
        // 4. Send one packet per call: first everyone who hears a room's mix, room by
        // room (no look-up of the room per call), then everyone else.
        let mut finished: Vec<(usize, PromptId)> = Vec::new();
        let tick = self.ticks;
        let mut send = |slot: usize, call: &mut CallSlot, mix| {
            call.sent_at_tick = tick;
            if let Some(prompt) = send_frame(call, mix, &self.music, &self.silence, &mut buf) {
                finished.push((slot, prompt));
            }
            if now >= call.next_rtcp {
                call.next_rtcp = now + RTCP_INTERVAL;
                send_rtcp(call, now);
            }
        };
        for room in self.rooms.values() {
            for &slot in room.members.values() {
                let Some(call) = self.calls.get_mut(slot).and_then(Option::as_mut) else {
                    continue;
                };
                if let Some(id) = call.member.as_ref().and_then(|m| m.mixer) {
                    send(slot, call, Some((room, id)));
                }
            }
        }
        for (slot, entry) in self.calls.iter_mut().enumerate() {
            if let Some(call) = entry.as_mut()
                && call.sent_at_tick != tick
            {
                send(slot, call, None);
            }
        }
        self.ticks += 1;
        for (slot, prompt) in finished {
            self.inputs.push_back((slot, Input::PromptFinished(prompt)));
        }
        self.drain_inputs(now);
        self.update_gauges();
    }
}

fn send_live(control: &UnboundedSender<ControlRequest>, update: LiveUpdate) {
    let _ = control.send(ControlRequest::Live(update));
}

/// Reads what arrived on a call's sockets since the last tick.
fn receive(
    call: &mut CallSlot,
    datagrams: &mut RecvBatch,
    now: Instant,
    slot: usize,
    digits: &mut Vec<(usize, char)>,
) {
    for _ in 0..MAX_READS_PER_TICK {
        if !call.rtp_readable || !read_batch(&call.rtp, datagrams, &mut call.rtp_readable) {
            break;
        }
        for (bytes, source) in datagrams.iter() {
            let Ok(packet) = RtpPacket::parse(bytes) else {
                continue;
            };
            metrics::add(&METRICS.rtp_packets_received, 1);
            call.last_rtp = now;
            // Symmetric RTP: answer where the caller's media comes from.
            call.send_to = Some(source);
            if Some(packet.payload_type) == call.media.telephone_event {
                call.stats.record_event(&packet);
                if let Ok(Some(digit)) = call.events.push(&packet, now) {
                    digits.push((slot, digit.as_char()));
                }
                continue;
            }
            call.stats.record(&packet, now);
            if call.listens() && call.jitter.push(&packet, now) == PushOutcome::Late {
                metrics::add(&METRICS.rtp_packets_late, 1);
            }
        }
    }
    // RTCP: the caller's sender reports feed the round-trip fields of ours.
    for _ in 0..MAX_READS_PER_TICK {
        if !call.rtcp_readable || !read_batch(&call.rtcp, datagrams, &mut call.rtcp_readable) {
            break;
        }
        for (bytes, source) in datagrams.iter() {
            let Ok(packets) = rtcp::parse_compound(bytes) else {
                continue;
            };
            call.rtcp_to = Some(source);
            for packet in packets {
                if let rtcp::RtcpPacket::SenderReport(report) = packet {
                    call.stats
                        .record_sender_report(report.ntp_time.middle_32(), now);
                }
            }
        }
    }
}

/// One batched read of `socket`; false when nothing was taken. `readable` stays set
/// while the socket may hold more (a full batch).
fn read_batch(socket: &UdpSocket, datagrams: &mut RecvBatch, readable: &mut bool) -> bool {
    match datagrams.receive(socket) {
        Ok(taken) => {
            *readable = taken == udp::BATCH;
            taken > 0
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => {
            *readable = false;
            false
        }
        // ICMP errors surface here on some systems; they concern earlier sends, and
        // the datagrams behind them are read on the next tick.
        Err(_) => false,
    }
}

/// The readiness token of a call slot's RTP socket.
fn rtp_token(slot: usize) -> usize {
    2 * slot
}

/// The readiness token of a call slot's RTCP socket.
fn rtcp_token(slot: usize) -> usize {
    2 * slot + 1
}

/// Adds what the call lost since the last time to `pinbridge_rtp_packets_lost_total`
/// (at each RTCP report and at the call's end, so the counter follows a live load).
fn report_loss(call: &mut CallSlot) {
    let lost = call.stats.cumulative_lost();
    if lost > call.reported_lost {
        metrics::add(
            &METRICS.rtp_packets_lost,
            (lost - call.reported_lost) as u64,
        );
        call.reported_lost = lost;
    }
}

/// Sends a sender report about our stream, with a reception report about the caller's,
/// to where the caller's RTCP comes from (else the RTP address's port + 1).
fn send_rtcp(call: &mut CallSlot, now: Instant) {
    report_loss(call);
    let Some(destination) = call.rtcp_to.or_else(|| {
        call.send_to
            .map(|a| SocketAddr::new(a.ip(), a.port().wrapping_add(1)))
    }) else {
        return;
    };
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let report = rtcp::SenderReport {
        ssrc: call.sender.ssrc(),
        ntp_time: rtcp::NtpTime::from_unix(since_epoch),
        rtp_timestamp: call.sender.last_timestamp(),
        packet_count: call.sender.packets_sent(),
        octet_count: call.sender.octets_sent(),
        reports: call.stats.report(now).into_iter().collect(),
    };
    let mut builder = rtcp::CompoundBuilder::new();
    let built = builder
        .sender_report(&report)
        .and_then(|b| b.source_description(&[(call.sender.ssrc(), CNAME)]))
        .map(|_| ());
    if built.is_ok()
        && let Ok(bytes) = builder.finish()
    {
        let _ = call.rtcp.send_to(&bytes, destination);
    }
}

/// Builds and sends this tick's packet for one call; returns the prompt that ended.
fn send_frame(
    call: &mut CallSlot,
    mix: Option<(&Room, pinbridge_media::ParticipantId)>,
    music: &MusicOnHold,
    silence: &[[u8; FRAME_SAMPLES]; 2],
    buf: &mut [u8; MAX_DATAGRAM],
) -> Option<PromptId> {
    let codec = call.media.codec;
    let mut prompt_pcm = SILENT_FRAME;
    let mut finished = None;
    let mut voiced = false;
    if call.prompt.is_playing() || call.prompt_id.is_some() {
        match call.prompt.next_frame(&mut prompt_pcm) {
            PlayerState::Playing => voiced = true,
            PlayerState::Done => finished = call.prompt_id.take(),
        }
    }
    if call.tone.is_playing() {
        let mut tone = SILENT_FRAME;
        if call.tone.next_frame(&mut tone) == PlayerState::Playing {
            for (p, t) in prompt_pcm.iter_mut().zip(tone.iter()) {
                *p = p.saturating_add(*t);
            }
            voiced = true;
        }
    }
    let mut own = [0u8; FRAME_SAMPLES];
    let payload: &[u8] = match (mix, voiced) {
        (Some((room, id)), false) => match room.mixer.output(id) {
            Some(MixOutput::Shared { payload, .. }) | Some(MixOutput::Own { payload }) => payload,
            None => &silence[codec.index()],
        },
        (Some((room, id)), true) => {
            let heard = room.mixer.output_pcm(id).unwrap_or(&SILENT_FRAME);
            let mut pcm = SILENT_FRAME;
            for ((out, &m), &p) in pcm.iter_mut().zip(heard.iter()).zip(prompt_pcm.iter()) {
                *out = limit(m as i32 + p as i32, OVERLAY_KNEE);
            }
            codec.encode(&pcm, &mut own);
            &own
        }
        (None, true) => {
            codec.encode(&prompt_pcm, &mut own);
            &own
        }
        (None, false) if call.music => music.payload(codec),
        (None, false) => &silence[codec.index()],
    };
    if let Some(destination) = call.send_to {
        match call.sender.write_packet(payload, FRAME_SAMPLES as u32, buf) {
            Ok(len) => match call.rtp.send_to(&buf[..len], destination) {
                Ok(_) => metrics::add(&METRICS.rtp_packets_sent, 1),
                Err(_) => metrics::add(&METRICS.rtp_send_failures, 1),
            },
            Err(_) => metrics::add(&METRICS.rtp_send_failures, 1),
        }
    }
    finished
}

/// Runs the engine on its own thread.
pub fn spawn(
    engine: Engine,
    commands: Receiver<EngineCommand>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("pinbridge-media".into())
        .spawn(move || engine.run(commands))
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
