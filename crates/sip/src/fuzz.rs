//! Entry points shared by the cargo-fuzz targets and the corpus replay test.
//!
//! Each function exercises one parser on arbitrary bytes and checks the invariants
//! that must hold for any input; a panic here is a bug.

use std::time::Instant;

use crate::endpoint::{Endpoint, EndpointConfig, Input, Transport};
use crate::framer::{Frame, StreamFramer};
use crate::message::Message;
use crate::sdp::SessionDescription;

/// Parses a SIP message; when it parses, its serialization must parse to the same
/// message. The bytes are also fed to an endpoint, which must not panic.
pub fn parse_message(data: &[u8]) {
    if let Ok(message) = Message::parse(data) {
        let bytes = message.to_bytes();
        if bytes.len() <= crate::message::MAX_MESSAGE_SIZE {
            let again = Message::parse(&bytes);
            assert_eq!(again.as_ref(), Ok(&message), "serialize and parse disagree");
        }
        let headers = message.headers();
        let _ = headers.vias();
        let _ = headers.from();
        let _ = headers.to();
        let _ = headers.cseq();
        let _ = headers.contacts();
        let _ = headers.record_routes();
        let _ = headers.session_expires();
        let _ = headers.min_se();
    }
    let mut endpoint = Endpoint::new(EndpointConfig::default());
    let now = Instant::now();
    let source = std::net::SocketAddr::from(([127, 0, 0, 1], 5061));
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], 5060));
    let _ = endpoint.handle_input(
        now,
        Input {
            transport: Transport::Udp,
            source,
            local,
            contents: data,
        },
    );
    while endpoint.poll_output().is_some() {}
    endpoint.handle_timeout(now + std::time::Duration::from_secs(64));
}

/// Feeds bytes to a stream framer in two pieces split at the first byte's value;
/// every message cut from the stream must be a prefix-free slice of the input.
pub fn frame_stream(data: &[u8]) {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let (head, tail) = data.split_at(split);
    let mut framer = StreamFramer::new();
    let mut total = 0usize;
    for chunk in [head, tail] {
        framer.push(chunk);
        loop {
            match framer.next_frame() {
                Ok(Some(Frame::Message(message))) => {
                    total += message.len();
                    let _ = Message::parse(&message);
                }
                Ok(Some(Frame::KeepAlivePing)) => total += 4,
                Ok(None) | Err(_) => break,
            }
        }
    }
    assert!(total <= data.len(), "framer produced more bytes than it got");
}

/// Parses SDP; when it parses, its serialization must parse to the same description,
/// and answering it must not panic.
pub fn parse_sdp(data: &[u8]) {
    if let Ok(sdp) = SessionDescription::parse(data) {
        let bytes = sdp.to_bytes();
        if bytes.len() <= crate::sdp::MAX_SDP_SIZE {
            assert_eq!(
                SessionDescription::parse(&bytes).as_ref(),
                Ok(&sdp),
                "serialize and parse disagree"
            );
        }
        let config = crate::sdp::MediaConfig::new([127, 0, 0, 1].into(), 20000, 1);
        let _ = crate::sdp::answer(&sdp, &config);
    }
}
