//! The SIP task: one tokio task owning the [`Endpoint`], fed by the UDP socket and the
//! TCP connections, transmitting its outputs and sleeping until its next deadline.
//!
//! It takes each new call: an RTP port pair from the range (503 when none is free),
//! the SDP answer (488 when nothing matches), 180 Ringing, and hands the call and its
//! sockets to the media engine, whose core decides when it is answered and what
//! happens to it; the SIP task sends the 200 OK when the engine says so.
//!
//! SIP over TLS (`--sip-tls`) goes through the same connection code as TCP, its
//! handshake done in the connection's task after the peer is admitted; its calls get
//! SRTP with SDES keys (RFC 4568), and an offer of plain RTP is refused with 488 and a
//! Warning unless plain RTP is allowed there. The bridge opens no TLS connection itself:
//! what is due to a TLS peer goes over the connection the peer opened.
//!
//! An INVITE without SDP (late offer, RFC 3261 §13.2.1, RFC 3264) is answered with our
//! offer in the 200 OK; the answer comes in the ACK, with the same codec rules. Until
//! then the call sends no media, and its caller flow starts only once the answer is
//! taken; an ACK without a usable answer ends the call with BYE. A re-INVITE without
//! an offer is treated the same way.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pinbridge_bridge::{CallId, Command, RemoteMedia};
use pinbridge_media::Codec;
use pinbridge_media::srtp::MasterKey;
use pinbridge_sip::NegotiationError;
use pinbridge_sip::sdes::Crypto;
use pinbridge_sip::sdp::{self, MediaConfig, Negotiated};
use pinbridge_sip::{
    CallHandle, Endpoint, Event, Frame, IncomingCall, Input, Output, StreamFramer, Transport,
};
use rand_core::RngCore;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::engine::{EngineCommand, NewCall, SipCommand};
use crate::metrics::{self, METRICS};
use crate::ports::PortAllocator;

/// The largest datagram read.
const MAX_DATAGRAM: usize = 65_535;

/// How long shutdown waits for the BYEs of active calls to be answered.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How long opening a TCP connection to a peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a TLS client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the listeners rest after a failed accept (out of file descriptors, most
/// often): the pending connection stays queued, and accepting again at once would only
/// fail again, spinning the task and flooding the log.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(250);

/// Why a call over TLS offering plain RTP is refused, in the 488's Warning.
const PLAIN_RTP_REFUSED: &str =
    "SIP over TLS takes SRTP only: offer RTP/SAVP with an a=crypto key (RFC 4568)";

/// The SIP over TLS listener: the socket, the rustls acceptor, and whether calls over it
/// may have plain RTP.
pub struct TlsListener {
    pub listener: TcpListener,
    pub acceptor: TlsAcceptor,
    pub plain_rtp: bool,
}

/// The bounds on SIP over TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    /// Connections accepted from one peer address at once.
    pub per_peer: usize,
    /// Connections open at once, accepted and opened by the bridge.
    pub total: usize,
    /// A connection that delivers no complete message (or keep-alive) for this long is
    /// closed; bytes of an unfinished message do not keep it open.
    pub idle_timeout: Duration,
    /// Messages waiting to be written to one connection; a peer that lets the queue fill
    /// is disconnected.
    pub write_queue: usize,
}

impl Default for TcpLimits {
    fn default() -> Self {
        Self {
            per_peer: 32,
            total: 1024,
            idle_timeout: Duration::from_secs(120),
            write_queue: 256,
        }
    }
}

/// Why a TCP connection's task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpClosed {
    /// The peer closed it, or reading or writing failed.
    Peer,
    /// The peer sent bytes that are not SIP framing.
    Malformed,
    /// Nothing complete arrived for the idle timeout.
    Idle,
    /// A connection the bridge opened could not be set up.
    ConnectFailed,
    /// The TLS handshake failed or timed out.
    Handshake,
}

/// What the SIP task is told by the connections and the bridge.
#[derive(Debug)]
pub enum SipInput {
    /// From the media engine.
    Engine(SipCommand),
    /// A message cut from a TCP or TLS connection.
    Stream {
        peer: SocketAddr,
        local: SocketAddr,
        transport: Transport,
        message: Vec<u8>,
    },
    /// A TCP connection ended; `id` tells it from a later connection with the same peer.
    Closed {
        peer: SocketAddr,
        id: u64,
        reason: TcpClosed,
    },
    /// Hang up every call and stop.
    Shutdown,
}

