//! The native load generator: thousands of callers from one thread on one core.
//!
//! Each caller is a plain SIP UAC over UDP (messages built and parsed with
//! `pinbridge-sip`, the SDP offer and the reading of the answer with its `sdp` module)
//! and one RTP stream (packets written with `pinbridge-media`'s [`RtpPacket`] and [`TelephoneEvent`]): G.711
//! µ-law speech every 20 ms for the whole call, the conference ID and `#` as RFC 4733
//! events in its place while the keys are pressed, and the received audio measured
//! while the harness says the window is open.
//!
//! The callers share a few RTP sockets (an even port for RTP, the odd one above for
//! RTCP, which is drained and dropped). pinbridge sends each call's RTP back to where it
//! comes from, from the call's own RTP port, so a received datagram belongs to the call
//! whose pinbridge port it comes from. One event loop ticks every 20 ms: it starts the
//! calls that are due, runs the SIP timers and sends one packet per caller, batched per
//! socket with `sendmmsg`, after draining every RTP and RTCP socket with `recvmmsg`;
//! between ticks it waits in `ppoll` for SIP only: nobody waits on the RTP sockets, so
//! pinbridge's sends never pay for waking the generator up (SIPp never reads its RTP).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pinbridge_media::{RtpPacket, TelephoneEvent};
use pinbridge_sip::sdp::{self, MediaConfig};
use pinbridge_sip::{Headers, Message, Method, Request, Response, SessionDescription, Uri};
use pinbridge_udp::{RecvBatch, SendBatch};

use crate::Error;
use crate::audio::{EnergyTable, Heard};

/// One 20 ms frame.
pub const TICK: Duration = Duration::from_millis(20);
/// Samples per frame at 8 kHz.
const FRAME: usize = 160;
/// How long a key is held and the pause after it, in ticks (160 ms + 240 ms).
const KEY_TICKS: u32 = 8;
const KEY_END_TICKS: u32 = 3;
const KEY_SLOT_TICKS: u32 = 20;
/// RFC 3261 T1 and the transaction timeout (64 × T1).
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(32);
/// Datagrams per `recvmmsg` / `sendmmsg`.
const BATCH: usize = 64;
/// The socket buffers asked for, each way: a burst of a whole tick fits.
const SOCKET_BUFFER: usize = 8 << 20;
/// The telephone-event payload type offered.
const TELEPHONE_EVENT: u8 = 101;

/// One caller's plan.
#[derive(Debug, Clone)]
pub struct CallPlan {
    /// The keys typed after the answer: the conference ID (then `#`).
    pub conference_id: String,
    /// When the INVITE goes out, from the generator's start.
    pub start: Duration,
    /// When the keys start, from the answer.
    pub keys_after: Duration,
    /// When the caller hangs up, from the answer; `None`: when the harness says so
    /// ([`Shared::hang_up`]).
    pub hang_up_after: Option<Duration>,
}

/// What the generator needs.
#[derive(Debug, Clone)]
pub struct NativeConfig {
    /// pinbridge's SIP UDP address.
    pub target: SocketAddr,
    /// The number dialled.
    pub service: String,
    pub plans: Vec<CallPlan>,
    /// How many RTP sockets the callers share.
    pub rtp_sockets: usize,
    /// The first of the even ports the RTP sockets bind (RTCP on the odd one above).
    pub rtp_base: u16,
    /// The speech every caller sends, µ-law, whole frames.
    pub speech: Arc<Vec<u8>>,
    /// Calls hung up per second once the harness says so.
    pub hang_up_rate: f64,
}

