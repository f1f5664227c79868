//! The tokio drivers of the dial-in bridge: thin loops that run the Sans-IO cores.
//!
//! A call's journey: a datagram (or a TCP frame) reaches the **SIP task**
//! ([`sip`]), which feeds the [`pinbridge_sip::Endpoint`]; on a new call it takes an
//! RTP port pair, prepares the SDP answer and hands the call and its sockets to the
//! **media engine** ([`engine`]), a single thread that runs the conference core
//! ([`pinbridge_bridge::Bridge`]): the core rings, answers, runs the caller flow, the
//! meetings and the mixing; the engine reads and sends the datagrams and keeps the
//! clock. What needs the store (conference look-ups, PIN checks, live state) goes to the
//! **control task** ([`control`]) and comes back as commands.
//!
//! No protocol or meeting logic lives here: the drivers move bytes, time and answers
//! between the sockets, the store and the cores. Every queue between them is bounded
//! ([`engine::ENGINE_QUEUE`], [`control::CONTROL_QUEUE`], [`SIP_QUEUE`]).
//!
//! There is no `unsafe` here: batched UDP (`recvmmsg`, epoll) is `pinbridge-udp`'s.

#![forbid(unsafe_code)]

pub mod control;
pub mod engine;
pub mod media_io;
pub mod metrics;
pub mod ports;
pub mod sip;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pinbridge_app::App;
use pinbridge_sip::{Endpoint, EndpointConfig};
use rand_core::RngCore;
use thiserror::Error;
use tokio::sync::mpsc::{Sender, channel};

use pinbridge_domain::Cidr;
pub use pinbridge_sip::{Rate, SourceLimits, Untrusted};
pub use ports::{PortAllocator, PortRange, PortRangeError};
pub use sip::TcpLimits;

/// How many inputs may wait for the SIP task: the engine's answers and hang-ups, and
/// messages framed from TCP connections (a connection whose message finds the queue
/// full waits, and so does its peer).
pub const SIP_QUEUE: usize = 4096;

/// How the bridge is set up (the `serve` flags).
#[derive(Debug, Clone)]
pub struct DialInConfig {
    /// Where SIP over UDP listens.
    pub sip_udp: SocketAddr,
    /// Where SIP over TCP listens.
    pub sip_tcp: SocketAddr,
    /// The ports for RTP (even) and RTCP (odd).
    pub rtp_ports: PortRange,
    /// The trunk peers whose calls are accepted.
    pub trunk_allow: Vec<Cidr>,
    /// What requests from outside the allow-list get: a 403, or nothing.
    pub untrusted: Untrusted,
    /// The per-source rate limits of SIP requests.
    pub limits: SourceLimits,
    /// The address put in SDP, Contact and Via instead of the bound one.
    pub public_address: Option<IpAddr>,
    /// A call with no RTP for this long is hung up.
    pub rtp_timeout: Duration,
    /// How often callers in the lobby are reminded that they are still waiting; `None`:
    /// never.
    pub lobby_reminder: Option<Duration>,
    /// The bounds on SIP over TCP (and over TLS).
    pub tcp: TcpLimits,
    /// SIP over TLS, when configured.
    pub tls: Option<SipTlsConfig>,
}

/// SIP over TLS (`--sip-tls`): where it listens, the server's rustls configuration (its
/// certificate, and the trunks' CA when clients must present certificates), and whether
/// a call over it may have plain RTP. Calls over TLS get SRTP with SDES keys (RFC 4568);
/// an offer of plain RTP is refused with 488 unless `plain_rtp` allows it.
#[derive(Clone)]
pub struct SipTlsConfig {
    pub address: SocketAddr,
    pub server: Arc<tokio_rustls::rustls::ServerConfig>,
    pub plain_rtp: bool,
}

impl std::fmt::Debug for SipTlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipTlsConfig")
            .field("address", &self.address)
            .field("plain_rtp", &self.plain_rtp)
            .finish_non_exhaustive()
    }
}

impl Default for DialInConfig {
    fn default() -> Self {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 5060));
        Self {
            sip_udp: loopback,
            sip_tcp: loopback,
            rtp_ports: PortRange::default(),
            trunk_allow: Cidr::loopback(),
            untrusted: Untrusted::default(),
            limits: SourceLimits::default(),
            public_address: None,
            rtp_timeout: Duration::from_secs(60),
            lobby_reminder: pinbridge_bridge::Config::default().lobby_reminder,
            tcp: TcpLimits::default(),
            tls: None,
        }
    }
}

