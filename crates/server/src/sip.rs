//! The SIP task: one tokio task owning the [`Endpoint`], fed by the UDP socket and the
//! TCP connections, transmitting its outputs and sleeping until its next deadline.
//!
//! It answers each new call: an RTP port pair from the range (503 when none is free),
//! the SDP answer (488 when nothing matches), the prompt language from the called
//! number, and hands the call's sockets to the media engine.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pinbridge_ivr::Config as FlowConfig;
use pinbridge_media::Codec;
use pinbridge_sip::sdp::{self, MediaConfig, Negotiated};
use pinbridge_sip::{
    CallHandle, Endpoint, Event, Frame, IncomingCall, Input, Output, StreamFramer, Transport,
};
use rand_core::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::time::Instant;

use crate::assets::Assets;
use crate::control::SharedDirectory;
use crate::engine::{EngineCommand, NewCall, RemoteMedia, SipCommand};
use crate::metrics::{self, METRICS};
use crate::ports::PortAllocator;

/// The largest datagram read.
const MAX_DATAGRAM: usize = 65_535;

/// How long a call rings (180) before it is answered: a caller who gives up at once is
/// cancelled rather than answered and hung up.
const ANSWER_DELAY: Duration = Duration::from_millis(150);

/// How long shutdown waits for the BYEs of active calls to be answered.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What the SIP task is told by the connections and the bridge.
#[derive(Debug)]
pub enum SipInput {
    /// From the media engine.
    Engine(SipCommand),
    /// A message cut from a TCP connection.
    Stream {
        peer: SocketAddr,
        local: SocketAddr,
        message: Vec<u8>,
    },
    /// A TCP connection closed.
    Closed(SocketAddr),
    /// A TCP connection was opened by us (to send to a peer that had none).
    Connected {
        peer: SocketAddr,
        writer: UnboundedSender<Vec<u8>>,
    },
    /// Hang up every call and stop.
    Shutdown,
}

/// What the SIP task needs.
pub struct SipContext {
    pub endpoint: Endpoint,
    pub udp: UdpSocket,
    pub tcp: TcpListener,
    pub engine: Sender<EngineCommand>,
    pub ports: Arc<Mutex<PortAllocator>>,
    /// The address RTP sockets bind to.
    pub rtp_bind: IpAddr,
    /// The address put in SDP, if fixed (public address, or a specific bound address).
    pub sdp_address: Option<IpAddr>,
    pub assets: Arc<Assets>,
    pub directory: SharedDirectory,
}

/// A call the SIP side knows, by handle.
struct CallInfo {
    media: MediaConfig,
}

/// A call that rings, ready to be answered.
struct PendingAnswer {
    at: Instant,
    call: Box<NewCall>,
    answer: pinbridge_sip::SessionDescription,
    media: MediaConfig,
    called: String,
}

struct Driver {
    ctx: SipContext,
    pending: HashMap<CallHandle, PendingAnswer>,
    udp_local: SocketAddr,
    connections: HashMap<SocketAddr, UnboundedSender<Vec<u8>>>,
    inputs: UnboundedSender<SipInput>,
    calls: HashMap<CallHandle, CallInfo>,
}