/// Between the generator thread and the harness.
#[derive(Debug, Default)]
pub struct Shared {
    /// Received audio is measured while this is set.
    pub window: AtomicBool,
    /// Hang up the calls that wait for it, at [`NativeConfig::hang_up_rate`].
    pub hang_up: AtomicBool,
    /// Hang every call up now and stop.
    pub abort: AtomicBool,
    /// The generator thread's ID, to read its CPU time.
    pub tid: AtomicU64,
    pub invited: AtomicUsize,
    pub answered: AtomicUsize,
    /// Calls that typed their keys.
    pub keyed: AtomicUsize,
    /// Calls that ended, whatever the outcome.
    pub ended: AtomicUsize,
    /// RTP packets sent and received while the window was open.
    pub sent_in_window: AtomicU64,
    pub received_in_window: AtomicU64,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered, stayed its time, and its BYE was answered with 200.
    Completed,
    /// A final response other than 2xx to the INVITE.
    Refused(u16),
    /// No final response to the INVITE within the transaction timeout.
    NoAnswer,
    /// pinbridge sent BYE before the caller hung up.
    HungUpEarly,
    /// The answer's SDP could not be used.
    BadAnswer,
    /// The caller's BYE got a final response other than 200.
    ByeRefused(u16),
    /// The caller's BYE got no response within the transaction timeout.
    ByeUnanswered,
    /// Still in progress when the harness stopped the generator.
    Aborted,
}

impl Outcome {
    pub fn is_failure(self) -> bool {
        self != Outcome::Completed
    }

    pub fn name(self) -> String {
        match self {
            Outcome::Completed => "completed".into(),
            Outcome::Refused(code) => format!("refused {code}"),
            Outcome::NoAnswer => "no answer".into(),
            Outcome::HungUpEarly => "hung up early by pinbridge".into(),
            Outcome::BadAnswer => "unusable SDP answer".into(),
            Outcome::ByeRefused(code) => format!("BYE refused {code}"),
            Outcome::ByeUnanswered => "BYE unanswered".into(),
            Outcome::Aborted => "aborted".into(),
        }
    }
}

/// One caller, as the generator saw it.
#[derive(Debug, Clone)]
pub struct CallReport {
    pub conference_id: String,
    pub outcome: Outcome,
    /// pinbridge's RTP port for the call.
    pub pinbridge_port: Option<u16>,
    /// From the INVITE to the 200 OK.
    pub answer_time: Option<Duration>,
    /// Audio received while the window was open.
    pub heard: Heard,
    /// RTP packets received over the whole call.
    pub received: u64,
    /// RTP packets sent over the whole call.
    pub sent: u64,
}