/// Why the bridge cannot start.
#[derive(Debug, Error)]
pub enum DialInError {
    /// A socket cannot be opened.
    #[error("cannot listen for SIP on {transport} {address}: {source}")]
    Bind {
        transport: &'static str,
        address: SocketAddr,
        source: std::io::Error,
    },
    /// The embedded prompts or music are unusable.
    #[error(transparent)]
    Assets(#[from] pinbridge_bridge::AssetError),
    /// The store could not be read.
    #[error("cannot read the store: {0}")]
    Store(#[from] pinbridge_app::AppError),
    /// The media thread could not be started.
    #[error("cannot start the media thread: {0}")]
    Thread(std::io::Error),
}

/// The running dial-in bridge: the SIP task, the media engine and the control task.
pub struct DialIn {
    udp: SocketAddr,
    tcp: SocketAddr,
    tls: Option<SocketAddr>,
    sip_inputs: Sender<sip::SipInput>,
    sip_task: tokio::task::JoinHandle<()>,
    control_task: tokio::task::JoinHandle<()>,
    engine_thread: std::thread::JoinHandle<()>,
}

impl DialIn {
    /// Opens the SIP sockets, starts the SIP task, the media engine and the control
    /// task, and returns once calls can be taken.
    pub async fn start(app: App, config: DialInConfig) -> Result<Self, DialInError> {
        let udp = tokio::net::UdpSocket::bind(config.sip_udp)
            .await
            .map_err(|source| DialInError::Bind {
                transport: "udp",
                address: config.sip_udp,
                source,
            })?;
        let tcp = tokio::net::TcpListener::bind(config.sip_tcp)
            .await
            .map_err(|source| DialInError::Bind {
                transport: "tcp",
                address: config.sip_tcp,
                source,
            })?;
        let bind_error = |transport, address, source| DialInError::Bind {
            transport,
            address,
            source,
        };
        let udp_address = udp
            .local_addr()
            .map_err(|e| bind_error("udp", config.sip_udp, e))?;
        let tcp_address = tcp
            .local_addr()
            .map_err(|e| bind_error("tcp", config.sip_tcp, e))?;
        let tls = match &config.tls {
            Some(tls) => {
                let listener = tokio::net::TcpListener::bind(tls.address)
                    .await
                    .map_err(|e| bind_error("tls", tls.address, e))?;
                let address = listener
                    .local_addr()
                    .map_err(|e| bind_error("tls", tls.address, e))?;
                Some((
                    address,
                    sip::TlsListener {
                        listener,
                        acceptor: tokio_rustls::TlsAcceptor::from(Arc::clone(&tls.server)),
                        plain_rtp: tls.plain_rtp,
                    },
                ))
            }
            None => None,
        };
        let tls_address = tls.as_ref().map(|(address, _)| *address);

        let assets = Arc::new(pinbridge_bridge::Assets::load()?);
        app.reset_live_state().await?;
        let directory = control::load_directory(&app).await?;
        let ports = Arc::new(Mutex::new(PortAllocator::new(config.rtp_ports)));

        let (engine_tx, engine_rx) = std::sync::mpsc::sync_channel(engine::ENGINE_QUEUE);
        let (control_tx, control_rx) = channel(control::CONTROL_QUEUE);
        let (sip_tx, sip_rx) = channel(SIP_QUEUE);
        let (engine_sip_tx, mut engine_sip_rx) = channel(SIP_QUEUE);

        let core = engine::Engine::core(
            pinbridge_bridge::Config {
                rtp_timeout: config.rtp_timeout,
                lobby_reminder: config.lobby_reminder,
                ..pinbridge_bridge::Config::default()
            },
            assets,
            directory.clone(),
        );
        let engine = engine::Engine::new(
            core,
            engine::EngineLinks {
                sip: engine_sip_tx,
                control: control_tx,
                ports: Arc::clone(&ports),
            },
        )
        .map_err(DialInError::Thread)?;
        let engine_thread = engine::spawn(engine, engine_rx).map_err(DialInError::Thread)?;

        // The engine's hang-ups join the SIP task's other inputs.
        let forward = sip_tx.clone();
        tokio::spawn(async move {
            while let Some(command) = engine_sip_rx.recv().await {
                if forward.send(sip::SipInput::Engine(command)).await.is_err() {
                    break;
                }
            }
        });

        let control_task =
            tokio::spawn(control::run(app, control_rx, engine_tx.clone(), directory));

        let rtp_bind = config.sip_udp.ip();
        let sdp_address = config
            .public_address
            .or_else(|| (!rtp_bind.is_unspecified()).then_some(rtp_bind));
        let endpoint = Endpoint::new(EndpointConfig {
            trunk_allow: config.trunk_allow.clone(),
            untrusted: config.untrusted,
            limits: config.limits,
            public_address: config.public_address,
            seed: rand_core::OsRng.next_u64(),
            ..EndpointConfig::default()
        });
        let context = sip::SipContext {
            endpoint,
            udp,
            tcp,
            engine: engine_tx,
            ports,
            rtp_bind,
            sdp_address,
            tcp_limits: config.tcp,
            tls: tls.map(|(_, listener)| listener),
        };
        let sip_task = tokio::spawn(sip::run(context, sip_tx.clone(), sip_rx));
        tracing::info!(
            udp = %udp_address,
            tcp = %tcp_address,
            tls = ?tls_address,
            rtp_ports = %config.rtp_ports,
            "SIP bridge listening"
        );
        Ok(Self {
            udp: udp_address,
            tcp: tcp_address,
            tls: tls_address,
            sip_inputs: sip_tx,
            sip_task,
            control_task,
            engine_thread,
        })
    }

    /// The bound UDP address.
    pub fn udp_address(&self) -> SocketAddr {
        self.udp
    }

    /// The bound TCP address.
    pub fn tcp_address(&self) -> SocketAddr {
        self.tcp
    }

    /// The bound TLS address, when SIP over TLS is on.
    pub fn tls_address(&self) -> Option<SocketAddr> {
        self.tls
    }

    /// Hangs up every call (BYE), waits briefly for the answers, and stops.
    pub async fn shutdown(self) {
        let _ = self.sip_inputs.send(sip::SipInput::Shutdown).await;
        let _ = self.sip_task.await;
        let engine = self.engine_thread;
        let _ = tokio::task::spawn_blocking(move || engine.join()).await;
        // The engine is gone, so the control task's request channel has closed.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.control_task).await;
        tracing::info!("SIP bridge stopped");
    }
}
