//! A Sans-IO SIP user-agent server (RFC 3261) with SDP offer/answer (RFC 3264).
//!
//! This crate never reads the clock, opens sockets, spawns tasks or does I/O. A driver
//! feeds it received messages and the current time, and drains what it wants sent and
//! what the application must know:
//!
//! - [`Endpoint::handle_input`] takes one message (a UDP datagram, or a frame cut from
//!   a TCP/TLS stream by [`StreamFramer`]) with its source, local address and transport.
//! - [`Endpoint::poll_output`] yields [`Output::Transmit`] (bytes and a destination; for
//!   streams the destination names the connection's peer) and [`Output::Event`].
//! - [`Endpoint::poll_timeout`] gives the one next deadline of all timers (RFC 3261
//!   Timers E, F, G, H, I, J, K, L, 2xx retransmission, the ACK wait and the RFC 4028
//!   session timer); the driver calls [`Endpoint::handle_timeout`] when it passes.
//! - The application answers [`Event::IncomingCall`] with [`Endpoint::ringing`],
//!   [`Endpoint::accept`] (SDP from [`sdp::answer`]), [`Endpoint::reject`], and later
//!   [`Endpoint::hangup`]; re-INVITEs with [`Endpoint::answer_reinvite`] or
//!   [`Endpoint::reject_reinvite`]. Every call ends with exactly one
//!   [`Event::CallCancelled`] or [`Event::CallEnded`].
//!
//! After any call into the endpoint, the driver drains `poll_output` and re-reads
//! `poll_timeout`.
//!
//! # Layers
//!
//! The endpoint follows RFC 3261's layers: [`message`] and [`framer`] (syntax and
//! transport framing), [`transaction`] (the server and client transaction state
//! machines and their timers, one timer table), the dialog layer (route set, CSeq,
//! remote target, in-dialog requests), and the [`endpoint`] on top: the call API and the
//! UAS core deciding what each request means for a call, with the response building
//! (§8.2.6, §18.2) and the INFO DTMF bodies in modules of their own.
//!
//! # Access control
//!
//! Requests from addresses outside [`EndpointConfig::trunk_allow`] get a stateless
//! 403, or nothing at all ([`Untrusted::Drop`]: dropped before they are parsed), and
//! create no transaction or dialog; ACKs from outside are dropped too. Requests whose
//! User-Agent names a known scanner ([`endpoint::SCANNER_USER_AGENTS`], any case) are
//! dropped without a response, whatever their source, so that scanners learn nothing.
//!
//! # Bounds
//!
//! Nothing grows with remote input without a bound. Each source outside the allow-list
//! has token buckets for INVITE, OPTIONS, REGISTER and everything else
//! ([`limit::SourceLimits`]), checked before parsing, in a table of at most
//! [`limit::SourceLimits::table_size`] sources ([`limit::SourceLimiter`]); a request over
//! its limit is dropped. Server transactions and calls have caps
//! ([`EndpointConfig::max_transactions`], [`EndpointConfig::max_calls`]) beyond which new
//! requests get a stateless 503. Messages are at most [`message::MAX_MESSAGE_SIZE`]
//! bytes with [`message::MAX_HEADERS`] headers, and [`StreamFramer`] holds no more than
//! that of a partial message. Every refusal says why in [`InputError`].
//!
//! # Malformed input
//!
//! Nothing here panics on network input. A request that does not parse, or parses but
//! fails [`Request::validate`] (a missing, repeated or malformed From, To, Call-ID,
//! CSeq or Max-Forwards; a malformed Via, Contact or Date; headers in the
//! Request-URI), gets a stateless 400, or 505 for another SIP version, as long as its
//! top Via still names a sender (RFC 3261 §8.2, §18.3). One with no usable Via, a
//! malformed ACK and a response matching no transaction are dropped ([`InputError`]
//! says why). An unknown method gets 501, a known one we do not take 405. RFC 4475's
//! torture messages are the test corpus of all this (`tests/data/rfc4475/`).
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use pinbridge_sip::{Endpoint, EndpointConfig, Event, Input, Output, Transport};
//! use pinbridge_sip::sdp::{self, MediaConfig};
//!
//! let mut endpoint = Endpoint::new(EndpointConfig::default());
//! let now = Instant::now();
//! let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
//!     m=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
//! let invite = format!(
//!     "INVITE sip:+15550100@127.0.0.1 SIP/2.0\r\n\
//!      Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1;rport\r\n\
//!      From: <sip:alice@127.0.0.1>;tag=a1\r\n\
//!      To: <sip:+15550100@127.0.0.1>\r\n\
//!      Call-ID: doc-1\r\n\
//!      CSeq: 1 INVITE\r\n\
//!      Contact: <sip:alice@127.0.0.1:5061>\r\n\
//!      Max-Forwards: 70\r\n\
//!      Content-Type: application/sdp\r\n\
//!      Content-Length: {}\r\n\r\n{offer}",
//!     offer.len()
//! );
//! endpoint
//!     .handle_input(now, Input {
//!         transport: Transport::Udp,
//!         source: "127.0.0.1:5061".parse().unwrap(),
//!         local: "127.0.0.1:5060".parse().unwrap(),
//!         contents: invite.as_bytes(),
//!     })
//!     .unwrap();
//!
//! let mut sent = Vec::new();
//! while let Some(output) = endpoint.poll_output() {
//!     match output {
//!         // The driver writes these bytes to the socket.
//!         Output::Transmit(transmit) => sent.push(transmit.contents),
//!         Output::Event(Event::IncomingCall(call)) => {
//!             assert_eq!(call.called_number, "+15550100");
//!             let media = MediaConfig::new("127.0.0.1".parse().unwrap(), 20000, 7);
//!             let offer = call.offer.as_ref().unwrap();
//!             let (answer, negotiated) = sdp::answer(offer, &media).unwrap();
//!             assert_eq!(negotiated.telephone_event, Some(101));
//!             endpoint.accept(now, call.call, &answer).unwrap();
//!         }
//!         Output::Event(other) => panic!("unexpected {other:?}"),
//!     }
//! }
//! // The 100 Trying went out first, then the 200 OK queued by `accept`.
//! assert!(sent[0].starts_with(b"SIP/2.0 100 Trying"));
//! assert!(sent[1].starts_with(b"SIP/2.0 200 OK"));
//! // Until the ACK arrives, the 200 OK is retransmitted after T1.
//! assert_eq!(endpoint.poll_timeout(), Some(now + Duration::from_millis(500)));
//! ```

mod dialog;
mod dtmf;
pub mod endpoint;
pub mod error;
pub mod framer;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
pub mod header;
pub mod limit;
pub mod message;
mod response;
pub mod sdes;
pub mod sdp;
pub mod transaction;
pub mod uri;

pub use endpoint::{
    CallHandle, EndReason, Endpoint, EndpointConfig, Event, IncomingCall, Input, InputError,
    Output, RequestRouting, SessionTimerConfig, Transmit, Transport, Untrusted,
};
pub use error::{CallError, FrameError, NegotiationError, ParseError, SdpError};
pub use framer::{Frame, StreamFramer};
pub use header::{CSeq, NameAddr, Refresher, SessionExpires, Via};
pub use limit::{Rate, RequestClass, SourceLimiter, SourceLimits};
pub use message::{Headers, Message, Method, Request, Response};
pub use sdp::SessionDescription;
pub use transaction::TimerConfig;
pub use uri::{Param, Params, Scheme, Uri};