/// What the generator did.
#[derive(Debug, Clone, Default)]
pub struct NativeReport {
    pub calls: Vec<CallReport>,
    /// 20 ms ticks run, and how many started more than one tick late.
    pub ticks: u64,
    pub late_ticks: u64,
    /// The same while the window was open.
    pub ticks_in_window: u64,
    pub late_ticks_in_window: u64,
    /// The longest a tick started after its time, over the run and in the window.
    pub max_tick_lag: Duration,
    pub max_tick_lag_in_window: Duration,
    pub rtp_send_failures: u64,
    pub rtcp_received: u64,
    pub sip_retransmissions: u64,
    /// Datagrams that reached no known call (late packets of ended calls, strays).
    pub unmatched: u64,
    /// The generator thread's CPU time when it ended, user and system, in clock ticks.
    pub cpu_ticks_at_end: (u64, u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Inviting,
    Talking,
    Hanging,
    Done,
}

struct Call {
    plan: CallPlan,
    state: State,
    call_id: String,
    tag: String,
    invite: Vec<u8>,
    media: MediaConfig,
    invited_at: Option<Instant>,
    provisional: bool,
    retransmit_at: Instant,
    retransmit_every: Duration,
    deadline: Instant,
    answered_at: Option<Instant>,
    hang_up_at: Option<Instant>,
    answer_time: Option<Duration>,
    /// The 200's To (with pinbridge's tag) and Contact.
    to: String,
    remote_target: String,
    ack: Vec<u8>,
    bye: Vec<u8>,
    rtp_to: Option<SocketAddrV4>,
    pinbridge_port: Option<u16>,
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    marker: bool,
    event_pt: Option<u8>,
    speech_at: usize,
    key_tick: Option<u32>,
    key_timestamp: u32,
    keys: Vec<u8>,
    keyed: bool,
    heard: Heard,
    last_sequence: Option<u16>,
    received: u64,
    sent: u64,
    outcome: Option<Outcome>,
}

struct RtpSocket {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    /// The calls that send from this socket.
    calls: Vec<usize>,
}

/// Runs the generator until every call has ended (or `shared.abort` and a bounded wait).
pub fn run(config: NativeConfig, shared: Arc<Shared>) -> Result<NativeReport, Error> {
    let mut generator = Generator::new(config, shared)?;
    generator.run();
    Ok(generator.report())
}

struct Generator {
    config: NativeConfig,
    shared: Arc<Shared>,
    sip: UdpSocket,
    local: SocketAddrV4,
    sockets: Vec<RtpSocket>,
    calls: Vec<Call>,
    /// pinbridge RTP port → call index (`u32::MAX`: none).
    by_port: Vec<u32>,
    next_call: usize,
    hanging_up: bool,
    energy: EnergyTable,
    recv: RecvBatch,
    send: SendBatch,
    sip_buf: Vec<u8>,
    report: NativeReport,
    open: usize,
}

fn local_v4(addr: SocketAddr) -> SocketAddrV4 {
    match addr {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(a) => SocketAddrV4::new(Ipv4Addr::LOCALHOST, a.port()),
    }
}

impl Generator {
    fn new(config: NativeConfig, shared: Arc<Shared>) -> Result<Generator, Error> {
        let io = |what: &str, e: std::io::Error| Error::new(format!("{what}: {e}"));
        let sip = UdpSocket::bind("127.0.0.1:0").map_err(|e| io("bind the SIP socket", e))?;
        sip.set_nonblocking(true)
            .map_err(|e| io("non-blocking SIP socket", e))?;
        let local = local_v4(sip.local_addr().map_err(|e| io("SIP address", e))?);
        let mut sockets = Vec::new();
        for i in 0..config.rtp_sockets.max(1) {
            let port = config.rtp_base + 2 * i as u16;
            let rtp = UdpSocket::bind(("127.0.0.1", port))
                .map_err(|e| io(&format!("bind RTP port {port}"), e))?;
            let rtcp = UdpSocket::bind(("127.0.0.1", port + 1))
                .map_err(|e| io(&format!("bind RTCP port {}", port + 1), e))?;
            for s in [&rtp, &rtcp] {
                s.set_nonblocking(true)
                    .map_err(|e| io("non-blocking RTP socket", e))?;
                pinbridge_udp::grow_buffers(s, SOCKET_BUFFER);
            }
            sockets.push(RtpSocket {
                rtp,
                rtcp,
                calls: Vec::new(),
            });
        }
        let nonce = std::process::id();
        let now = Instant::now();
        let mut calls = Vec::with_capacity(config.plans.len());
        for (i, plan) in config.plans.iter().enumerate() {
            let socket = i % sockets.len();
            sockets[socket].calls.push(i);
            let rtp_port = config.rtp_base + 2 * socket as u16;
            let mut media =
                MediaConfig::new(IpAddr::V4(Ipv4Addr::LOCALHOST), rtp_port, i as u64 + 1);
            media.codecs = vec![sdp::Codec::Pcmu];
            media.telephone_event_payload_type = TELEPHONE_EVENT;
            let seed = (i as u32).wrapping_mul(2_654_435_761) ^ nonce;
            let mut keys: Vec<u8> = plan
                .conference_id
                .bytes()
                .filter(u8::is_ascii_digit)
                .map(|d| d - b'0')
                .collect();
            keys.push(11); // '#'
            calls.push(Call {
                plan: plan.clone(),
                state: State::Pending,
                call_id: format!("load-{nonce}-{i}@127.0.0.1"),
                tag: format!("{seed:08x}"),
                invite: Vec::new(),
                media,
                invited_at: None,
                provisional: false,
                retransmit_at: now,
                retransmit_every: T1,
                deadline: now,
                answered_at: None,
                hang_up_at: None,
                answer_time: None,
                to: String::new(),
                remote_target: String::new(),
                ack: Vec::new(),
                bye: Vec::new(),
                rtp_to: None,
                pinbridge_port: None,
                ssrc: seed,
                sequence: seed as u16,
                timestamp: seed.rotate_left(7),
                marker: true,
                event_pt: None,
                // From the start of the speech at the answer, as SIPp's rtp_stream does:
                // what the room hears (how many talk at once) is then the same with
                // both generators for the same ramp rate.
                speech_at: 0,
                key_tick: None,
                key_timestamp: 0,
                keys,
                keyed: false,
                heard: Heard::default(),
                last_sequence: None,
                received: 0,
                sent: 0,
                outcome: None,
            });
        }
        let open = calls.len();
        Ok(Generator {
            config,
            shared,
            sip,
            local,
            sockets,
            calls,
            by_port: vec![u32::MAX; 65_536],
            next_call: 0,
            hanging_up: false,
            energy: EnergyTable::default(),
            recv: RecvBatch::new(BATCH),
            send: SendBatch::new(BATCH),
            sip_buf: vec![0u8; 65_535],
            report: NativeReport::default(),
            open,
        })
    }

