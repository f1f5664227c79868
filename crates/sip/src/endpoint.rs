//! The call API of the user-agent server: the [`Endpoint`] a driver feeds with messages
//! and time and drains of transmissions and events, on top of the transaction layer
//! ([`crate::transaction`]) and the dialog layer ([`crate::dialog`]). It decides what
//! each request means for a call (the UAS core of RFC 3261 §8.2 and §13.3, CANCEL,
//! BYE, re-INVITE, INFO, OPTIONS, session timers) and builds the responses.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use thiserror::Error;

use pinbridge_domain::Cidr;

use crate::dialog::{Dialog, DialogKey};
use crate::dtmf::{parse_dtmf, parse_dtmf_relay};
use crate::error::{CallError, ParseError};
use crate::header::{NameAddr, Refresher, SessionExpires, Via};
use crate::limit::{RequestClass, SourceLimiter, SourceLimits};
use crate::message::{Headers, Message, Method, Request, Response, salvage_request};
use crate::response::{Reply, build_response, options_reply, response_destination};
use crate::sdp::SessionDescription;
use crate::transaction::{
    CallTimer, ClientState, ClientTimeout, ClientTimer, ClientTransaction, ServerState,
    ServerTransaction, TimerConfig, TimerKey, TimerTable, Transactions, TxKey,
};
use crate::uri::Scheme;

/// The methods we implement, as advertised in Allow.
pub const ALLOWED_METHODS: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO";
/// The option tags we support, as advertised in Supported.
pub const SUPPORTED_OPTIONS: &str = "timer";
/// User-Agent substrings (lowercase) of well-known scanners and attack tools: a request
/// whose User-Agent contains one, in any case, is dropped unanswered, whatever its source.
pub const SCANNER_USER_AGENTS: &[&str] = &[
    "friendly-scanner",
    "friendly-request",
    "sipvicious",
    "sipcli",
    "sip-scan",
    "sipsak",
    "sundayddr",
    "iwar",
    "sivus",
    "vaxsipuseragent",
    "vaxipuseragent",
    "pplsip",
    "siparator",
    "sipptk",
    "smap",
];

/// What a request from outside the trunk allow-list gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Untrusted {
    /// A stateless 403 Forbidden (within the source's rate limits), so that a trunk
    /// missing from the allow-list sees why its calls fail.
    #[default]
    Forbidden,
    /// Nothing: the datagram is dropped before it is even parsed.
    Drop,
}

impl std::str::FromStr for Untrusted {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "403" => Ok(Self::Forbidden),
            "drop" => Ok(Self::Drop),
            other => Err(format!("{other:?} is neither 403 nor drop")),
        }
    }
}

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Forbidden => "403",
            Self::Drop => "drop",
        })
    }
}

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, so the endpoint retransmits.
    Udp,
    /// TCP: reliable, messages framed by Content-Length.
    Tcp,
    /// TLS over TCP.
    Tls,
}

impl Transport {
    /// Whether the transport delivers reliably (no retransmissions needed).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Self::Udp)
    }

    /// The token used in Via.
    pub fn via_token(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
        }
    }
}

/// Where in-dialog requests we send (BYE) go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RequestRouting {
    /// To the first Record-Route entry, else the remote Contact, when it is an IP
    /// literal; otherwise to the address the INVITE came from (RFC 3261 behaviour,
    /// without DNS). Over TCP and TLS always on the connection the call came in on.
    #[default]
    RemoteTarget,
    /// Always to the address the INVITE came from (for trunks behind NAT that put a
    /// private address in Contact).
    Source,
}

/// Session timer policy (RFC 4028).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimerConfig {
    /// The smallest session interval accepted, in seconds (at least 90); smaller
    /// requests get 422 with this value in Min-SE.
    pub min_se: u32,
    /// The largest session interval granted, in seconds; larger requests are lowered.
    pub max_interval: u32,
}

impl Default for SessionTimerConfig {
    fn default() -> Self {
        Self {
            min_se: 90,
            max_interval: 1800,
        }
    }
}

/// How the endpoint behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Peers whose requests are served; everyone else gets what [`Untrusted`] says.
    /// Defaults to loopback.
    pub trunk_allow: Vec<Cidr>,
    /// What requests from outside the allow-list get.
    pub untrusted: Untrusted,
    /// The per-source rate limits (trunks are exempt unless they say otherwise).
    pub limits: SourceLimits,
    /// The most server transactions held at once; a new request beyond it gets a
    /// stateless 503 with Retry-After.
    pub max_transactions: usize,
    /// The most calls (dialogs) held at once, counting ones whose BYE is in flight; a
    /// new INVITE beyond it gets a stateless 503 with Retry-After.
    pub max_calls: usize,
    /// Timer base values.
    pub timers: TimerConfig,
    /// Session timer policy.
    pub session_timer: SessionTimerConfig,
    /// The address put in Contact and Via instead of the local address (behind NAT or
    /// when bound to a wildcard address).
    pub public_address: Option<IpAddr>,
    /// Where in-dialog requests go.
    pub request_routing: RequestRouting,
    /// The value of the Server and User-Agent headers.
    pub user_agent: String,
    /// Seed for tags, branches and Call-ID-independent randomness; the driver draws it
    /// from the operating system.
    pub seed: u64,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            trunk_allow: Cidr::loopback(),
            untrusted: Untrusted::default(),
            limits: SourceLimits::default(),
            max_transactions: 16_384,
            max_calls: 8_192,
            timers: TimerConfig::default(),
            session_timer: SessionTimerConfig::default(),
            public_address: None,
            request_routing: RequestRouting::default(),
            user_agent: "pinbridge".into(),
            seed: 0x5eed,
        }
    }
}

/// One received message: a UDP datagram, or one frame cut by [`crate::StreamFramer`].
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The transport it arrived on.
    pub transport: Transport,
    /// The peer address (for streams: the connection's peer).
    pub source: SocketAddr,
    /// The local address it arrived on; it goes into Contact and Via.
    pub local: SocketAddr,
    /// The message bytes.
    pub contents: &'a [u8],
}

/// Bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The transport to use.
    pub transport: Transport,
    /// The destination; for streams, the peer of the connection to write to (open one
    /// if none exists).
    pub destination: SocketAddr,
    /// The serialized message.
    pub contents: Vec<u8>,
}

/// A handle naming one call for the lifetime of the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallHandle(u64);

impl CallHandle {
    /// The numeric value, for logs.
    pub fn value(self) -> u64 {
        self.0
    }
}

