//! The media engine: one thread that runs the conference core ([`Bridge`]) with real
//! sockets and the real clock.
//!
//! It does I/O only: it keeps every call's RTP and RTCP sockets ([`CallSockets`]), reads
//! what arrived in batches when the core's tick is due (only the sockets whose audio the
//! coming tick uses, [`Bridge::reads_due`]), feeds the
//! datagrams, commands and deadlines to the core, and carries out its outputs: datagrams
//! sent, answers and hang-ups to the SIP task, requests to the control task, sockets
//! closed and ports freed. Every rule about calls, flows and meetings is the core's.
//!
//! Calls are told apart by our own RTP port (one socket pair per call), never by the
//! remote address, which many calls may share.

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pinbridge_bridge::{
    Bridge, CallId, CallKey, Channel, Command, ControlRequest, Event, Input, Output, PinCheck,
};
use tokio::sync::mpsc::Sender;
use tokio::sync::mpsc::error::TrySendError;

use crate::media_io::{CallSockets, Reader};
use crate::metrics::{self, METRICS};
use crate::ports::PortAllocator;

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

/// The engine; see the module documentation.
pub struct Engine {
    bridge: Bridge,
    links: EngineLinks,
    /// By [`CallKey::index`].
    sockets: CallSockets<CallKey>,
    deadline: Instant,
    /// SIP commands the SIP task's full queue refused, sent first next time.
    sip_backlog: VecDeque<SipCommand>,
}

/// The wall clock, as time since the Unix epoch.
fn unix_now() -> std::time::Duration {
    std::time::Duration::from_millis(pinbridge_store::now_ms().max(0) as u64)
}

impl Engine {
    /// An engine with no calls; fails only when the system refuses a readiness set.
    pub fn new(bridge: Bridge, links: EngineLinks) -> std::io::Result<Self> {
        Ok(Self {
            bridge,
            links,
            sockets: CallSockets::new()?,
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
                let key = self.bridge.add_call(now, call);
                if let Err(e) = self.sockets.insert(key.index(), key, rtp, rtcp) {
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
        let report = self.sockets.read(&mut CoreReader {
            bridge: &mut self.bridge,
            now,
        });
        if report.readiness_failed {
            tracing::warn!("socket readiness unavailable; reading every call");
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
                    let sent =
                        self.sockets
                            .send(t.call.index(), t.channel, t.payload, t.destination);
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
                    // Dropped: the sockets close.
                    let _ = self.sockets.remove(call.index());
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
        metrics::add(&METRICS.srtp_packets_refused, c.srtp_packets_refused);
        let g = self.bridge.gauges();
        METRICS.active_calls.store(g.calls as i64, Relaxed);
        METRICS.lobby_calls.store(g.lobby_calls as i64, Relaxed);
        METRICS.active_meetings.store(g.meetings as i64, Relaxed);
    }
}

/// Reading into the core: it says which calls' sockets the coming tick uses.
struct CoreReader<'a> {
    bridge: &'a mut Bridge,
    now: Instant,
}

impl Reader<CallKey> for CoreReader<'_> {
    fn due(&self, call: CallKey) -> bool {
        self.bridge.reads_due(call)
    }

    fn datagram(&mut self, call: CallKey, channel: Channel, source: SocketAddr, bytes: &[u8]) {
        let input = Input::Datagram {
            call,
            channel,
            source,
            bytes,
        };
        self.bridge.handle_input(self.now, input);
    }
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