    fn run(&mut self) {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        self.shared.tid.store(tid as u64, Ordering::Relaxed);
        let start = Instant::now();
        let mut next_tick = start;
        let mut abort_deadline: Option<Instant> = None;
        let mut pollfds = self.pollfds();
        loop {
            let now = Instant::now();
            if now >= next_tick {
                let lag = now - next_tick;
                let late = u64::from(lag >= TICK);
                let r = &mut self.report;
                r.max_tick_lag = r.max_tick_lag.max(lag);
                r.late_ticks += late;
                r.ticks += 1;
                if self.shared.window.load(Ordering::Relaxed) {
                    r.max_tick_lag_in_window = r.max_tick_lag_in_window.max(lag);
                    r.late_ticks_in_window += late;
                    r.ticks_in_window += 1;
                }
                if self.shared.abort.load(Ordering::Relaxed) && abort_deadline.is_none() {
                    abort_deadline = Some(now + Duration::from_secs(10));
                    self.hang_up_all(now);
                }
                self.receive_rtp();
                self.tick(start, now);
                next_tick += TICK;
                if now > next_tick + 5 * TICK {
                    // Far behind (the core is overloaded): start afresh rather than burst.
                    next_tick = now + TICK;
                }
            }
            self.receive_sip(now);
            if self.open == 0 || abort_deadline.is_some_and(|d| now >= d) {
                break;
            }
            let wait = next_tick.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                wait_readable(&mut pollfds, wait);
            }
        }
        for call in &mut self.calls {
            if call.outcome.is_none() {
                call.outcome = Some(Outcome::Aborted);
                call.state = State::Done;
            }
        }
        let ticks = crate::process::thread_cpu_ticks(tid as u64);
        self.report.cpu_ticks_at_end = (ticks.user, ticks.system);
    }

    /// Only the SIP socket wakes the loop between ticks. RTP is drained at each tick,
    /// as pinbridge's engine does: nobody waits on the RTP sockets, so pinbridge's sends
    /// never pay for waking the generator up (SIPp, which never reads its RTP, costs
    /// them nothing either).
    fn pollfds(&self) -> Vec<libc::pollfd> {
        vec![libc::pollfd {
            fd: self.sip.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }]
    }

    fn report(&mut self) -> NativeReport {
        let mut report = std::mem::take(&mut self.report);
        report.calls = self
            .calls
            .iter()
            .map(|c| CallReport {
                conference_id: c.plan.conference_id.clone(),
                outcome: c.outcome.unwrap_or(Outcome::Aborted),
                pinbridge_port: c.pinbridge_port,
                answer_time: c.answer_time,
                heard: c.heard,
                received: c.received,
                sent: c.sent,
            })
            .collect();
        report
    }

    // -----------------------------------------------------------------------------
    // Every 20 ms

    fn tick(&mut self, start: Instant, now: Instant) {
        let aborting = self.shared.abort.load(Ordering::Relaxed);
        while !aborting
            && self.next_call < self.calls.len()
            && start + self.calls[self.next_call].plan.start <= now
        {
            let i = self.next_call;
            self.next_call += 1;
            self.invite(i, now);
        }
        if !self.hanging_up && self.shared.hang_up.load(Ordering::Relaxed) {
            self.hanging_up = true;
            let every = Duration::from_secs_f64(1.0 / self.config.hang_up_rate.max(1.0));
            let mut at = now;
            for call in &mut self.calls {
                if call.plan.hang_up_after.is_none() && call.hang_up_at.is_none() {
                    call.hang_up_at = Some(at);
                    at += every;
                }
            }
        }
        for i in 0..self.calls.len() {
            self.timers(i, now);
        }
        let window = self.shared.window.load(Ordering::Relaxed);
        let mut sent_in_window = 0;
        for s in 0..self.sockets.len() {
            for k in 0..self.sockets[s].calls.len() {
                let i = self.sockets[s].calls[k];
                if self.calls[i].state != State::Talking {
                    continue;
                }
                if self.write_rtp(i) && window {
                    sent_in_window += 1;
                }
                if self.send.is_full() {
                    self.flush(s);
                }
            }
            if !self.send.is_empty() {
                self.flush(s);
            }
        }
        if sent_in_window > 0 {
            self.shared
                .sent_in_window
                .fetch_add(sent_in_window, Ordering::Relaxed);
        }
    }