/// A new call, reported by [`Event::IncomingCall`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingCall {
    /// The handle for commands on this call.
    pub call: CallHandle,
    /// The SIP Call-ID.
    pub call_id: String,
    /// The caller (From).
    pub from: NameAddr,
    /// The callee (To).
    pub to: NameAddr,
    /// The called number: the Request-URI user part, else the To user part, without
    /// user parameters; empty when neither has one.
    pub called_number: String,
    /// The SDP offer, if the INVITE carried one (otherwise the SDP given to
    /// [`Endpoint::accept`] is an offer and the answer arrives with
    /// [`Event::CallConfirmed`]).
    pub offer: Option<SessionDescription>,
    /// The peer address.
    pub source: SocketAddr,
    /// The transport.
    pub transport: Transport,
    /// The User-Agent header, if any.
    pub user_agent: Option<String>,
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The peer sent BYE.
    RemoteBye,
    /// The application hung up (BYE sent, or the call was refused before answer).
    LocalHangup,
    /// The application rejected the call.
    Rejected,
    /// No ACK arrived for our 2xx within 64·T1; a BYE was sent.
    AckTimeout,
    /// No session refresh arrived in time (RFC 4028); a BYE was sent.
    SessionExpired,
}

/// Something the application must know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new call: answer it with [`Endpoint::ringing`], [`Endpoint::accept`] or
    /// [`Endpoint::reject`]. Every call ends with exactly one [`Event::CallCancelled`]
    /// or [`Event::CallEnded`].
    IncomingCall(Box<IncomingCall>),
    /// The ACK for our 2xx arrived; `sdp` is the answer when our 2xx carried the offer.
    CallConfirmed {
        /// The call.
        call: CallHandle,
        /// The SDP answer carried by the ACK, if any.
        sdp: Option<SessionDescription>,
    },
    /// The caller cancelled before the call was answered (487 was sent).
    CallCancelled {
        /// The call.
        call: CallHandle,
    },
    /// The call is over; the handle is no longer valid.
    CallEnded {
        /// The call.
        call: CallHandle,
        /// Why.
        reason: EndReason,
    },
    /// A re-INVITE with a new offer (or none): answer with
    /// [`Endpoint::answer_reinvite`] or [`Endpoint::reject_reinvite`]. Refreshes that
    /// repeat the previous offer unchanged are answered by the endpoint itself.
    ReInvite {
        /// The call.
        call: CallHandle,
        /// The new offer; `None` when our 2xx must carry an offer.
        offer: Option<SessionDescription>,
    },
    /// A DTMF digit sent by SIP INFO.
    Dtmf {
        /// The call.
        call: CallHandle,
        /// `0`–`9`, `*`, `#` or `A`–`D`.
        digit: char,
        /// The duration in milliseconds, if given.
        duration_ms: Option<u32>,
    },
}

/// An output of the endpoint.
// Events are rare signalling outputs, drained one at a time; boxing them would only
// add an allocation to every transmit.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Bytes to send.
    Transmit(Transmit),
    /// An event for the application.
    Event(Event),
}

/// Why an input was dropped without a response (for logs and metrics).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InputError {
    /// The message could not be parsed, or lacks what a response needs.
    #[error("malformed message: {0}")]
    Malformed(#[from] ParseError),
    /// The peer is not in the trunk allow-list (a 403 may have been sent).
    #[error("peer is not allowed")]
    Denied,
    /// The User-Agent names a known scanner ([`SCANNER_USER_AGENTS`]).
    #[error("scanner user agent")]
    Scanner,
    /// The source has sent more requests of this class than its rate limit allows.
    #[error("rate limit of {} requests exceeded", .0.name())]
    RateLimited(RequestClass),
    /// The endpoint holds as many transactions or calls as it may (a 503 was sent).
    #[error("too many transactions or calls")]
    Overloaded,
    /// A response or ACK matching no transaction or dialog.
    #[error("no matching transaction or dialog")]
    Unmatched,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// The INVITE awaits a final response.
    Offered,
    /// The 2xx was sent; waiting for the ACK.
    Answered,
    /// Established.
    Confirmed,
    /// Our BYE is on its way.
    Terminating,
}

impl CallState {
    fn name(self) -> &'static str {
        match self {
            Self::Offered => "offered",
            Self::Answered => "answered",
            Self::Confirmed => "confirmed",
            Self::Terminating => "terminating",
        }
    }
}

#[derive(Debug, Clone)]
struct PendingInvite {
    tx: u64,
    reinvite: bool,
    session: Option<SessionTimer>,
}

#[derive(Debug, Clone)]
struct Unacked {
    response: Vec<u8>,
    destination: SocketAddr,
    cseq: u32,
    interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SessionTimer {
    interval: u32,
    refresher: Refresher,
}

/// A call: its dialog and what the UAS core tracks on top of it.
#[derive(Debug)]
struct Call {
    state: CallState,
    dialog: Dialog,
    pending_invite: Option<PendingInvite>,
    unacked: Option<Unacked>,
    session: Option<SessionTimer>,
    remote_sdp: Option<SessionDescription>,
    local_sdp: Option<SessionDescription>,
    /// The BYE to send once the ACK arrives (the application hung up before it did).
    bye_after_ack: bool,
    /// Whether the application has been told the call ended.
    ended: bool,
    bye_tx: Option<u64>,
}

/// The SIP user-agent server. See the crate documentation for how a driver uses it.
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    transactions: Transactions,
    calls: HashMap<u64, Call>,
    dialogs: HashMap<DialogKey, u64>,
    timers: TimerTable,
    outputs: VecDeque<Output>,
    limiter: SourceLimiter,
    next_id: u64,
    random: u64,
}

impl Endpoint {
    /// An endpoint with no calls.
    pub fn new(config: EndpointConfig) -> Self {
        let random = config.seed;
        let limiter = SourceLimiter::new(config.limits);
        Self {
            limiter,
            config,
            transactions: Transactions::default(),
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            timers: TimerTable::default(),
            outputs: VecDeque::new(),
            next_id: 1,
            random,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// The number of calls the endpoint holds state for (including ones whose BYE is
    /// still in flight).
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// The number of live transactions, server and client.
    pub fn transaction_count(&self) -> usize {
        self.transactions.len()
    }

    /// The number of source addresses the rate limiter tracks; never more than
    /// [`SourceLimits::table_size`].
    pub fn limited_sources(&self) -> usize {
        self.limiter.len()
    }

    /// The next queued output: transmissions and events, in the order they arose.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The earliest instant at which [`Endpoint::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// Runs every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(key) = self.timers.pop_expired(now) {
            match key {
                TimerKey::Server(id, timer) => {
                    let timers = self.config.timers;
                    if let Some(transmit) =
                        self.transactions
                            .server_timer(&mut self.timers, &timers, now, id, timer)
                    {
                        self.outputs.push_back(Output::Transmit(transmit));
                    }
                }
                TimerKey::Client(id, timer) => self.client_timer(now, id, timer),
                TimerKey::Call(id, timer) => self.call_timer(now, id, timer),
            }
        }
    }