/// What the SIP task needs.
pub struct SipContext {
    pub endpoint: Endpoint,
    pub udp: UdpSocket,
    pub tcp: TcpListener,
    pub engine: SyncSender<EngineCommand>,
    pub ports: Arc<Mutex<PortAllocator>>,
    /// The address RTP sockets bind to.
    pub rtp_bind: IpAddr,
    /// The address put in SDP, if fixed (public address, or a specific bound address).
    pub sdp_address: Option<IpAddr>,
    pub tcp_limits: TcpLimits,
    /// SIP over TLS, when configured.
    pub tls: Option<TlsListener>,
}

/// A call the SIP side knows, by handle.
struct CallInfo {
    media: MediaConfig,
    /// Our last 2xx carried an offer (late offer, or a re-INVITE without one): its answer
    /// is due in the ACK.
    awaiting_answer: bool,
}

/// A call that rings, waiting for the engine to have it answered.
struct PendingAnswer {
    /// The SDP the 200 OK carries: our answer, or our offer when the INVITE had none.
    sdp: pinbridge_sip::SessionDescription,
    /// Whether `sdp` is an offer, whose answer comes in the ACK.
    late_offer: bool,
    media: MediaConfig,
    called: String,
}

/// An open (or opening) TCP connection: the queue its task writes from. Dropping it
/// ends the task, which closes the socket.
struct Connection {
    id: u64,
    queue: mpsc::Sender<Vec<u8>>,
    /// How many calls this connection carries: while any does, it is not closed as idle
    /// (their BYE and re-INVITEs come and go over it, however long the call).
    dialogs: Arc<AtomicUsize>,
    /// Whether the peer opened it (those count against the per-peer cap).
    inbound: bool,
    task: AbortHandle,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every TCP connection, one per peer address, and their counts.
#[derive(Default)]
struct Connections {
    by_peer: HashMap<SocketAddr, Connection>,
    inbound_per_ip: HashMap<IpAddr, usize>,
    /// Peers disconnected for not reading: what is still due to them is dropped rather
    /// than sent over a new connection. Forgotten when they connect again, and all at
    /// once when there are as many as the total cap.
    deaf: HashSet<SocketAddr>,
    next_id: u64,
}

impl Connections {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn inbound_from(&self, ip: IpAddr) -> usize {
        self.inbound_per_ip.get(&ip).copied().unwrap_or(0)
    }