    /// Sends the batch from RTP socket `s`.
    fn flush(&mut self, s: usize) {
        let (_, failed) = self.send.flush(&self.sockets[s].rtp);
        self.report.rtp_send_failures += failed;
    }

    /// Writes this tick's packet of call `i` into the send batch: a key event while a
    /// key is down (or just released), speech otherwise.
    fn write_rtp(&mut self, i: usize) -> bool {
        let speech = &self.config.speech;
        let call = &mut self.calls[i];
        let Some(to) = call.rtp_to else { return false };
        let timestamp = call.timestamp;
        call.timestamp = call.timestamp.wrapping_add(FRAME as u32);
        let mut event = None;
        if let Some(tick) = call.key_tick {
            let key = (tick / KEY_SLOT_TICKS) as usize;
            let within = tick % KEY_SLOT_TICKS;
            if key >= call.keys.len() {
                call.key_tick = None;
                if !call.keyed {
                    call.keyed = true;
                    self.shared.keyed.fetch_add(1, Ordering::Relaxed);
                }
            } else {
                call.key_tick = Some(tick + 1);
                if within == 0 {
                    call.key_timestamp = timestamp;
                }
                if within < KEY_TICKS + KEY_END_TICKS {
                    let duration = (within.min(KEY_TICKS - 1) + 1) * FRAME as u32;
                    event = Some(TelephoneEvent {
                        event: call.keys[key],
                        end: within >= KEY_TICKS,
                        volume: 10,
                        duration: duration as u16,
                    });
                }
            }
        }
        let event_bytes;
        let packet = match (event, call.event_pt) {
            (Some(ev), Some(pt)) => {
                event_bytes = ev.to_bytes();
                let mut p = RtpPacket::new(
                    pt,
                    call.sequence,
                    call.key_timestamp,
                    call.ssrc,
                    &event_bytes,
                );
                p.marker = ev.duration == FRAME as u16 && !ev.end;
                // The speech after the key starts a new talkspurt.
                call.marker = true;
                p
            }
            _ => {
                let frame = &speech[call.speech_at..call.speech_at + FRAME];
                call.speech_at = (call.speech_at + FRAME) % speech.len();
                let mut p = RtpPacket::new(0, call.sequence, timestamp, call.ssrc, frame);
                p.marker = std::mem::take(&mut call.marker);
                p
            }
        };
        let len = packet.write_to(self.send.next_buf()).unwrap_or(0);
        if len == 0 {
            return false;
        }
        call.sequence = call.sequence.wrapping_add(1);
        call.sent += 1;
        self.send.commit(len, to.into());
        true
    }

    fn timers(&mut self, i: usize, now: Instant) {
        enum Due {
            Nothing,
            Finish(Outcome),
            Resend(Vec<u8>),
            HangUp,
        }
        let call = &mut self.calls[i];
        let due = match call.state {
            State::Inviting | State::Hanging => {
                let waiting_final = call.state == State::Hanging || !call.provisional;
                if now >= call.deadline {
                    Due::Finish(if call.state == State::Inviting {
                        Outcome::NoAnswer
                    } else {
                        Outcome::ByeUnanswered
                    })
                } else if waiting_final && now >= call.retransmit_at {
                    call.retransmit_every = (call.retransmit_every * 2).min(T2);
                    call.retransmit_at = now + call.retransmit_every;
                    Due::Resend(if call.state == State::Inviting {
                        call.invite.clone()
                    } else {
                        call.bye.clone()
                    })
                } else {
                    Due::Nothing
                }
            }
            State::Talking => {
                let answered = call.answered_at.unwrap_or(now);
                if call.key_tick.is_none() && !call.keyed && now >= answered + call.plan.keys_after
                {
                    call.key_tick = Some(0);
                }
                let hang_up_at = call
                    .plan
                    .hang_up_after
                    .map(|after| answered + after)
                    .or(call.hang_up_at);
                if hang_up_at.is_some_and(|at| now >= at) {
                    Due::HangUp
                } else {
                    Due::Nothing
                }
            }
            State::Pending | State::Done => Due::Nothing,
        };
        match due {
            Due::Nothing => {}
            Due::Finish(outcome) => self.finish(i, outcome),
            Due::Resend(bytes) => {
                self.report.sip_retransmissions += 1;
                self.send_sip(&bytes);
            }
            Due::HangUp => self.hang_up(i, now),
        }
    }