    /// Handles one received message. Errors say why nothing (or only a stateless
    /// 400/403) was sent; they never affect other calls.
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) -> Result<(), InputError> {
        if input
            .contents
            .iter()
            .all(|b| matches!(b, b'\r' | b'\n' | b' ' | 0))
        {
            // Keep-alive datagrams carry no message.
            return Ok(());
        }
        let trusted = self.is_allowed(input.source.ip());
        // A response from outside answers nothing of ours: it is not even parsed.
        let response = RequestClass::is_response(input.contents);
        if !trusted && (response || self.config.untrusted == Untrusted::Drop) {
            return Err(InputError::Denied);
        }
        // Responses from a trunk belong to our own requests and are not limited.
        if !response && (!trusted || self.config.limits.limit_trunks) {
            let class = RequestClass::of(input.contents);
            if !self.limiter.allow(now, input.source.ip(), class) {
                return Err(InputError::RateLimited(class));
            }
        }
        let message = match Message::parse(input.contents) {
            Ok(message) => message,
            Err(error) => {
                self.refuse_unparsed(input, &error);
                return Err(error.into());
            }
        };
        match message {
            Message::Request(request) if is_scanner(&request.headers) => Err(InputError::Scanner),
            Message::Request(request) => self.handle_request(now, request, input),
            Message::Response(response) => self.handle_response(now, response, input),
        }
    }

    // ----- application commands -----

    /// Sends 180 Ringing for a call that has not been answered.
    pub fn ringing(&mut self, now: Instant, call: CallHandle) -> Result<(), CallError> {
        let (tx, reply) = {
            let c = self.live_call(call)?;
            let pending = match (&c.pending_invite, c.state) {
                (Some(p), CallState::Offered) => p.tx,
                _ => return Err(invalid(c.state, "ring")),
            };
            (pending, self.dialog_reply(c, Vec::new(), None))
        };
        self.respond(now, tx, 180, "Ringing", reply);
        Ok(())
    }

    /// Answers a call with 200 OK carrying `sdp` (the answer to the caller's offer, or
    /// our offer when the INVITE had none). The 200 is retransmitted until the ACK
    /// arrives; without an ACK after 64·T1 the call ends with [`EndReason::AckTimeout`].
    pub fn accept(
        &mut self,
        now: Instant,
        call: CallHandle,
        sdp: &SessionDescription,
    ) -> Result<(), CallError> {
        let c = self.live_call(call)?;
        match (&c.pending_invite, c.state) {
            (Some(p), CallState::Offered) if !p.reinvite => {}
            _ => return Err(invalid(c.state, "accept")),
        }
        self.send_2xx(now, call.0, sdp);
        Ok(())
    }

    /// Rejects a call that has not been answered with a final status from 300 to 699.
    pub fn reject(
        &mut self,
        now: Instant,
        call: CallHandle,
        status: u16,
        reason: &str,
    ) -> Result<(), CallError> {
        self.reject_with_warning(now, call, status, reason, None)
    }

    /// Refuses a call that has not been answered, saying why in a Warning header
    /// (RFC 3261 §20.43, code 399) when `warning` is given.
    pub fn reject_with_warning(
        &mut self,
        now: Instant,
        call: CallHandle,
        status: u16,
        reason: &str,
        warning: Option<&str>,
    ) -> Result<(), CallError> {
        if !(300..=699).contains(&status) {
            return Err(CallError::InvalidStatus(status));
        }
        let c = self.live_call(call)?;
        match (&c.pending_invite, c.state) {
            (Some(p), CallState::Offered) if !p.reinvite => {}
            _ => return Err(invalid(c.state, "reject")),
        }
        let headers = warning
            .map(|w| {
                (
                    "Warning",
                    format!("399 pinbridge \"{}\"", w.replace(['"', '\\'], "")),
                )
            })
            .into_iter()
            .collect();
        self.refuse_call(now, call.0, status, reason, EndReason::Rejected, headers);
        Ok(())
    }

    /// Ends a call: before the answer it is refused with 480; once answered a BYE is
    /// sent (after the ACK, if that has not arrived yet). [`Event::CallEnded`] with
    /// [`EndReason::LocalHangup`] follows at once.
    pub fn hangup(&mut self, now: Instant, call: CallHandle) -> Result<(), CallError> {
        let state = self.live_call(call)?.state;
        match state {
            CallState::Offered => {
                self.refuse_call(
                    now,
                    call.0,
                    480,
                    "Temporarily Unavailable",
                    EndReason::LocalHangup,
                    Vec::new(),
                );
            }
            CallState::Answered => {
                if let Some(c) = self.calls.get_mut(&call.0) {
                    c.bye_after_ack = true;
                }
                self.end(call.0, EndReason::LocalHangup);
            }
            CallState::Confirmed => {
                self.fail_pending_reinvite(now, call.0);
                if self.calls.get(&call.0).is_some_and(|c| c.unacked.is_some()) {
                    if let Some(c) = self.calls.get_mut(&call.0) {
                        c.bye_after_ack = true;
                    }
                } else {
                    self.send_bye(now, call.0);
                }
                self.end(call.0, EndReason::LocalHangup);
            }
            CallState::Terminating => return Err(CallError::UnknownCall),
        }
        Ok(())
    }

    /// Answers a pending re-INVITE with 200 OK carrying `sdp` (our answer, or our offer
    /// when the re-INVITE had none; its answer then arrives with [`Event::CallConfirmed`]).
    pub fn answer_reinvite(
        &mut self,
        now: Instant,
        call: CallHandle,
        sdp: &SessionDescription,
    ) -> Result<(), CallError> {
        let c = self.live_call(call)?;
        match &c.pending_invite {
            Some(p) if p.reinvite => {}
            _ => return Err(invalid(c.state, "answer a re-invite")),
        }
        self.send_2xx(now, call.0, sdp);
        Ok(())
    }

    /// Rejects a pending re-INVITE (488 for an unacceptable offer); the call goes on
    /// with the previous session.
    pub fn reject_reinvite(
        &mut self,
        now: Instant,
        call: CallHandle,
        status: u16,
        reason: &str,
    ) -> Result<(), CallError> {
        if !(300..=699).contains(&status) {
            return Err(CallError::InvalidStatus(status));
        }
        let c = self.live_call(call)?;
        let tx = match &c.pending_invite {
            Some(p) if p.reinvite => p.tx,
            _ => return Err(invalid(c.state, "reject a re-invite")),
        };
        let reply = self.dialog_reply(c, Vec::new(), None);
        if let Some(c) = self.calls.get_mut(&call.0) {
            c.pending_invite = None;
        }
        self.respond(now, tx, status, reason, reply);
        Ok(())
    }

    // ----- requests -----

    fn handle_request(
        &mut self,
        now: Instant,
        request: Request,
        input: Input<'_>,
    ) -> Result<(), InputError> {
        let via = match request.headers.top_via() {
            Ok(via) => via,
            Err(error) => {
                // Outsiders learn nothing; trunks hear what is wrong, if their Via
                // still says where to.
                let reply_via = request.headers.reply_via();
                if let Some(via) = reply_via
                    .filter(|_| self.is_allowed(input.source.ip()) && request.method != Method::Ack)
                {
                    let (status, reason) = refusal(&error);
                    let (method, headers) = (&request.method, &request.headers);
                    self.respond_stateless(method, headers, &via, input, status, &reason);
                }
                return Err(error.into());
            }
        };
        if !self.is_allowed(input.source.ip()) {
            if request.method != Method::Ack {
                let (method, headers) = (&request.method, &request.headers);
                self.respond_stateless(method, headers, &via, input, 403, "Forbidden");
            }
            return Err(InputError::Denied);
        }
        if let Err(error) = request.validate() {
            if request.method != Method::Ack {
                let (status, reason) = refusal(&error);
                let (method, headers) = (&request.method, &request.headers);
                self.respond_stateless(method, headers, &via, input, status, &reason);
            }
            return Err(error.into());
        }
        let key = TxKey::for_request(&request, &via);
        if request.method == Method::Ack {
            return self.handle_ack(now, request, key);
        }
        if let Some(id) = self.transactions.server_for(&key) {
            self.absorb_retransmission(id);
            return Ok(());
        }
        let new_dialog = request.method == Method::Invite
            && request.headers.to().is_ok_and(|to| to.tag().is_none());
        if self.transactions.server_len() >= self.config.max_transactions
            || (new_dialog && self.calls.len() >= self.config.max_calls)
        {
            let (method, headers) = (&request.method, &request.headers);
            self.respond_overloaded(method, headers, &via, input);
            return Err(InputError::Overloaded);
        }
        let id = self.new_id();
        let destination = response_destination(&via, input.source, input.transport);
        self.transactions.start_server(
            id,
            ServerTransaction {
                key,
                request: request.clone(),
                state: if request.method == Method::Invite {
                    ServerState::Proceeding
                } else {
                    ServerState::Trying
                },
                source: input.source,
                destination,
                transport: input.transport,
                last_response: None,
                retransmit_interval: self.config.timers.t1,
                call: None,
            },
        );
        if request.method == Method::Invite {
            self.respond(now, id, 100, "Trying", Reply::default());
        }
        self.dispatch(now, id, request, input);
        Ok(())
    }

    fn dispatch(&mut self, now: Instant, tx: u64, request: Request, input: Input<'_>) {
        let method = request.method.clone();
        if !matches!(
            method,
            Method::Invite | Method::Bye | Method::Cancel | Method::Options | Method::Info
        ) {
            let reply = Reply {
                headers: vec![("Allow", ALLOWED_METHODS.to_owned())],
                ..Reply::default()
            };
            // §8.2.1: 405 for a method we know but do not take, 501 for one we do not
            // know (§21.5.2).
            if matches!(method, Method::Other(_)) {
                self.respond(now, tx, 501, "Not Implemented", reply);
            } else {
                self.respond(now, tx, 405, "Method Not Allowed", reply);
            }
            return;
        }
        if method != Method::Options && request.headers.max_forwards().ok().flatten() == Some(0) {
            self.respond(now, tx, 483, "Too Many Hops", Reply::default());
            return;
        }
        if !matches!(request.uri.scheme, Scheme::Sip | Scheme::Sips | Scheme::Tel) {
            self.respond(now, tx, 416, "Unsupported URI Scheme", Reply::default());
            return;
        }
        if method != Method::Cancel {
            let unsupported: Vec<&str> = request
                .headers
                .require()
                .into_iter()
                .filter(|t| !t.eq_ignore_ascii_case("timer"))
                .collect();
            if !unsupported.is_empty() {
                let reply = Reply {
                    headers: vec![("Unsupported", unsupported.join(", "))],
                    ..Reply::default()
                };
                self.respond(now, tx, 420, "Bad Extension", reply);
                return;
            }
        }
        if method == Method::Cancel {
            self.handle_cancel(now, tx);
            return;
        }
        let (Ok(from), Ok(to), Ok(call_id)) = (
            request.headers.from(),
            request.headers.to(),
            request.headers.call_id(),
        ) else {
            return;
        };
        if let Some(local_tag) = to.tag() {
            let key = (
                call_id.to_owned(),
                local_tag.to_owned(),
                from.tag().unwrap_or_default().to_owned(),
            );
            match self.dialogs.get(&key).copied() {
                Some(call) => self.in_dialog(now, tx, call, request),
                None => self.respond(
                    now,
                    tx,
                    481,
                    "Call/Transaction Does Not Exist",
                    Reply::default(),
                ),
            }
            return;
        }
        match method {
            Method::Invite => self.new_call(now, tx, request, input),
            Method::Options => self.respond(now, tx, 200, "OK", options_reply()),
            _ => self.respond(
                now,
                tx,
                481,
                "Call/Transaction Does Not Exist",
                Reply::default(),
            ),
        }
    }

    fn new_call(&mut self, now: Instant, tx: u64, request: Request, input: Input<'_>) {
        let headers = &request.headers;
        let (Ok(from), Ok(to), Ok(call_id), Ok(cseq)) = (
            headers.from(),
            headers.to(),
            headers.call_id(),
            headers.cseq(),
        ) else {
            return;
        };
        let remote_tag = from.tag().unwrap_or_default().to_owned();
        // A merged request (§8.2.2.2): same dialog identifiers and CSeq, other branch.
        let merged = self.calls.values().any(|c| {
            c.dialog.call_id == call_id
                && c.dialog.remote_tag == remote_tag
                && c.dialog.remote_cseq == cseq.seq
                && c.state == CallState::Offered
        });
        if merged {
            self.respond(now, tx, 482, "Loop Detected", Reply::default());
            return;
        }
        if !self.sdp_acceptable(now, tx, headers) {
            return;
        }
        let offer = match self.body_sdp(now, tx, &request) {
            Ok(offer) => offer,
            Err(()) => return,
        };
        let session = match self.negotiate_session_timer(now, tx, headers) {
            Ok(session) => session,
            Err(()) => return,
        };
        let remote_target = headers
            .contacts()
            .ok()
            .and_then(|c| c.into_iter().next())
            .map_or_else(|| from.uri.clone(), |c| c.uri);
        let route_set = headers.record_routes().unwrap_or_default();
        let local_tag = self.random_token();
        let local_cseq = (self.random() % 10_000) as u32 + 1;
        let to_value = headers.first("To").unwrap_or_default();
        let local_party = format!("{to_value};tag={local_tag}");
        let remote_party = headers.first("From").unwrap_or_default().to_owned();
        let id = self.new_id();
        let call = Call {
            state: CallState::Offered,
            dialog: Dialog {
                call_id: call_id.to_owned(),
                local_tag,
                remote_tag,
                local_party,
                remote_party,
                remote_target,
                route_set,
                local_cseq,
                remote_cseq: cseq.seq,
                source: input.source,
                local: input.local,
                transport: input.transport,
            },
            pending_invite: Some(PendingInvite {
                tx,
                reinvite: false,
                session,
            }),
            unacked: None,
            session: None,
            remote_sdp: offer.clone(),
            local_sdp: None,
            bye_after_ack: false,
            ended: false,
            bye_tx: None,
        };
        self.dialogs.insert(call.dialog.key(), id);
        self.calls.insert(id, call);
        self.transactions.bind_call(tx, id);
        let called_number = request.called_number().unwrap_or_default();
        self.event(Event::IncomingCall(Box::new(IncomingCall {
            call: CallHandle(id),
            call_id: call_id.to_owned(),
            from,
            to,
            called_number,
            offer,
            source: input.source,
            transport: input.transport,
            user_agent: headers.first("User-Agent").map(str::to_owned),
        })));
    }

    /// Whether our 2xx may carry SDP by the request's Accept; otherwise answers 406
    /// through the transaction (RFC 3261 §20.1, RFC 4475 §3.3.15).
    fn sdp_acceptable(&mut self, now: Instant, tx: u64, headers: &Headers) -> bool {
        if accepts_sdp(headers) {
            return true;
        }
        let reply = Reply {
            headers: vec![
                ("Accept", "application/sdp".to_owned()),
                (
                    "Warning",
                    "399 pinbridge \"the answer is application/sdp, which Accept leaves out\""
                        .to_owned(),
                ),
            ],
            ..Reply::default()
        };
        self.respond(now, tx, 406, "Not Acceptable", reply);
        false
    }

    /// Reads an SDP body; on failure answers 400 or 415 through the transaction.
    fn body_sdp(
        &mut self,
        now: Instant,
        tx: u64,
        request: &Request,
    ) -> Result<Option<SessionDescription>, ()> {
        if request.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let content_type = request.headers.content_type();
        if content_type
            .as_deref()
            .is_some_and(|t| t != "application/sdp")
        {
            let reply = Reply {
                headers: vec![("Accept", "application/sdp".to_owned())],
                ..Reply::default()
            };
            self.respond(now, tx, 415, "Unsupported Media Type", reply);
            return Err(());
        }
        match SessionDescription::parse(&request.body) {
            Ok(sdp) => Ok(Some(sdp)),
            Err(_) => {
                self.respond(now, tx, 400, "Malformed SDP", Reply::default());
                Err(())
            }
        }
    }

    /// RFC 4028 §9: validates Session-Expires, answers 422 when it is too small.
    fn negotiate_session_timer(
        &mut self,
        now: Instant,
        tx: u64,
        headers: &Headers,
    ) -> Result<Option<SessionTimer>, ()> {
        let (expires, min_se) = match (headers.session_expires(), headers.min_se()) {
            (Ok(e), Ok(m)) => (e, m),
            _ => {
                self.respond(now, tx, 400, "Malformed Session Timer", Reply::default());
                return Err(());
            }
        };
        let Some(expires) = expires else {
            return Ok(None);
        };
        let our_min = self.config.session_timer.min_se.max(90);
        if expires.delta < our_min {
            let reply = Reply {
                headers: vec![("Min-SE", our_min.to_string())],
                ..Reply::default()
            };
            self.respond(now, tx, 422, "Session Interval Too Small", reply);
            return Err(());
        }
        let floor = min_se.unwrap_or(90).max(our_min);
        let interval = if expires.delta > self.config.session_timer.max_interval {
            self.config.session_timer.max_interval.max(floor)
        } else {
            expires.delta
        };
        // We never send refreshes ourselves, so the caller must be the refresher; when it
        // asks us to refresh or does not support the extension, we decline session timers
        // by leaving Session-Expires out of the 2xx (RFC 4028 §9 allows this).
        let caller_refreshes = match expires.refresher {
            Some(Refresher::Uac) => true,
            Some(Refresher::Uas) => false,
            None => headers.has_token("Supported", "timer"),
        };
        Ok(caller_refreshes.then_some(SessionTimer {
            interval,
            refresher: Refresher::Uac,
        }))
    }

    fn in_dialog(&mut self, now: Instant, tx: u64, call: u64, request: Request) {
        let Ok(cseq) = request.headers.cseq() else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if !c.dialog.accept_remote_cseq(cseq.seq) {
            self.respond(now, tx, 500, "CSeq Out of Order", Reply::default());
            return;
        }
        self.transactions.bind_call(tx, call);
        match request.method {
            Method::Bye => self.remote_bye(now, tx, call),
            Method::Info => self.info(now, tx, call, &request),
            Method::Options => self.respond(now, tx, 200, "OK", options_reply()),
            Method::Invite => self.reinvite(now, tx, call, &request),
            _ => self.respond(now, tx, 405, "Method Not Allowed", Reply::default()),
        }
    }

    fn remote_bye(&mut self, now: Instant, tx: u64, call: u64) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let reply = self.dialog_reply(c, Vec::new(), None);
        let state = c.state;
        self.respond(now, tx, 200, "OK", reply);
        if state == CallState::Offered {
            // A BYE on the early dialog (§15): the INVITE gets 487.
            if let Some(p) = self
                .calls
                .get_mut(&call)
                .and_then(|c| c.pending_invite.take())
            {
                let reply = self
                    .calls
                    .get(&call)
                    .map(|c| self.dialog_reply(c, Vec::new(), None))
                    .unwrap_or_default();
                self.respond(now, p.tx, 487, "Request Terminated", reply);
            }
        } else {
            self.fail_pending_reinvite(now, call);
        }
        self.end(call, EndReason::RemoteBye);
        let bye_in_flight = self.calls.get(&call).is_some_and(|c| c.bye_tx.is_some());
        if !bye_in_flight {
            self.remove_call(call);
        }
    }

    fn info(&mut self, now: Instant, tx: u64, call: u64, request: &Request) {
        if request.body.iter().all(u8::is_ascii_whitespace) {
            self.respond(now, tx, 200, "OK", Reply::default());
            return;
        }
        let content_type = request.headers.content_type().unwrap_or_default();
        let parsed = match content_type.as_str() {
            "application/dtmf-relay" => parse_dtmf_relay(&request.body),
            "application/dtmf" => parse_dtmf(&request.body).map(|d| (d, None)),
            _ => {
                let reply = Reply {
                    headers: vec![(
                        "Accept",
                        "application/dtmf-relay, application/dtmf".to_owned(),
                    )],
                    ..Reply::default()
                };
                self.respond(now, tx, 415, "Unsupported Media Type", reply);
                return;
            }
        };
        match parsed {
            Some((digit, duration_ms)) => {
                self.respond(now, tx, 200, "OK", Reply::default());
                let ended = self.calls.get(&call).is_none_or(|c| c.ended);
                if !ended {
                    self.event(Event::Dtmf {
                        call: CallHandle(call),
                        digit,
                        duration_ms,
                    });
                }
            }
            None => self.respond(now, tx, 400, "Malformed DTMF", Reply::default()),
        }
    }

    fn reinvite(&mut self, now: Instant, tx: u64, call: u64, request: &Request) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.ended || c.state == CallState::Terminating {
            self.respond(
                now,
                tx,
                481,
                "Call/Transaction Does Not Exist",
                Reply::default(),
            );
            return;
        }
        if c.pending_invite.is_some() || c.state == CallState::Offered {
            let retry = (self.random() % 11).to_string();
            let reply = Reply {
                headers: vec![("Retry-After", retry)],
                ..Reply::default()
            };
            self.respond(now, tx, 500, "Server Internal Error", reply);
            return;
        }
        if c.unacked.is_some() {
            self.respond(now, tx, 491, "Request Pending", Reply::default());
            return;
        }
        if !self.sdp_acceptable(now, tx, &request.headers) {
            return;
        }
        let Ok(offer) = self.body_sdp(now, tx, request) else {
            return;
        };
        let Ok(session) = self.negotiate_session_timer(now, tx, &request.headers) else {
            return;
        };
        let contact = request
            .headers
            .contacts()
            .ok()
            .and_then(|c| c.into_iter().next());
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.dialog.refresh_target(contact);
        c.pending_invite = Some(PendingInvite {
            tx,
            reinvite: true,
            session,
        });
        self.transactions.bind_call(tx, call);
        // A refresh repeats the previous offer with the same version: answer it as before.
        let unchanged = match (&offer, &c.remote_sdp, &c.local_sdp) {
            (Some(new), Some(old), Some(_)) => {
                new.origin.session_id == old.origin.session_id
                    && new.origin.session_version == old.origin.session_version
            }
            _ => false,
        };
        let refresh_answer = if unchanged { c.local_sdp.clone() } else { None };
        if let Some(local) = refresh_answer {
            self.send_2xx(now, call, &local);
            return;
        }
        if offer.is_some() {
            c.remote_sdp = offer.clone();
        }
        self.event(Event::ReInvite {
            call: CallHandle(call),
            offer,
        });
    }

    fn handle_cancel(&mut self, now: Instant, tx: u64) {
        let Some(invite_key) = self
            .transactions
            .server(tx)
            .map(|t| t.key.cancelled_invite())
        else {
            return;
        };
        let Some(invite_tx) = self.transactions.server_for(&invite_key) else {
            self.respond(
                now,
                tx,
                481,
                "Call/Transaction Does Not Exist",
                Reply::default(),
            );
            return;
        };
        let (invite_state, call) = match self.transactions.server(invite_tx) {
            Some(t) => (t.state, t.call),
            None => return,
        };
        let to_tag = call
            .and_then(|c| self.calls.get(&c))
            .map(|c| c.dialog.local_tag.clone());
        self.respond(
            now,
            tx,
            200,
            "OK",
            Reply {
                to_tag,
                ..Reply::default()
            },
        );
        if invite_state != ServerState::Proceeding {
            return;
        }
        let Some(call) = call else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.pending_invite.as_ref().is_none_or(|p| p.tx != invite_tx) {
            return;
        }
        let reinvite = c.pending_invite.as_ref().is_some_and(|p| p.reinvite);
        c.pending_invite = None;
        let reply = self
            .calls
            .get(&call)
            .map(|c| self.dialog_reply(c, Vec::new(), None))
            .unwrap_or_default();
        self.respond(now, invite_tx, 487, "Request Terminated", reply);
        if !reinvite {
            if let Some(c) = self.calls.get_mut(&call) {
                c.ended = true;
            }
            self.event(Event::CallCancelled {
                call: CallHandle(call),
            });
            self.remove_call(call);
        }
    }

    fn handle_ack(&mut self, now: Instant, request: Request, key: TxKey) -> Result<(), InputError> {
        if let Some(id) = self.transactions.server_for(&key) {
            let timers = self.config.timers;
            // An ACK for a 2xx that reuses the INVITE branch is not absorbed here: it is
            // the dialog's ACK below.
            if self.transactions.ack(&mut self.timers, &timers, now, id) {
                return Ok(());
            }
        }
        let (Ok(from), Ok(to), Ok(call_id), Ok(cseq)) = (
            request.headers.from(),
            request.headers.to(),
            request.headers.call_id(),
            request.headers.cseq(),
        ) else {
            return Err(InputError::Unmatched);
        };
        let dialog = (
            call_id.to_owned(),
            to.tag().unwrap_or_default().to_owned(),
            from.tag().unwrap_or_default().to_owned(),
        );
        let Some(&call) = self.dialogs.get(&dialog) else {
            return Err(InputError::Unmatched);
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return Err(InputError::Unmatched);
        };
        if c.unacked.as_ref().is_none_or(|u| u.cseq != cseq.seq) {
            return Err(InputError::Unmatched);
        }
        c.unacked = None;
        if c.state == CallState::Answered {
            c.state = CallState::Confirmed;
        }
        self.timers
            .cancel(TimerKey::Call(call, CallTimer::Retransmit2xx));
        self.timers
            .cancel(TimerKey::Call(call, CallTimer::AckTimeout));
        let sdp = if request.body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            SessionDescription::parse(&request.body).ok()
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return Ok(());
        };
        if sdp.is_some() {
            c.remote_sdp = sdp.clone();
        }
        if c.bye_after_ack {
            c.bye_after_ack = false;
            self.send_bye(now, call);
        } else if !c.ended {
            self.event(Event::CallConfirmed {
                call: CallHandle(call),
                sdp,
            });
        }
        Ok(())
    }

    fn absorb_retransmission(&mut self, id: u64) {
        if let Some(transmit) = self.transactions.retransmission(id) {
            self.outputs.push_back(Output::Transmit(transmit));
        }
    }

    // ----- responses -----

    fn handle_response(
        &mut self,
        now: Instant,
        response: Response,
        input: Input<'_>,
    ) -> Result<(), InputError> {
        if !self.is_allowed(input.source.ip()) {
            return Err(InputError::Denied);
        }
        let via = response.headers.top_via()?;
        let branch = via.branch().ok_or(InputError::Unmatched)?;
        let id = self
            .transactions
            .client_for(branch)
            .ok_or(InputError::Unmatched)?;
        let cseq = response.headers.cseq()?;
        let timers = self.config.timers;
        let completed = self
            .transactions
            .client_response(
                &mut self.timers,
                &timers,
                now,
                id,
                &cseq.method,
                response.status,
            )
            .map_err(|()| InputError::Unmatched)?;
        // Whatever the final response, the dialog is over once our BYE completes.
        if let Some(call) = completed {
            self.remove_call(call);
        }
        Ok(())
    }

    // ----- timers -----

    fn client_timer(&mut self, now: Instant, id: u64, timer: ClientTimer) {
        let timers = self.config.timers;
        match self
            .transactions
            .client_timer(&mut self.timers, &timers, now, id, timer)
        {
            ClientTimeout::Retransmit(transmit) => {
                self.outputs.push_back(Output::Transmit(transmit));
            }
            ClientTimeout::TimedOut(call) => self.remove_call(call),
            ClientTimeout::Nothing => {}
        }
    }

    fn call_timer(&mut self, now: Instant, call: u64, timer: CallTimer) {
        match timer {
            CallTimer::Retransmit2xx => {
                let Some(c) = self.calls.get_mut(&call) else {
                    return;
                };
                let Some(unacked) = c.unacked.as_mut() else {
                    return;
                };
                let transmit = Transmit {
                    transport: c.dialog.transport,
                    destination: unacked.destination,
                    contents: unacked.response.clone(),
                };
                unacked.interval = self.config.timers.backoff(unacked.interval);
                let interval = unacked.interval;
                self.outputs.push_back(Output::Transmit(transmit));
                self.timers.set(
                    TimerKey::Call(call, CallTimer::Retransmit2xx),
                    now,
                    interval,
                );
            }
            CallTimer::AckTimeout => {
                self.timers
                    .cancel(TimerKey::Call(call, CallTimer::Retransmit2xx));
                let Some(c) = self.calls.get_mut(&call) else {
                    return;
                };
                c.unacked = None;
                c.bye_after_ack = false;
                if c.state == CallState::Answered {
                    c.state = CallState::Confirmed;
                }
                self.send_bye(now, call);
                self.end(call, EndReason::AckTimeout);
            }
            CallTimer::SessionExpiry => {
                let Some(c) = self.calls.get(&call) else {
                    return;
                };
                if c.state == CallState::Terminating {
                    return;
                }
                self.fail_pending_reinvite(now, call);
                self.send_bye(now, call);
                self.end(call, EndReason::SessionExpired);
            }
        }
    }

    // ----- building and sending -----

    /// Sends a 2xx with SDP for the pending INVITE or re-INVITE and starts its
    /// retransmission, the ACK timeout and the session timer.
    fn send_2xx(&mut self, now: Instant, call: u64, sdp: &SessionDescription) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(pending) = c.pending_invite.take() else {
            return;
        };
        let mut sdp = sdp.clone();
        if let Some(previous) = &c.local_sdp {
            // RFC 3264 §8: the version stays if nothing changed, and grows otherwise.
            if sdp.same_content(previous) {
                sdp.origin.session_version = previous.origin.session_version;
            } else if sdp.origin.session_version <= previous.origin.session_version {
                sdp.origin.session_version = previous.origin.session_version.saturating_add(1);
            }
        }
        c.local_sdp = Some(sdp.clone());
        c.session = pending.session;
        if c.state == CallState::Offered {
            c.state = CallState::Answered;
        }
        let session = c.session;
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let mut reply = self.dialog_reply(c, sdp.to_bytes(), session);
        reply
            .headers
            .push(("Content-Type", "application/sdp".to_owned()));
        self.respond(now, pending.tx, 200, "OK", reply);
        let Some((bytes, destination, Ok(cseq))) =
            self.transactions.server(pending.tx).and_then(|t| {
                let bytes = t.last_response.clone()?;
                Some((bytes, t.destination, t.request.headers.cseq()))
            })
        else {
            return;
        };
        let timers = self.config.timers;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.unacked = Some(Unacked {
            response: bytes,
            destination,
            cseq: cseq.seq,
            interval: timers.t1,
        });
        if !c.dialog.transport.is_reliable() {
            self.timers.set(
                TimerKey::Call(call, CallTimer::Retransmit2xx),
                now,
                timers.t1,
            );
        }
        self.timers.set(
            TimerKey::Call(call, CallTimer::AckTimeout),
            now,
            timers.timeout(),
        );
        match session {
            Some(s) => {
                let interval = u64::from(s.interval);
                let margin = (interval / 3).min(32);
                self.timers.set(
                    TimerKey::Call(call, CallTimer::SessionExpiry),
                    now,
                    Duration::from_secs(interval - margin),
                );
            }
            None => self
                .timers
                .cancel(TimerKey::Call(call, CallTimer::SessionExpiry)),
        }
    }

    /// The reply parts of a dialog-establishing response: our tag, Contact, Allow,
    /// Supported, and the session timer headers.
    fn dialog_reply(&self, call: &Call, body: Vec<u8>, session: Option<SessionTimer>) -> Reply {
        let mut headers = vec![
            ("Contact", call.dialog.contact(self.config.public_address)),
            ("Allow", ALLOWED_METHODS.to_owned()),
            ("Supported", SUPPORTED_OPTIONS.to_owned()),
        ];
        if let Some(s) = session {
            headers.push((
                "Session-Expires",
                SessionExpires {
                    delta: s.interval,
                    refresher: Some(s.refresher),
                }
                .to_string(),
            ));
            if s.refresher == Refresher::Uac {
                headers.push(("Require", "timer".to_owned()));
            }
        }
        Reply {
            to_tag: Some(call.dialog.local_tag.clone()),
            headers,
            body,
        }
    }

    /// Sends a response through a server transaction and moves its state; nothing
    /// when the transaction has already sent its final response.
    fn respond(&mut self, now: Instant, tx: u64, status: u16, reason: &str, mut reply: Reply) {
        if reply.to_tag.is_none() && status > 100 {
            reply.to_tag = Some(self.random_token());
        }
        let Some(t) = self.transactions.respondable(tx) else {
            return;
        };
        let response = build_response(
            &t.request.method,
            &t.request.headers,
            t.source,
            status,
            reason,
            reply.to_tag.as_deref(),
            &self.config.user_agent,
            &reply.headers,
            reply.body,
        );
        let timers = self.config.timers;
        if let Some(transmit) = self.transactions.send_response(
            &mut self.timers,
            &timers,
            now,
            tx,
            status,
            response.to_bytes(),
        ) {
            self.outputs.push_back(Output::Transmit(transmit));
        }
    }

    /// Answers a request that does not parse (RFC 3261 §18.3, RFC 4475 §3.1.2): with
    /// 400, or 505 for another SIP version, statelessly, and only when the request came
    /// from the allow-list and its Via says where to. Responses and ACKs get nothing.
    fn refuse_unparsed(&mut self, input: Input<'_>, error: &ParseError) {
        if !self.is_allowed(input.source.ip()) {
            return;
        }
        let Some((method, headers)) = salvage_request(input.contents) else {
            return;
        };
        if method == Method::Ack {
            return;
        }
        let Some(via) = headers.reply_via() else {
            return;
        };
        let (status, reason) = refusal(error);
        self.respond_stateless(&method, &headers, &via, input, status, &reason);
    }

    /// Answers without keeping any state (§8.2.7), for requests we will not serve.
    fn respond_stateless(
        &mut self,
        method: &Method,
        headers: &Headers,
        via: &Via,
        input: Input<'_>,
        status: u16,
        reason: &str,
    ) {
        self.respond_stateless_with(method, headers, via, input, status, reason, &[]);
    }

    /// A stateless 503 with Retry-After (RFC 3261 §21.5.4) while the endpoint is full.
    fn respond_overloaded(
        &mut self,
        method: &Method,
        headers: &Headers,
        via: &Via,
        input: Input<'_>,
    ) {
        let retry = [("Retry-After", (5 + self.random() % 11).to_string())];
        self.respond_stateless_with(
            method,
            headers,
            via,
            input,
            503,
            "Service Unavailable",
            &retry,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn respond_stateless_with(
        &mut self,
        method: &Method,
        headers: &Headers,
        via: &Via,
        input: Input<'_>,
        status: u16,
        reason: &str,
        extra: &[(&'static str, String)],
    ) {
        let tag = self.random_token();
        let response = build_response(
            method,
            headers,
            input.source,
            status,
            reason,
            Some(&tag),
            &self.config.user_agent,
            extra,
            Vec::new(),
        );
        self.outputs.push_back(Output::Transmit(Transmit {
            transport: input.transport,
            destination: response_destination(via, input.source, input.transport),
            contents: response.to_bytes(),
        }));
    }

    /// Refuses a call that has not been answered and reports its end.
    fn refuse_call(
        &mut self,
        now: Instant,
        call: u64,
        status: u16,
        reason: &str,
        why: EndReason,
        headers: Vec<(&'static str, String)>,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(pending) = c.pending_invite.take() else {
            return;
        };
        let reply = Reply {
            to_tag: Some(c.dialog.local_tag.clone()),
            headers,
            ..Reply::default()
        };
        self.respond(now, pending.tx, status, reason, reply);
        self.end(call, why);
        self.remove_call(call);
    }

    /// Answers a pending re-INVITE with 487 before the dialog goes away.
    fn fail_pending_reinvite(&mut self, now: Instant, call: u64) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if let Some(pending) = c.pending_invite.take_if(|p| p.reinvite) {
            let reply = Reply {
                to_tag: Some(c.dialog.local_tag.clone()),
                ..Reply::default()
            };
            self.respond(now, pending.tx, 487, "Request Terminated", reply);
        }
    }

    /// Sends BYE within the dialog through a client non-INVITE transaction.
    fn send_bye(&mut self, now: Instant, call: u64) {
        let branch_token = self.random_token();
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.bye_tx.is_some() {
            return;
        }
        c.state = CallState::Terminating;
        for t in [
            CallTimer::Retransmit2xx,
            CallTimer::AckTimeout,
            CallTimer::SessionExpiry,
        ] {
            self.timers.cancel(TimerKey::Call(call, t));
        }
        let built = c.dialog.request(
            Method::Bye,
            &branch_token,
            self.config.public_address,
            self.config.request_routing,
            &self.config.user_agent,
        );
        let transport = c.dialog.transport;
        let bytes = built.request.to_bytes();
        let id = self.new_id();
        if let Some(c) = self.calls.get_mut(&call) {
            c.bye_tx = Some(id);
        }
        let timers = self.config.timers;
        self.transactions.start_client(
            &mut self.timers,
            &timers,
            now,
            id,
            ClientTransaction {
                branch: built.branch,
                method: Method::Bye,
                bytes: bytes.clone(),
                destination: built.destination,
                transport,
                state: ClientState::Trying,
                retransmit_interval: timers.t1,
                call,
            },
        );
        self.outputs.push_back(Output::Transmit(Transmit {
            transport,
            destination: built.destination,
            contents: bytes,
        }));
    }

    // ----- bookkeeping -----

    fn live_call(&self, call: CallHandle) -> Result<&Call, CallError> {
        self.calls
            .get(&call.0)
            .filter(|c| !c.ended)
            .ok_or(CallError::UnknownCall)
    }

    /// Reports the end of a call once.
    fn end(&mut self, call: u64, reason: EndReason) {
        match self.calls.get_mut(&call) {
            Some(c) if !c.ended => {
                c.ended = true;
                self.event(Event::CallEnded {
                    call: CallHandle(call),
                    reason,
                });
            }
            _ => {}
        }
    }

    fn remove_call(&mut self, call: u64) {
        if let Some(c) = self.calls.remove(&call) {
            self.dialogs.remove(&c.dialog.key());
        }
        for t in [
            CallTimer::Retransmit2xx,
            CallTimer::AckTimeout,
            CallTimer::SessionExpiry,
        ] {
            self.timers.cancel(TimerKey::Call(call, t));
        }
    }

    fn event(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    fn is_allowed(&self, ip: IpAddr) -> bool {
        self.config.trunk_allow.iter().any(|c| c.contains(ip))
    }

    fn new_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// SplitMix64: enough for tags and branches, which need uniqueness, not secrecy
    /// (the seed comes from the operating system).
    fn random(&mut self) -> u64 {
        self.random = self.random.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.random;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn random_token(&mut self) -> String {
        format!("{:016x}", self.random())
    }
}

fn invalid(state: CallState, command: &'static str) -> CallError {
    CallError::InvalidState {
        state: state.name(),
        command,
    }
}

/// The status and reason phrase that refuse a request failing to parse or validate.
fn refusal(error: &ParseError) -> (u16, String) {
    let reason = match error {
        ParseError::Version => return (505, "Version Not Supported".to_owned()),
        ParseError::Missing(name) => format!("Missing {name} Header"),
        ParseError::Header(name) => format!("Malformed {name} Header"),
        ParseError::Repeated(name) => format!("Repeated {name} Header"),
        ParseError::StartLine | ParseError::Method => "Malformed Request-Line".to_owned(),
        ParseError::Uri(_) => "Malformed Request-URI".to_owned(),
        ParseError::ContentLength => "Malformed Content-Length".to_owned(),
        ParseError::TruncatedBody => "Body Shorter Than Content-Length".to_owned(),
        ParseError::Unterminated => "Unterminated Header Section".to_owned(),
        ParseError::HeaderLine => "Malformed Header Line".to_owned(),
        ParseError::TooManyHeaders { .. } => "Too Many Headers".to_owned(),
        ParseError::TooLarge { .. } | ParseError::Utf8 | ParseError::Status => {
            "Bad Request".to_owned()
        }
    };
    (400, reason)
}

/// Whether a response may carry SDP by the request's Accept header: no Accept means
/// application/sdp, an empty one means no body at all (RFC 3261 §20.1).
fn accepts_sdp(headers: &Headers) -> bool {
    if !headers.contains("Accept") {
        return true;
    }
    headers.list("Accept").iter().any(|range| {
        let media = range.split(';').next().unwrap_or_default().trim();
        ["application/sdp", "application/*", "*/*"]
            .iter()
            .any(|m| media.eq_ignore_ascii_case(m))
    })
}

fn is_scanner(headers: &Headers) -> bool {
    headers.first("User-Agent").is_some_and(|ua| {
        let ua = ua.to_ascii_lowercase();
        SCANNER_USER_AGENTS.iter().any(|s| ua.contains(s))
    })
}