    fn insert(&mut self, peer: SocketAddr, connection: Connection) {
        if connection.inbound {
            *self.inbound_per_ip.entry(peer.ip()).or_default() += 1;
            self.deaf.remove(&peer);
        }
        if let Some(old) = self.by_peer.insert(peer, connection) {
            self.forget(peer, &old);
        }
        METRICS.sip_tcp_connections.store(
            self.by_peer.len() as i64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Removes the connection to `peer`, if it is the one numbered `id` (any when `None`).
    fn remove(&mut self, peer: SocketAddr, id: Option<u64>) -> bool {
        let matches = self
            .by_peer
            .get(&peer)
            .is_some_and(|c| id.is_none_or(|id| c.id == id));
        if !matches {
            return false;
        }
        if let Some(old) = self.by_peer.remove(&peer) {
            self.forget(peer, &old);
        }
        METRICS.sip_tcp_connections.store(
            self.by_peer.len() as i64,
            std::sync::atomic::Ordering::Relaxed,
        );
        true
    }

    fn forget(&mut self, peer: SocketAddr, connection: &Connection) {
        if connection.inbound
            && let Some(n) = self.inbound_per_ip.get_mut(&peer.ip())
        {
            *n -= 1;
            if *n == 0 {
                self.inbound_per_ip.remove(&peer.ip());
            }
        }
    }
}

struct Driver {
    ctx: SipContext,
    pending: HashMap<CallHandle, PendingAnswer>,
    /// The engine's names of the calls it holds.
    handles: HashMap<CallId, CallHandle>,
    udp_local: SocketAddr,
    connections: Connections,
    inputs: mpsc::Sender<SipInput>,
    calls: HashMap<CallHandle, CallInfo>,
    /// The calls that came over a connection, with that connection's count of calls.
    stream_calls: HashMap<CallHandle, Arc<AtomicUsize>>,
}

/// Runs the SIP task until [`SipInput::Shutdown`].
pub async fn run(
    ctx: SipContext,
    inputs: mpsc::Sender<SipInput>,
    mut rx: mpsc::Receiver<SipInput>,
) {
    let udp_local = match ctx.udp.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "the SIP UDP socket has no address");
            return;
        }
    };
    let mut driver = Driver {
        ctx,
        udp_local,
        connections: Connections::default(),
        pending: HashMap::new(),
        handles: HashMap::new(),
        inputs,
        calls: HashMap::new(),
        stream_calls: HashMap::new(),
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut stopping: Option<Instant> = None;
    let mut accept_resumes: Option<Instant> = None;
    loop {
        let deadline = driver.ctx.endpoint.poll_timeout().map(Instant::from_std);
        let stop_at = stopping.map(|s| s + SHUTDOWN_GRACE);
        if accept_resumes.is_some_and(|at| Instant::now() >= at) {
            accept_resumes = None;
        }
        let accepting = stopping.is_none() && accept_resumes.is_none();
        if let Some(stop_at) = stop_at
            && (driver.ctx.endpoint.call_count() == 0 || Instant::now() >= stop_at)
        {
            break;
        }
        let wake = [deadline, stop_at, accept_resumes]
            .into_iter()
            .flatten()
            .min();
        tokio::select! {
            received = driver.ctx.udp.recv_from(&mut buf) => {
                match received {
                    Ok((len, source)) => {
                        let now = std::time::Instant::now();
                        let input = Input {
                            transport: Transport::Udp,
                            source,
                            local: driver.udp_local,
                            contents: &buf[..len],
                        };
                        if let Err(e) = driver.ctx.endpoint.handle_input(now, input) {
                            metrics::refused(&e);
                            tracing::debug!(%source, error = %e, "SIP datagram dropped");
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "SIP UDP receive failed"),
                }
            }
            accepted = driver.ctx.tcp.accept(), if accepting => {
                match accepted {
                    Ok((stream, peer)) => driver.adopt(stream, peer, Transport::Tcp),
                    Err(e) => {
                        metrics::add(&METRICS.sip_accept_failures, 1);
                        tracing::warn!(error = %e, pause = ?ACCEPT_BACKOFF, "SIP TCP accept failed");
                        accept_resumes = Some(Instant::now() + ACCEPT_BACKOFF);
                    }
                }
            }
            accepted = accept_tls(driver.ctx.tls.as_ref()), if accepting => {
                match accepted {
                    Ok((stream, peer)) => driver.adopt(stream, peer, Transport::Tls),
                    Err(e) => {
                        metrics::add(&METRICS.sip_accept_failures, 1);
                        tracing::warn!(error = %e, pause = ?ACCEPT_BACKOFF, "SIP TLS accept failed");
                        accept_resumes = Some(Instant::now() + ACCEPT_BACKOFF);
                    }
                }
            }
            input = rx.recv() => {
                let Some(input) = input else { break };
                let now = std::time::Instant::now();
                match input {
                    SipInput::Engine(SipCommand::Answer(call)) => driver.answer(call),
                    SipInput::Engine(SipCommand::Hangup(call)) => driver.hang_up(now, call),
                    SipInput::Stream { peer, local, transport, message } => {
                        let input = Input {
                            transport,
                            source: peer,
                            local,
                            contents: &message,
                        };
                        if let Err(e) = driver.ctx.endpoint.handle_input(now, input) {
                            metrics::refused(&e);
                            tracing::debug!(%peer, error = %e, "SIP message dropped");
                        }
                    }
                    SipInput::Closed { peer, id, reason } => {
                        if driver.connections.remove(peer, Some(id)) && reason == TcpClosed::Idle {
                            metrics::add(&METRICS.sip_tcp_closed_idle, 1);
                        }
                    }
                    SipInput::Shutdown => {
                        if stopping.is_none() {
                            stopping = Some(Instant::now());
                            let calls: Vec<CallHandle> = driver
                                .calls
                                .keys()
                                .chain(driver.pending.keys())
                                .copied()
                                .collect();
                            tracing::info!(calls = calls.len(), "hanging up every call");
                            for call in calls {
                                let _ = driver.ctx.endpoint.hangup(now, call);
                            }
                        }
                    }
                }
            }
            _ = sleep_until(wake) => {
                driver.ctx.endpoint.handle_timeout(std::time::Instant::now());
            }
        }
        driver.drain().await;
    }
    // Blocking is right here: the task is ending and the engine must hear it.
    let _ = driver.ctx.engine.send(EngineCommand::Shutdown);
}

/// Accepts on the TLS listener; never ready without one.
async fn accept_tls(tls: Option<&TlsListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match tls {
        Some(tls) => tls.listener.accept().await,
        None => std::future::pending().await,
    }
}

/// What a connection task needs: who it talks to and where its messages go.
struct Link {
    peer: SocketAddr,
    id: u64,
    /// TCP, or TLS with the acceptor that does the handshake.
    transport: Transport,
    acceptor: Option<TlsAcceptor>,
    /// The local address reported when the socket cannot tell its own.
    fallback_local: SocketAddr,
    inputs: mpsc::Sender<SipInput>,
    /// The connection's own queue, for keep-alive answers.
    queue: mpsc::Sender<Vec<u8>>,
    idle_timeout: Duration,
    /// The connection's count of calls (see [`Connection::dialogs`]).
    dialogs: Arc<AtomicUsize>,
}

impl Link {
    /// Runs one connection: opens it when `stream` is `None`, then reads messages into
    /// the SIP task and writes its queue until either side ends, and reports why.
    async fn run(self, stream: Option<TcpStream>, outgoing: mpsc::Receiver<Vec<u8>>) {
        let stream = match stream {
            Some(stream) => Some(stream),
            None => {
                match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(self.peer)).await {
                    Ok(Ok(stream)) => Some(stream),
                    Ok(Err(e)) => {
                        tracing::debug!(peer = %self.peer, error = %e, "cannot open a SIP TCP connection");
                        None
                    }
                    Err(_) => {
                        tracing::debug!(peer = %self.peer, "opening a SIP TCP connection timed out");
                        None
                    }
                }
            }
        };
        let reason = match stream {
            None => TcpClosed::ConnectFailed,
            Some(stream) => {
                let local = stream.local_addr().unwrap_or(self.fallback_local);
                match self.acceptor.clone() {
                    None => self.exchange(stream, local, outgoing).await,
                    Some(acceptor) => {
                        let peer = self.peer;
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                        {
                            Ok(Ok(tls)) => self.exchange(tls, local, outgoing).await,
                            Ok(Err(e)) => {
                                metrics::add(&METRICS.sip_tls_handshakes_failed, 1);
                                tracing::info!(%peer, error = %e, "SIP TLS handshake refused");
                                TcpClosed::Handshake
                            }
                            Err(_) => {
                                metrics::add(&METRICS.sip_tls_handshakes_failed, 1);
                                tracing::info!(%peer, "SIP TLS handshake timed out");
                                TcpClosed::Handshake
                            }
                        }
                    }
                }
            }
        };
        let _ = self
            .inputs
            .send(SipInput::Closed {
                peer: self.peer,
                id: self.id,
                reason,
            })
            .await;
    }

    /// Reads and writes an open stream (TCP, or TLS after its handshake) until either
    /// side ends.
    async fn exchange<S: AsyncRead + AsyncWrite>(
        &self,
        stream: S,
        local: SocketAddr,
        outgoing: mpsc::Receiver<Vec<u8>>,
    ) -> TcpClosed {
        let (reader, writer) = tokio::io::split(stream);
        tokio::select! {
            reason = self.read(reader, local) => reason,
            reason = write(writer, outgoing) => reason,
        }
    }

    /// Frames what the peer sends into messages for the SIP task, answering keep-alive
    /// pings, until the peer closes, sends garbage or stays idle.
    async fn read(&self, mut reader: impl AsyncRead + Unpin, local: SocketAddr) -> TcpClosed {
        let peer = self.peer;
        let mut framer = StreamFramer::new();
        let mut buf = vec![0u8; 16 * 1024];
        let mut idle_at = Instant::now() + self.idle_timeout;
        loop {
            let read = tokio::select! {
                read = reader.read(&mut buf) => read,
                () = tokio::time::sleep_until(idle_at) => {
                    if self.dialogs.load(Ordering::Relaxed) > 0 {
                        idle_at = Instant::now() + self.idle_timeout;
                        continue;
                    }
                    tracing::debug!(%peer, "closing an idle SIP TCP connection");
                    return TcpClosed::Idle;
                }
            };
            let n = match read {
                Ok(0) | Err(_) => return TcpClosed::Peer,
                Ok(n) => n,
            };
            framer.push(&buf[..n]);
            loop {
                match framer.next_frame() {
                    Ok(Some(frame)) => {
                        idle_at = Instant::now() + self.idle_timeout;
                        match frame {
                            Frame::Message(message) => {
                                let input = SipInput::Stream {
                                    peer,
                                    local,
                                    transport: self.transport,
                                    message,
                                };
                                // A full queue holds this connection's reading back (and
                                // TCP the peer), not the others'.
                                if self.inputs.send(input).await.is_err() {
                                    return TcpClosed::Peer;
                                }
                            }
                            Frame::KeepAlivePing => {
                                let _ = self.queue.try_send(b"\r\n".to_vec());
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "closing a SIP TCP connection");
                        return TcpClosed::Malformed;
                    }
                }
            }
        }
    }
}

/// Writes the connection's queue to the socket until the queue closes or writing fails.
/// Each message is flushed, so TLS sends its records at once.
async fn write(
    mut writer: impl AsyncWrite + Unpin,
    mut outgoing: mpsc::Receiver<Vec<u8>>,
) -> TcpClosed {
    while let Some(bytes) = outgoing.recv().await {
        if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
            break;
        }
    }
    TcpClosed::Peer
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Driver {
    /// Takes a new TCP or TLS connection from its listener. A peer outside the trunk
    /// allow-list, or one over the per-peer or total cap, is closed at once, nothing read
    /// (no handshake either); the others get a connection task.
    fn adopt(&mut self, stream: TcpStream, peer: SocketAddr, transport: Transport) {
        let limits = self.ctx.tcp_limits;
        let allowed = &self.ctx.endpoint.config().trunk_allow;
        let refused = if !allowed.iter().any(|c| c.contains(peer.ip())) {
            Some((
                &METRICS.sip_tcp_refused_not_allowed,
                "not in the trunk allow-list",
            ))
        } else if self.connections.by_peer.len() >= limits.total {
            Some((&METRICS.sip_tcp_refused_total_limit, "too many connections"))
        } else if self.connections.inbound_from(peer.ip()) >= limits.per_peer {
            Some((
                &METRICS.sip_tcp_refused_peer_limit,
                "too many connections from this peer",
            ))
        } else {
            None
        };
        if let Some((counter, why)) = refused {
            metrics::add(counter, 1);
            tracing::debug!(%peer, why, "SIP TCP connection refused");
            drop(stream);
            return;
        }
        self.open(peer, Some(stream), transport);
    }

    /// Starts the task of a connection to `peer`: the accepted `stream`, or, without one,
    /// a connection the task opens itself. Messages sent to the peer meanwhile wait in its
    /// queue, so a destination never gets a second connection.
    fn open(
        &mut self,
        peer: SocketAddr,
        stream: Option<TcpStream>,
        transport: Transport,
    ) -> mpsc::Sender<Vec<u8>> {
        let id = self.connections.next_id();
        let (queue, outgoing) = mpsc::channel(self.ctx.tcp_limits.write_queue.max(1));
        let inbound = stream.is_some();
        let acceptor = match transport {
            Transport::Tls => self.ctx.tls.as_ref().map(|t| t.acceptor.clone()),
            Transport::Udp | Transport::Tcp => None,
        };
        let dialogs = Arc::new(AtomicUsize::new(0));
        let link = Link {
            peer,
            id,
            transport,
            acceptor,
            fallback_local: self.udp_local,
            inputs: self.inputs.clone(),
            queue: queue.clone(),
            idle_timeout: self.ctx.tcp_limits.idle_timeout,
            dialogs: dialogs.clone(),
        };
        let task = tokio::spawn(link.run(stream, outgoing)).abort_handle();
        self.connections.insert(
            peer,
            Connection {
                id,
                queue: queue.clone(),
                dialogs,
                inbound,
                task,
            },
        );
        queue
    }

    /// Sends what the endpoint wants sent and handles its events, then publishes the
    /// sizes of the endpoint's tables.
    async fn drain(&mut self) {
        self.drain_outputs().await;
        let endpoint = &self.ctx.endpoint;
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        METRICS
            .sip_transactions
            .store(endpoint.transaction_count() as i64, relaxed);
        METRICS
            .sip_calls
            .store(endpoint.call_count() as i64, relaxed);
        METRICS
            .sip_limited_sources
            .store(endpoint.limited_sources() as i64, relaxed);
    }

    async fn drain_outputs(&mut self) {
        while let Some(output) = self.ctx.endpoint.poll_output() {
            match output {
                Output::Transmit(t) => match t.transport {
                    Transport::Udp => {
                        if let Err(e) = self.ctx.udp.send_to(&t.contents, t.destination).await {
                            tracing::debug!(destination = %t.destination, error = %e, "SIP send failed");
                        }
                    }
                    Transport::Tcp | Transport::Tls => {
                        self.send_stream(t.destination, t.transport, t.contents)
                    }
                },
                Output::Event(event) => self.event(event),
            }
        }
    }

    /// Queues bytes for `peer`'s connection, opening one when there is none. A peer
    /// whose queue is full is not reading: its connection is closed and the bytes dropped.
    fn send_stream(&mut self, peer: SocketAddr, transport: Transport, bytes: Vec<u8>) {
        let queue = match self.connections.by_peer.get(&peer) {
            Some(connection) => connection.queue.clone(),
            None if transport == Transport::Tls => {
                tracing::debug!(%peer, "no TLS connection from this peer; dropping a SIP message for it");
                return;
            }
            None if self.connections.deaf.contains(&peer) => {
                tracing::debug!(%peer, "dropping a SIP message for a peer that did not read");
                return;
            }
            None if self.connections.by_peer.len() >= self.ctx.tcp_limits.total => {
                metrics::add(&METRICS.sip_tcp_refused_total_limit, 1);
                tracing::debug!(%peer, "too many SIP TCP connections; not opening another");
                return;
            }
            None => self.open(peer, None, transport),
        };
        match queue.try_send(bytes) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::add(&METRICS.sip_tcp_closed_write_queue_full, 1);
                tracing::debug!(%peer, "SIP TCP peer is not reading; closing the connection");
                self.connections.remove(peer, None);
                let limits = self.ctx.tcp_limits;
                if self.connections.deaf.len() >= limits.total {
                    self.connections.deaf.clear();
                }
                self.connections.deaf.insert(peer);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                // The task has ended; its `Closed` input is on its way.
                self.connections.remove(peer, None);
            }
        }
    }