    fn hang_up_all(&mut self, now: Instant) {
        for i in 0..self.calls.len() {
            match self.calls[i].state {
                State::Talking => {
                    self.calls[i].outcome = Some(Outcome::Aborted);
                    self.hang_up(i, now);
                }
                State::Pending => self.finish(i, Outcome::Aborted),
                _ => {}
            }
        }
    }

    fn finish(&mut self, i: usize, outcome: Outcome) {
        let call = &mut self.calls[i];
        if call.state == State::Done {
            return;
        }
        call.state = State::Done;
        // An outcome decided earlier (an unusable answer, an abort) stands.
        call.outcome.get_or_insert(outcome);
        if let Some(port) = call.pinbridge_port {
            // Late packets of this call then count as unmatched, not as another call's.
            if self.by_port[port as usize] == i as u32 {
                self.by_port[port as usize] = u32::MAX;
            }
        }
        self.open -= 1;
        self.shared.ended.fetch_add(1, Ordering::Relaxed);
    }

    // -----------------------------------------------------------------------------
    // SIP

    fn send_sip(&self, bytes: &[u8]) {
        let _ = self.sip.send_to(bytes, self.config.target);
    }

    fn via(&self, call: &Call, branch: &str) -> String {
        format!(
            "SIP/2.0/UDP {};branch=z9hG4bK-{}-{branch};rport",
            self.local,
            call.call_id.split('@').next().unwrap_or_default()
        )
    }

    fn from(&self, call: &Call, i: usize) -> String {
        format!(
            "<sip:+1555{:07}@{}>;tag={}",
            i % 10_000_000,
            self.local.ip(),
            call.tag
        )
    }

    fn invite(&mut self, i: usize, now: Instant) {
        let target = self.config.target;
        let call = &self.calls[i];
        let offer = sdp::offer(&call.media).to_bytes();
        let mut headers = Headers::new();
        headers.push("Via", self.via(call, "1"));
        headers.push("From", self.from(call, i));
        headers.push(
            "To",
            format!(
                "<sip:{}@{}:{}>",
                self.config.service,
                target.ip(),
                target.port()
            ),
        );
        headers.push("Call-ID", call.call_id.clone());
        headers.push("CSeq", "1 INVITE");
        headers.push("Contact", format!("<sip:load@{}>", self.local));
        headers.push("Max-Forwards", "70");
        headers.push("User-Agent", "pinbridge-load");
        headers.push("Content-Type", "application/sdp");
        let invite = Request {
            method: Method::Invite,
            uri: Uri::sip(
                Some(&self.config.service),
                target.ip().to_string(),
                Some(target.port()),
            ),
            headers,
            body: offer,
        }
        .to_bytes();
        self.send_sip(&invite);
        let call = &mut self.calls[i];
        call.invite = invite;
        call.state = State::Inviting;
        call.invited_at = Some(now);
        call.retransmit_every = T1;
        call.retransmit_at = now + T1;
        call.deadline = now + TRANSACTION_TIMEOUT;
        self.shared.invited.fetch_add(1, Ordering::Relaxed);
    }

