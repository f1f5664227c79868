//! The media engine: one thread that runs the conference core ([`Bridge`]) with real
//! sockets and the real clock.
//!
//! It does I/O only: it keeps every call's RTP and RTCP sockets, watches them with one
//! readiness set, reads what arrived in batches when the core's tick is due (only the
//! sockets whose audio the coming tick uses, [`Bridge::reads_due`]), feeds the
//! datagrams, commands and deadlines to the core, and carries out its outputs: datagrams
//! sent, answers and hang-ups to the SIP task, requests to the control task, sockets
//! closed and ports freed. Every rule about calls, flows and meetings is the core's.
//!
//! Calls are told apart by our own RTP port (one socket pair per call), never by the
//! remote address, which many calls may share.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::UdpSocket;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use pinbridge_bridge::{
    Bridge, CallId, CallKey, Channel, Command, ControlRequest, Event, Input, Output, PinCheck,
};
use pinbridge_udp::{self as udp, Readiness, RecvBatch};
use tokio::sync::mpsc::Sender;
use tokio::sync::mpsc::error::TrySendError;

use crate::metrics::{self, METRICS};
use crate::ports::PortAllocator;

/// The most batched reads of one socket in one tick (a flood cannot starve the rest).
const MAX_READS_PER_TICK: usize = 4;

/// Commands (new calls, look-up answers, hang-ups) handled after every tick, whether
/// or not the engine is ahead of its schedule: a media path that is busy for a while
/// delays call set-up by at most a few ticks instead of starving it.
const MAX_COMMANDS_PER_TICK: usize = 256;

/// How many commands may wait for the engine; beyond it senders are refused (see
/// [`crate::sip`] for what each refusal means).
pub const ENGINE_QUEUE: usize = 8192;

/// A call the SIP side has taken, with its sockets.
#[derive(Debug)]
pub struct NewCall {
    /// The call, for the core.
    pub call: pinbridge_bridge::NewCall,
    /// Our RTP socket (non-blocking), bound to `call.port`.
    pub rtp: UdpSocket,
    /// Our RTCP socket (non-blocking), bound to `call.port + 1`.
    pub rtcp: UdpSocket,
}

/// Commands to the engine.
#[derive(Debug)]
pub enum EngineCommand {
    /// A call rings.
    NewCall(Box<NewCall>),
    /// A command for the core.
    Core(Command),
    /// Stop: the SIP side has hung up every call.
    Shutdown,
}

/// Commands from the engine to the SIP task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipCommand {
    /// Answer (200 OK with the SDP answer prepared when the call arrived).
    Answer(CallId),
    /// Hang up (BYE, or a refusal while the call still rings).
    Hangup(CallId),
}

/// Where the engine sends what it cannot do itself.
pub struct EngineLinks {
    pub sip: Sender<SipCommand>,
    pub control: Sender<ControlRequest>,
    pub ports: Arc<Mutex<PortAllocator>>,
}

/// A call's sockets.
struct Sockets {
    key: CallKey,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    port: u16,
    /// The RTP socket may hold datagrams not read yet.
    rtp_readable: bool,
    /// The RTCP socket may hold datagrams not read yet.
    rtcp_readable: bool,
}

/// The engine; see the module documentation.
pub struct Engine {
    bridge: Bridge,
    links: EngineLinks,
    readiness: Readiness,
    datagrams: RecvBatch,
    /// By [`CallKey::index`].
    sockets: Vec<Option<Sockets>>,
    deadline: Instant,
    /// SIP commands the SIP task's full queue refused, sent first next time.
    sip_backlog: VecDeque<SipCommand>,
}