    fn event(&mut self, event: Event) {
        let now = std::time::Instant::now();
        match event {
            Event::IncomingCall(call) => self.incoming(now, *call),
            Event::CallConfirmed { call, sdp } => self.confirmed(now, call, sdp),
            Event::CallCancelled { call } | Event::CallEnded { call, .. } => {
                // Answered or still ringing, the engine holds its sockets and frees its port.
                self.forget_stream_call(call);
                let known =
                    self.pending.remove(&call).is_some() | self.calls.remove(&call).is_some();
                if known {
                    self.handles.remove(&call_id(call));
                    self.tell_engine(Command::Ended(call_id(call)));
                }
            }
            Event::ReInvite { call, offer } => {
                let Some(info) = self.calls.get_mut(&call) else {
                    return;
                };
                info.media.session_version += 1;
                match offer {
                    Some(offer) => match sdp::answer(&offer, &info.media) {
                        Ok((answer, negotiated)) => {
                            let _ = self.ctx.endpoint.answer_reinvite(now, call, &answer);
                            let media = remote_media(&negotiated);
                            self.tell_engine(Command::Remote(call_id(call), media));
                        }
                        Err(e) => {
                            tracing::info!(call = call.value(), error = %e, "re-INVITE refused");
                            let _ = self.ctx.endpoint.reject_reinvite(
                                now,
                                call,
                                488,
                                "Not Acceptable Here",
                            );
                        }
                    },
                    None => {
                        let offer = sdp::offer(&info.media);
                        if self.ctx.endpoint.answer_reinvite(now, call, &offer).is_ok() {
                            info.awaiting_answer = true;
                        }
                    }
                }
            }
            Event::Dtmf { call, digit, .. } => {
                self.tell_engine(Command::Digit(call_id(call), digit))
            }
        }
    }