    /// An in-dialog request of ours (ACK or BYE) to the 200's Contact.
    fn in_dialog(&self, i: usize, method: Method, cseq: u32, branch: &str) -> Vec<u8> {
        let call = &self.calls[i];
        let mut headers = Headers::new();
        headers.push("Via", self.via(call, branch));
        headers.push("From", self.from(call, i));
        headers.push("To", call.to.clone());
        headers.push("Call-ID", call.call_id.clone());
        headers.push("CSeq", format!("{cseq} {method}"));
        headers.push("Max-Forwards", "70");
        let uri = Uri::parse(&call.remote_target).unwrap_or_else(|_| {
            let t = self.config.target;
            Uri::sip(None, t.ip().to_string(), Some(t.port()))
        });
        Request {
            method,
            uri,
            headers,
            body: Vec::new(),
        }
        .to_bytes()
    }

    fn hang_up(&mut self, i: usize, now: Instant) {
        let bye = self.in_dialog(i, Method::Bye, 2, "bye");
        self.send_sip(&bye);
        let call = &mut self.calls[i];
        call.bye = bye;
        call.state = State::Hanging;
        call.retransmit_every = T1;
        call.retransmit_at = now + T1;
        call.deadline = now + TRANSACTION_TIMEOUT;
    }

    fn receive_sip(&mut self, now: Instant) {
        for _ in 0..10_000 {
            let (len, source) = match self.sip.recv_from(&mut self.sip_buf) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // An ICMP error of an earlier send; the next read goes on.
                Err(_) => continue,
            };
            let Ok(message) = Message::parse(&self.sip_buf[..len]) else {
                continue;
            };
            match message {
                Message::Response(r) => self.on_response(r, now),
                Message::Request(r) => self.on_request(r, source),
            }
        }
    }

    fn receive_rtp(&mut self) {
        let window = self.shared.window.load(Ordering::Relaxed);
        let mut received_in_window = 0;
        for s in 0..self.sockets.len() {
            loop {
                let n = self.recv.receive(&self.sockets[s].rtp).unwrap_or(0);
                for (bytes, from) in self.recv.iter() {
                    let slot = self.by_port[from.port() as usize];
                    let Some(call) = self.calls.get_mut(slot as usize) else {
                        self.report.unmatched += 1;
                        continue;
                    };
                    call.received += 1;
                    let Ok(packet) = RtpPacket::parse(bytes) else {
                        continue;
                    };
                    // Sequence numbers pinbridge skipped: packets lost on the way.
                    let gap = call
                        .last_sequence
                        .map_or(0, |last| packet.sequence_number.wrapping_sub(last));
                    call.last_sequence = Some(packet.sequence_number);
                    if window && (packet.payload_type == 0 || packet.payload_type == 8) {
                        if (2..1000).contains(&gap) {
                            call.heard.missing += u64::from(gap - 1);
                        }
                        call.heard
                            .add(&self.energy, packet.payload_type, packet.payload);
                        received_in_window += 1;
                    }
                }
                if n < BATCH {
                    break;
                }
            }
            loop {
                let n = self.recv.receive(&self.sockets[s].rtcp).unwrap_or(0);
                self.report.rtcp_received += n as u64;
                if n < BATCH {
                    break;
                }
            }
        }
        if received_in_window > 0 {
            self.shared
                .received_in_window
                .fetch_add(received_in_window, Ordering::Relaxed);
        }
    }

    fn call_of(&self, call_id: &str) -> Option<usize> {
        let i: usize = call_id
            .split('@')
            .next()?
            .rsplit('-')
            .next()?
            .parse()
            .ok()?;
        (self.calls.get(i)?.call_id == call_id).then_some(i)
    }

    fn on_response(&mut self, r: Response, now: Instant) {
        let (Ok(call_id), Ok(cseq)) = (r.headers.call_id(), r.headers.cseq()) else {
            return;
        };
        let Some(i) = self.call_of(call_id) else {
            return;
        };
        let state = self.calls[i].state;
        match (cseq.method, r.status) {
            (Method::Invite, 100..=199) if state == State::Inviting => {
                self.calls[i].provisional = true;
            }
            (Method::Invite, 200..=299) if state == State::Inviting => {
                self.answered(i, &r, now);
            }
            (Method::Invite, 200..=299) => {
                // A retransmitted 200: our ACK was lost or late.
                let ack = self.calls[i].ack.clone();
                if !ack.is_empty() {
                    self.send_sip(&ack);
                }
            }
            (Method::Invite, 300..) if state == State::Inviting => {
                let ack = self.ack_error(i, &r);
                self.send_sip(&ack);
                self.finish(i, Outcome::Refused(r.status));
            }
            (Method::Bye, 200..=299) if state == State::Hanging => {
                self.finish(i, Outcome::Completed);
            }
            (Method::Bye, 300..) if state == State::Hanging => {
                self.finish(i, Outcome::ByeRefused(r.status));
            }
            _ => {}
        }
    }

    fn answered(&mut self, i: usize, r: &Response, now: Instant) {
        let to = r.headers.first("To").unwrap_or_default().to_owned();
        let contact = r
            .headers
            .contacts()
            .ok()
            .and_then(|c| c.into_iter().next())
            .map(|c| c.uri.to_string())
            .unwrap_or_default();
        let negotiated = SessionDescription::parse(&r.body)
            .ok()
            .and_then(|answer| sdp::accept_answer(&answer, &self.calls[i].media).ok());
        {
            let call = &mut self.calls[i];
            call.to = to;
            call.remote_target = contact;
            call.answered_at = Some(now);
            call.answer_time = call.invited_at.map(|t| now - t);
        }
        let ack = self.in_dialog(i, Method::Ack, 1, "ack");
        self.send_sip(&ack);
        self.calls[i].ack = ack;
        self.shared.answered.fetch_add(1, Ordering::Relaxed);
        let Some(SocketAddr::V4(rtp)) = negotiated.as_ref().and_then(|n| n.remote_rtp) else {
            self.hang_up(i, now);
            self.calls[i].outcome = Some(Outcome::BadAnswer);
            return;
        };
        let call = &mut self.calls[i];
        call.event_pt = negotiated.and_then(|n| n.telephone_event);
        call.rtp_to = Some(rtp);
        call.pinbridge_port = Some(rtp.port());
        call.state = State::Talking;
        self.by_port[rtp.port() as usize] = i as u32;
    }

    /// The ACK of a non-2xx final response: same branch as the INVITE (RFC 3261 17.1.1.3).
    fn ack_error(&self, i: usize, r: &Response) -> Vec<u8> {
        let call = &self.calls[i];
        let target = self.config.target;
        let mut headers = Headers::new();
        headers.push("Via", self.via(call, "1"));
        headers.push("From", self.from(call, i));
        headers.push("To", r.headers.first("To").unwrap_or_default());
        headers.push("Call-ID", call.call_id.clone());
        headers.push("CSeq", "1 ACK");
        headers.push("Max-Forwards", "70");
        Request {
            method: Method::Ack,
            uri: Uri::sip(
                Some(&self.config.service),
                target.ip().to_string(),
                Some(target.port()),
            ),
            headers,
            body: Vec::new(),
        }
        .to_bytes()
    }

    fn on_request(&mut self, r: Request, source: SocketAddr) {
        if r.method == Method::Ack {
            return;
        }
        let mut headers = Headers::new();
        for via in r.headers.all("Via") {
            headers.push("Via", via);
        }
        for name in ["From", "To", "Call-ID", "CSeq"] {
            if let Some(value) = r.headers.first(name) {
                headers.push(name, value);
            }
        }
        let status = match r.method {
            Method::Bye | Method::Options | Method::Info | Method::Notify => 200,
            _ => 501,
        };
        let response = Response {
            status,
            reason: if status == 200 {
                "OK"
            } else {
                "Not Implemented"
            }
            .into(),
            headers,
            body: Vec::new(),
        };
        let _ = self.sip.send_to(&response.to_bytes(), source);
        if r.method == Method::Bye
            && let Some(i) = r.headers.call_id().ok().and_then(|c| self.call_of(c))
        {
            match self.calls[i].state {
                State::Talking | State::Inviting => self.finish(i, Outcome::HungUpEarly),
                // Both hung up at once: the call still did what it should.
                State::Hanging => self.finish(i, Outcome::Completed),
                State::Pending | State::Done => {}
            }
        }
    }
}

/// Waits until a socket is readable or `timeout` passes.
fn wait_readable(fds: &mut [libc::pollfd], timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: fds is a valid slice of pollfd; ts lives for the call; no signal mask.
    unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        );
    }
}