/// The wall clock, as time since the Unix epoch.
fn unix_now() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl Engine {
    /// An engine with no calls; fails only when the system refuses a readiness set.
    pub fn new(bridge: Bridge, links: EngineLinks) -> std::io::Result<Self> {
        Ok(Self {
            bridge,
            links,
            readiness: Readiness::new()?,
            datagrams: RecvBatch::default(),
            sockets: Vec::new(),
            deadline: Instant::now(),
            sip_backlog: VecDeque::new(),
        })
    }

    /// A core for an engine starting now.
    pub fn core(
        config: pinbridge_bridge::Config,
        assets: Arc<pinbridge_bridge::Assets>,
        directory: pinbridge_bridge::Directory,
    ) -> Bridge {
        Bridge::new(config, assets, directory, Instant::now(), unix_now())
    }

    /// Runs until [`EngineCommand::Shutdown`] or until every sender is gone: handles
    /// commands as they come and wakes for the core's deadlines.
    pub fn run(mut self, commands: Receiver<EngineCommand>) {
        self.flush(Instant::now());
        'run: loop {
            let now = Instant::now();
            if now >= self.deadline {
                let ticking = self.bridge.tick_due(now);
                if ticking {
                    self.receive(now);
                }
                self.bridge.handle_input(now, Input::Timeout);
                self.flush(now);
                if ticking {
                    for _ in 0..MAX_COMMANDS_PER_TICK {
                        match commands.try_recv() {
                            Ok(EngineCommand::Shutdown) | Err(TryRecvError::Disconnected) => {
                                break 'run;
                            }
                            Ok(command) => self.command(command, Instant::now()),
                            Err(TryRecvError::Empty) => break,
                        }
                    }
                }
                continue;
            }
            match commands.recv_timeout(self.deadline - now) {
                Ok(EngineCommand::Shutdown) => break,
                Ok(command) => self.command(command, Instant::now()),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let now = Instant::now();
        self.bridge.shutdown(now);
        self.flush(now);
    }

    fn command(&mut self, command: EngineCommand, now: Instant) {
        match command {
            EngineCommand::NewCall(new) => {
                let NewCall { call, rtp, rtcp } = *new;
                let handle = call.handle;
                let port = call.port;
                let key = self.bridge.add_call(now, call);
                let index = key.index();
                if self.sockets.len() <= index {
                    self.sockets.resize_with(index + 1, || None);
                }
                let registered = self
                    .readiness
                    .register(&rtp, rtp_token(index))
                    .and_then(|()| self.readiness.register(&rtcp, rtcp_token(index)));
                self.sockets[index] = Some(Sockets {
                    key,
                    rtp,
                    rtcp,
                    port,
                    rtp_readable: true,
                    rtcp_readable: true,
                });
                if let Err(e) = registered {
                    tracing::error!(error = %e, "cannot watch the call's RTP sockets; refusing it");
                    self.bridge
                        .handle_input(now, Input::Command(Command::Ended(handle)));
                    self.sip(SipCommand::Hangup(handle));
                }
            }
            EngineCommand::Core(command) => self.bridge.handle_input(now, Input::Command(command)),
            EngineCommand::Shutdown => {}
        }
        self.flush(now);
    }

    /// Reads what arrived on the sockets the coming tick uses and feeds it to the core.
    fn receive(&mut self, now: Instant) {
        let sockets = &mut self.sockets;
        let watched = 2 * sockets.len();
        let drained = self.readiness.drain(watched, |token| {
            if let Some(call) = sockets.get_mut(token / 2).and_then(Option::as_mut) {
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
            for call in self.sockets.iter_mut().flatten() {
                call.rtp_readable = true;
                call.rtcp_readable = true;
            }
        }
        for entry in &mut self.sockets {
            let Some(call) = entry.as_mut() else { continue };
            if !self.bridge.reads_due(call.key) {
                continue;
            }
            for (socket, readable, channel) in [
                (&call.rtp, &mut call.rtp_readable, Channel::Rtp),
                (&call.rtcp, &mut call.rtcp_readable, Channel::Rtcp),
            ] {
                for _ in 0..MAX_READS_PER_TICK {
                    if !*readable || !read_batch(socket, &mut self.datagrams, readable) {
                        break;
                    }
                    for (bytes, source) in self.datagrams.iter() {
                        let input = Input::Datagram {
                            call: call.key,
                            channel,
                            source,
                            bytes,
                        };
                        self.bridge.handle_input(now, input);
                    }
                }
            }
        }
    }

    /// Carries out everything the core has to say, until its next deadline.
    fn flush(&mut self, now: Instant) {
        while let Some(command) = self.sip_backlog.pop_front() {
            if let Err(refused) = self.links.sip.try_send(command) {
                if let TrySendError::Full(command) = refused {
                    self.sip_backlog.push_front(command);
                }
                break;
            }
        }
        let mut busy = Vec::new();
        loop {
            match self.bridge.poll_output() {
                Output::Transmit(t) => {
                    let Some(call) = self.sockets.get(t.call.index()).and_then(Option::as_ref)
                    else {
                        continue;
                    };
                    let socket = match t.channel {
                        Channel::Rtp => &call.rtp,
                        Channel::Rtcp => &call.rtcp,
                    };
                    let sent = socket.send_to(t.payload, t.destination);
                    if t.channel == Channel::Rtp {
                        match sent {
                            Ok(_) => metrics::add(&METRICS.rtp_packets_sent, 1),
                            Err(_) => metrics::add(&METRICS.rtp_send_failures, 1),
                        }
                    }
                }
                Output::Event(Event::Answer(call)) => self.sip(SipCommand::Answer(call)),
                Output::Event(Event::Hangup(call)) => self.sip(SipCommand::Hangup(call)),
                Output::Event(Event::Control(request)) => {
                    if let Err(refused) = self.links.control.try_send(request) {
                        match refused.into_inner() {
                            // A PIN check nobody can take is refused at once.
                            ControlRequest::VerifyPin { call, .. } => busy.push(call),
                            // A look-up goes unanswered: the caller flow's reply timeout
                            // says goodbye. Live state catches up with the next change.
                            _ => metrics::add(&METRICS.control_queue_full, 1),
                        }
                    }
                }
                Output::Event(Event::Released { call, port }) => {
                    if let Some(sockets) = self.sockets.get_mut(call.index()).and_then(Option::take)
                    {
                        let _ = self.readiness.deregister(&sockets.rtp);
                        let _ = self.readiness.deregister(&sockets.rtcp);
                        debug_assert_eq!(sockets.port, port);
                    }
                    if let Ok(mut ports) = self.links.ports.lock() {
                        ports.release(port);
                    }
                }
                Output::Timeout(at) => {
                    self.deadline = at;
                    break;
                }
            }
        }
        if !busy.is_empty() {
            metrics::add(&METRICS.control_queue_full, busy.len() as u64);
            for call in busy {
                let command = Command::PinChecked(call, PinCheck::Busy);
                self.bridge.handle_input(now, Input::Command(command));
            }
            self.flush(now);
            return;
        }
        self.publish();
    }

    fn sip(&mut self, command: SipCommand) {
        if !self.sip_backlog.is_empty() {
            self.sip_backlog.push_back(command);
            return;
        }
        if let Err(TrySendError::Full(command)) = self.links.sip.try_send(command) {
            // Kept, not dropped: an answer or a BYE lost would leave a call hanging.
            // The backlog is bounded by the calls there are.
            self.sip_backlog.push_back(command);
        }
    }

    /// Adds the core's counts to the process metrics and sets the gauges.
    fn publish(&mut self) {
        use std::sync::atomic::Ordering::Relaxed;
        let c = self.bridge.take_counters();
        metrics::add(&METRICS.ticks, c.ticks);
        metrics::add(&METRICS.late_ticks, c.late_ticks);
        metrics::add(&METRICS.pin_failures, c.pin_failures);
        metrics::add(&METRICS.pin_checks_refused, c.pin_checks_refused);
        metrics::add(&METRICS.rtp_packets_received, c.rtp_packets_received);
        metrics::add(&METRICS.rtp_packets_late, c.rtp_packets_late);
        metrics::add(&METRICS.rtp_packets_lost, c.rtp_packets_lost);
        metrics::add(&METRICS.rtp_packets_foreign, c.rtp_packets_foreign);
        metrics::add(&METRICS.rtcp_packets_foreign, c.rtcp_packets_foreign);
        metrics::add(&METRICS.rtp_source_moves, c.rtp_source_moves);
        metrics::add(&METRICS.rtp_timeouts, c.rtp_timeouts);
        let g = self.bridge.gauges();
        METRICS.active_calls.store(g.calls as i64, Relaxed);
        METRICS.lobby_calls.store(g.lobby_calls as i64, Relaxed);
        METRICS.active_meetings.store(g.meetings as i64, Relaxed);
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

/// The readiness token of a call's RTP socket.
fn rtp_token(index: usize) -> usize {
    2 * index
}

/// The readiness token of a call's RTCP socket.
fn rtcp_token(index: usize) -> usize {
    2 * index + 1
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