    /// The ACK for our 2xx: when the 2xx carried our offer, the ACK's answer decides the
    /// media, and a call without a usable one is ended with BYE.
    fn confirmed(
        &mut self,
        now: std::time::Instant,
        call: CallHandle,
        answer: Option<pinbridge_sip::SessionDescription>,
    ) {
        let Some(info) = self.calls.get_mut(&call) else {
            return;
        };
        if std::mem::take(&mut info.awaiting_answer) {
            let accepted = match answer {
                Some(answer) => sdp::accept_answer(&answer, &info.media).map_err(|e| e.to_string()),
                None => Err("the ACK has no SDP, or one that does not parse".to_owned()),
            };
            match accepted {
                Ok(negotiated) => {
                    self.tell_engine(Command::Remote(call_id(call), remote_media(&negotiated)))
                }
                Err(e) => {
                    metrics::add(&METRICS.calls_ended_bad_answer, 1);
                    tracing::info!(call = call.value(), error = %e, "no usable SDP answer in the ACK; ending the call");
                    // The endpoint reports the end, which frees the call in the engine.
                    let _ = self.ctx.endpoint.hangup(now, call);
                    return;
                }
            }
        }
        self.tell_engine(Command::Confirmed(call_id(call)));
    }

    fn incoming(&mut self, now: std::time::Instant, call: IncomingCall) {
        let handle = call.call;
        let Some((port, rtp, rtcp)) = self.bind_port_pair() else {
            metrics::add(&METRICS.calls_refused_no_port, 1);
            tracing::warn!(call_id = %call.call_id, "no RTP port free; refusing the call");
            let _ = self
                .ctx
                .endpoint
                .reject(now, handle, 503, "Service Unavailable");
            return;
        };
        let address = self
            .ctx
            .sdp_address
            .unwrap_or_else(|| local_ip_towards(call.source.ip()));
        let mut rng = rand_core::OsRng;
        let mut media_config = MediaConfig::new(address, port, u64::from(rng.next_u32()));
        if call.transport == Transport::Tls {
            let mut key = [0u8; pinbridge_sip::sdes::KEY_LEN];
            rng.fill_bytes(&mut key);
            media_config.srtp = Some(Crypto { tag: 1, key });
        }
        let (local_sdp, media) = match call.offer.as_ref() {
            Some(offer) => match self.answer_offer(offer, &mut media_config) {
                Ok((answer, negotiated)) => (answer, remote_media(&negotiated)),
                Err(e) => {
                    let warning = if e == NegotiationError::PlainRtpRefused {
                        metrics::add(&METRICS.calls_refused_plain_rtp, 1);
                        Some(PLAIN_RTP_REFUSED)
                    } else {
                        None
                    };
                    tracing::info!(call_id = %call.call_id, error = %e, "offer refused");
                    self.release(port);
                    let _ = self.ctx.endpoint.reject_with_warning(
                        now,
                        handle,
                        488,
                        "Not Acceptable Here",
                        warning,
                    );
                    return;
                }
            },
            None => {
                metrics::add(&METRICS.calls_late_offer, 1);
                (sdp::offer(&media_config), unanswered_media(&media_config))
            }
        };
        let late_offer = call.offer.is_none();
        let number = call.from.uri.user.as_deref().filter(|u| !u.is_empty());
        let calling_number = number.map(pinbridge_domain::number::mask_calling_number);
        let origin = pinbridge_bridge::Origin {
            number: number.map(str::to_owned),
            address: call.source.ip(),
        };
        let new_call = Box::new(NewCall {
            call: pinbridge_bridge::NewCall {
                handle: call_id(handle),
                port,
                media,
                called_number: call.called_number.clone(),
                calling_number,
                origin,
                rtp_seed: (rng.next_u32(), rng.next_u32() as u16, rng.next_u32()),
            },
            rtp,
            rtcp,
        });
        if let Err(refused) = self.ctx.engine.try_send(EngineCommand::NewCall(new_call)) {
            if matches!(refused, TrySendError::Full(_)) {
                metrics::add(&METRICS.engine_queue_full, 1);
            }
            tracing::warn!(call_id = %call.call_id, "the media engine cannot take the call; refusing it");
            drop(refused);
            self.release(port);
            let _ = self
                .ctx
                .endpoint
                .reject(now, handle, 503, "Service Unavailable");
            return;
        }
        let _ = self.ctx.endpoint.ringing(now, handle);
        self.handles.insert(call_id(handle), handle);
        self.pending.insert(
            handle,
            PendingAnswer {
                sdp: local_sdp,
                late_offer,
                media: media_config,
                called: call.called_number.clone(),
            },
        );
        if call.transport != Transport::Udp
            && let Some(connection) = self.connections.by_peer.get(&call.source)
        {
            connection.dialogs.fetch_add(1, Ordering::Relaxed);
            self.stream_calls.insert(handle, connection.dialogs.clone());
        }
    }