/// Runs the SIP task until [`SipInput::Shutdown`].
pub async fn run(
    ctx: SipContext,
    inputs: UnboundedSender<SipInput>,
    mut rx: UnboundedReceiver<SipInput>,
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
        connections: HashMap::new(),
        pending: HashMap::new(),
        inputs,
        calls: HashMap::new(),
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut stopping: Option<Instant> = None;
    loop {
        let answer_at = driver.pending.values().map(|p| p.at).min();
        let deadline = match (
            driver.ctx.endpoint.poll_timeout().map(Instant::from_std),
            answer_at,
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let stop_at = stopping.map(|s| s + SHUTDOWN_GRACE);
        if let Some(stop_at) = stop_at
            && (driver.ctx.endpoint.call_count() == 0 || Instant::now() >= stop_at)
        {
            break;
        }
        let wake = match (deadline, stop_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
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
                            tracing::debug!(%source, error = %e, "SIP datagram dropped");
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "SIP UDP receive failed"),
                }
            }
            accepted = driver.ctx.tcp.accept(), if stopping.is_none() => {
                match accepted {
                    Ok((stream, peer)) => driver.adopt(stream, peer),
                    Err(e) => tracing::warn!(error = %e, "SIP TCP accept failed"),
                }
            }
            input = rx.recv() => {
                let Some(input) = input else { break };
                let now = std::time::Instant::now();
                match input {
                    SipInput::Engine(SipCommand::Hangup(call)) => {
                        let _ = driver.ctx.endpoint.hangup(now, call);
                    }
                    SipInput::Stream { peer, local, message } => {
                        let input = Input {
                            transport: Transport::Tcp,
                            source: peer,
                            local,
                            contents: &message,
                        };
                        if let Err(e) = driver.ctx.endpoint.handle_input(now, input) {
                            tracing::debug!(%peer, error = %e, "SIP message dropped");
                        }
                    }
                    SipInput::Closed(peer) => {
                        driver.connections.remove(&peer);
                    }
                    SipInput::Connected { peer, writer } => {
                        driver.connections.insert(peer, writer);
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
                driver.answer_due();
            }
        }
        driver.drain().await;
    }
    let _ = driver.ctx.engine.send(EngineCommand::Shutdown);
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Driver {
    /// Takes a new TCP connection: a reader task frames messages into the SIP task,
    /// a writer task sends what the endpoint transmits to this peer.
    fn adopt(&mut self, stream: TcpStream, peer: SocketAddr) {
        let local = stream.local_addr().unwrap_or(self.udp_local);
        let (mut reader, mut writer) = stream.into_split();
        let (tx, mut rx) = unbounded_channel::<Vec<u8>>();
        self.connections.insert(peer, tx.clone());
        tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if writer.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        });
        let inputs = self.inputs.clone();
        tokio::spawn(async move {
            let mut framer = StreamFramer::new();
            let mut buf = vec![0u8; 16 * 1024];
            'read: loop {
                let n = match reader.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                framer.push(&buf[..n]);
                loop {
                    match framer.next_frame() {
                        Ok(Some(Frame::Message(message))) => {
                            let input = SipInput::Stream {
                                peer,
                                local,
                                message,
                            };
                            if inputs.send(input).is_err() {
                                break 'read;
                            }
                        }
                        Ok(Some(Frame::KeepAlivePing)) => {
                            let _ = tx.send(b"\r\n".to_vec());
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!(%peer, error = %e, "closing a SIP TCP connection");
                            break 'read;
                        }
                    }
                }
            }
            let _ = inputs.send(SipInput::Closed(peer));
        });
    }

    /// Sends what the endpoint wants sent and handles its events.
    async fn drain(&mut self) {
        while let Some(output) = self.ctx.endpoint.poll_output() {
            match output {
                Output::Transmit(t) => match t.transport {
                    Transport::Udp => {
                        if let Err(e) = self.ctx.udp.send_to(&t.contents, t.destination).await {
                            tracing::debug!(destination = %t.destination, error = %e, "SIP send failed");
                        }
                    }
                    Transport::Tcp | Transport::Tls => self.send_stream(t.destination, t.contents),
                },
                Output::Event(event) => self.event(event),
            }
        }
    }

    fn send_stream(&mut self, peer: SocketAddr, mut bytes: Vec<u8>) {
        if let Some(writer) = self.connections.get(&peer) {
            match writer.send(bytes) {
                Ok(()) => return,
                Err(unsent) => bytes = unsent.0,
            }
            self.connections.remove(&peer);
        }
        // No connection to this peer: open one and send once it is up.
        let inputs = self.inputs.clone();
        tokio::spawn(async move {
            let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(peer)).await
            else {
                tracing::debug!(%peer, "cannot open a SIP TCP connection");
                return;
            };
            let (_reader, mut writer) = stream.into_split();
            let (tx, mut rx) = unbounded_channel::<Vec<u8>>();
            let _ = tx.send(bytes);
            let _ = inputs.send(SipInput::Connected { peer, writer: tx });
            while let Some(bytes) = rx.recv().await {
                if writer.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        });
    }

    fn event(&mut self, event: Event) {
        let now = std::time::Instant::now();
        match event {
            Event::IncomingCall(call) => self.incoming(now, *call),
            Event::CallConfirmed { call, .. } => {
                let _ = self.ctx.engine.send(EngineCommand::Confirmed(call));
            }
            Event::CallCancelled { call } | Event::CallEnded { call, .. } => {
                if let Some(pending) = self.pending.remove(&call) {
                    // Never answered: its sockets close here and its port is free again.
                    let port = pending.call.port;
                    drop(pending);
                    self.release(port);
                }
                if self.calls.remove(&call).is_some() {
                    let _ = self.ctx.engine.send(EngineCommand::Ended(call));
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
                            let _ = self.ctx.engine.send(EngineCommand::Remote(call, media));
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
                        let _ = self.ctx.endpoint.answer_reinvite(now, call, &offer);
                    }
                }
            }
            Event::Dtmf { call, digit, .. } => {
                let _ = self.ctx.engine.send(EngineCommand::Digit(call, digit));
            }
        }
    }

    fn incoming(&mut self, now: std::time::Instant, call: IncomingCall) {
        let handle = call.call;
        let Some(offer) = call.offer.as_ref() else {
            tracing::info!(call_id = %call.call_id, "INVITE without SDP offer refused");
            let _ = self
                .ctx
                .endpoint
                .reject(now, handle, 488, "Not Acceptable Here");
            return;
        };
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
        let media_config = MediaConfig::new(address, port, u64::from(rng.next_u32()));
        let (answer, negotiated) = match sdp::answer(offer, &media_config) {
            Ok(answered) => answered,
            Err(e) => {
                tracing::info!(call_id = %call.call_id, error = %e, "no common codec");
                self.release(port);
                let _ = self
                    .ctx
                    .endpoint
                    .reject(now, handle, 488, "Not Acceptable Here");
                return;
            }
        };
        let (language, name_recording) = {
            let directory = self.ctx.directory.read();
            let (language, recording) = match directory {
                Ok(d) => (
                    d.language_of(&call.called_number).map(str::to_owned),
                    d.settings.enable_name_recording,
                ),
                Err(_) => (None, true),
            };
            (language, recording)
        };
        let language = match language {
            Some(l) if self.ctx.assets.has_language(&l) => l,
            Some(l) => {
                tracing::info!(called = %call.called_number, language = %l, "no prompts in this language; using en-US");
                crate::assets::DEFAULT_LANGUAGE.to_owned()
            }
            None => {
                tracing::info!(called = %call.called_number, "called number is not a registered service number; using en-US");
                crate::assets::DEFAULT_LANGUAGE.to_owned()
            }
        };
        let calling_number = call
            .from
            .uri
            .user
            .as_deref()
            .filter(|u| !u.is_empty())
            .map(pinbridge_domain::number::mask_calling_number);
        let flow = FlowConfig {
            name_recording,
            ..FlowConfig::default()
        };
        let new_call = Box::new(NewCall {
            handle,
            rtp,
            rtcp,
            port,
            media: remote_media(&negotiated),
            language: self.ctx.assets.language_index(&language),
            calling_number,
            flow,
            rtp_seed: (rng.next_u32(), rng.next_u32() as u16, rng.next_u32()),
        });
        let _ = self.ctx.endpoint.ringing(now, handle);
        self.pending.insert(
            handle,
            PendingAnswer {
                at: Instant::now() + ANSWER_DELAY,
                call: new_call,
                answer,
                media: media_config,
                called: call.called_number.clone(),
            },
        );
    }

    /// Answers the calls that have rung long enough.
    fn answer_due(&mut self) {
        let now = Instant::now();
        let due: Vec<CallHandle> = self
            .pending
            .iter()
            .filter(|(_, p)| p.at <= now)
            .map(|(h, _)| *h)
            .collect();
        for handle in due {
            if let Some(pending) = self.pending.remove(&handle) {
                self.answer(pending);
            }
        }
    }

    fn answer(&mut self, pending: PendingAnswer) {
        let now = std::time::Instant::now();
        let PendingAnswer {
            call: new_call,
            answer,
            media: media_config,
            called,
            ..
        } = pending;
        let handle = new_call.handle;
        let port = new_call.port;
        if self
            .ctx
            .engine
            .send(EngineCommand::NewCall(new_call))
            .is_err()
        {
            self.release(port);
            let _ = self
                .ctx
                .endpoint
                .reject(now, handle, 503, "Service Unavailable");
            return;
        }
        if self.ctx.endpoint.accept(now, handle, &answer).is_ok() {
            metrics::add(&METRICS.calls_answered, 1);
            tracing::info!(
                call = handle.value(),
                port,
                called = %called,
                "call answered"
            );
            self.calls.insert(
                handle,
                CallInfo {
                    media: media_config,
                },
            );
        } else {
            let _ = self.ctx.engine.send(EngineCommand::Ended(handle));
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

fn remote_media(negotiated: &Negotiated) -> RemoteMedia {
    let codec = match negotiated.codec {
        sdp::Codec::Pcmu => Codec::Pcmu,
        sdp::Codec::Pcma => Codec::Pcma,
    };
    RemoteMedia {
        address: negotiated.remote_rtp,
        codec,
        payload_type: negotiated.payload_type,
        telephone_event: negotiated.telephone_event,
    }
}