    /// The driver no longer holds `call`: its connection, if it came over one, carries
    /// one call fewer.
    fn forget_stream_call(&mut self, call: CallHandle) {
        if let Some(dialogs) = self.stream_calls.remove(&call) {
            dialogs.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Answers an offer with `config`; on TLS, where `config` asks for SRTP, a plain-RTP
    /// offer is answered in plain RTP when that is allowed there (and `config` follows).
    fn answer_offer(
        &self,
        offer: &pinbridge_sip::SessionDescription,
        config: &mut MediaConfig,
    ) -> Result<(pinbridge_sip::SessionDescription, Negotiated), NegotiationError> {
        match sdp::answer(offer, config) {
            Err(NegotiationError::PlainRtpRefused)
                if self.ctx.tls.as_ref().is_some_and(|t| t.plain_rtp) =>
            {
                config.srtp = None;
                sdp::answer(offer, config)
            }
            result => result,
        }
    }

    /// Hands the engine a command for the core. A full queue refuses it (counted): the
    /// engine is far behind, and what a command would have done is lost, except a call's
    /// end, which waits (a lost end would keep the call's port).
    fn tell_engine(&mut self, command: Command) {
        match self.ctx.engine.try_send(EngineCommand::Core(command)) {
            Ok(()) => {}
            Err(TrySendError::Full(EngineCommand::Core(Command::Ended(call)))) => {
                metrics::add(&METRICS.engine_queue_full, 1);
                let _ = self
                    .ctx
                    .engine
                    .send(EngineCommand::Core(Command::Ended(call)));
            }
            Err(TrySendError::Full(_)) => metrics::add(&METRICS.engine_queue_full, 1),
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// Hangs up a call the engine has ended: BYE when answered, 503 while it rings.
    fn hang_up(&mut self, now: std::time::Instant, id: CallId) {
        let Some(&handle) = self.handles.get(&id) else {
            return;
        };
        if self.pending.remove(&handle).is_some() {
            self.handles.remove(&id);
            self.forget_stream_call(handle);
            let _ = self
                .ctx
                .endpoint
                .reject(now, handle, 503, "Service Unavailable");
        } else {
            let _ = self.ctx.endpoint.hangup(now, handle);
        }
    }

    /// Answers a call the engine says has rung long enough.
    fn answer(&mut self, id: CallId) {
        let now = std::time::Instant::now();
        let Some(&handle) = self.handles.get(&id) else {
            return;
        };
        let Some(pending) = self.pending.remove(&handle) else {
            return;
        };
        if self.ctx.endpoint.accept(now, handle, &pending.sdp).is_ok() {
            metrics::add(&METRICS.calls_answered, 1);
            tracing::info!(call = handle.value(), called = %pending.called, "call answered");
            self.calls.insert(
                handle,
                CallInfo {
                    media: pending.media,
                    awaiting_answer: pending.late_offer,
                },
            );
        } else {
            self.handles.remove(&id);
            self.forget_stream_call(handle);
            self.tell_engine(Command::Ended(id));
        }
    }

    /// An RTP/RTCP socket pair on a free port of the range; ports another program holds
    /// are skipped.
    fn bind_port_pair(&mut self) -> Option<(u16, std::net::UdpSocket, std::net::UdpSocket)> {
        let capacity = self.ctx.ports.lock().map(|p| p.capacity()).unwrap_or(0);
        let mut skipped = Vec::new();
        let mut result = None;
        for _ in 0..capacity.min(64) {
            let port = match self.ctx.ports.lock() {
                Ok(mut ports) => ports.allocate(),
                Err(_) => None,
            };
            let Some(port) = port else { break };
            match bind_pair(self.ctx.rtp_bind, port) {
                Ok((rtp, rtcp)) => {
                    result = Some((port, rtp, rtcp));
                    break;
                }
                Err(e) => {
                    tracing::debug!(port, error = %e, "RTP port in use elsewhere; trying the next");
                    skipped.push(port);
                }
            }
        }
        for port in skipped {
            self.release(port);
        }
        result
    }

    fn release(&self, port: u16) {
        if let Ok(mut ports) = self.ctx.ports.lock() {
            ports.release(port);
        }
    }
}

fn bind_pair(ip: IpAddr, port: u16) -> std::io::Result<(std::net::UdpSocket, std::net::UdpSocket)> {
    let rtp = std::net::UdpSocket::bind(SocketAddr::new(ip, port))?;
    let rtcp = std::net::UdpSocket::bind(SocketAddr::new(ip, port + 1))?;
    rtp.set_nonblocking(true)?;
    rtcp.set_nonblocking(true)?;
    Ok((rtp, rtcp))
}

/// The local address the system would use to reach `peer` (for SDP when bound to a
/// wildcard address without a public address).
fn local_ip_towards(peer: IpAddr) -> IpAddr {
    let bind: SocketAddr = if peer.is_ipv4() {
        "0.0.0.0:0".parse().expect("a literal address")
    } else {
        "[::]:0".parse().expect("a literal address")
    };
    std::net::UdpSocket::bind(bind)
        .and_then(|s| {
            s.connect(SocketAddr::new(peer, 9))?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(peer)
}

/// The engine's name of a SIP call.
fn call_id(handle: CallHandle) -> CallId {
    CallId(handle.value())
}

/// The media of a call whose answer has not come yet: nowhere to send, our first codec.
fn unanswered_media(config: &MediaConfig) -> RemoteMedia {
    let codec = config.codecs.first().copied().unwrap_or(sdp::Codec::Pcmu);
    RemoteMedia {
        address: None,
        codec: media_codec(codec),
        payload_type: codec.static_payload_type(),
        telephone_event: None,
        srtp: None,
    }
}

fn media_codec(codec: sdp::Codec) -> Codec {
    match codec {
        sdp::Codec::Pcmu => Codec::Pcmu,
        sdp::Codec::Pcma => Codec::Pcma,
    }
}

fn remote_media(negotiated: &Negotiated) -> RemoteMedia {
    RemoteMedia {
        address: negotiated.remote_rtp,
        codec: media_codec(negotiated.codec),
        payload_type: negotiated.payload_type,
        telephone_event: negotiated.telephone_event,
        srtp: negotiated
            .srtp
            .as_ref()
            .map(|keys| pinbridge_media::srtp::CallKeys {
                remote: MasterKey::from_array(&keys.remote),
                local: MasterKey::from_array(&keys.local),
            }),
    }
}
