//! Entry points shared by the cargo-fuzz targets and the corpus replay test, and the
//! hostile-traffic datagrams of the flood test and bench.
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

/// Feeds bytes to a stream framer: the first byte chooses where the rest is split into
/// two reads. Every frame must come from the input, and the messages cut must not
/// depend on where the read boundary fell.
pub fn frame_stream(data: &[u8]) {
    let Some((&control, stream)) = data.split_first() else {
        return;
    };
    let split = usize::from(control).min(stream.len());
    let (head, tail) = stream.split_at(split);
    let in_two_reads = frames(&[head, tail]);
    let in_one_read = frames(&[stream]);
    let total: usize = in_two_reads.iter().map(Vec::len).sum();
    assert!(
        total <= stream.len(),
        "framer produced more bytes than it got"
    );
    assert_eq!(
        in_two_reads, in_one_read,
        "framing depends on read boundaries"
    );
}

fn frames(reads: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut framer = StreamFramer::new();
    let mut out = Vec::new();
    for read in reads {
        framer.push(read);
        loop {
            match framer.next_frame() {
                Ok(Some(Frame::Message(message))) => {
                    let _ = Message::parse(&message);
                    out.push(message);
                }
                Ok(Some(Frame::KeepAlivePing)) => out.push(b"\r\n\r\n".to_vec()),
                Ok(None) => break,
                Err(_) => return out,
            }
        }
    }
    out
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

/// The datagrams of the acceptance flood (`tests/dialin/flood.rs`, the flood bench),
/// `i`-th of them from `from`, in turn: scanners' OPTIONS, INVITE and REGISTER (by
/// User-Agent), an outsider's INVITE and REGISTER with an ordinary User-Agent (403 while
/// its buckets last), an INVITE with a broken Via, and bytes that are not SIP.
pub fn flood_datagram(i: usize, from: std::net::SocketAddr) -> Vec<u8> {
    let ip = from.ip();
    let head = |method: &str, agent: &str| {
        format!(
            "{method} sip:100@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP {from};branch=z9hG4bK-flood-{i};rport\r\n\
             Max-Forwards: 70\r\n\
             From: \"100\" <sip:100@{ip}>;tag=f{i}\r\n\
             To: <sip:100@127.0.0.1>\r\n\
             Call-ID: flood-{i}@{ip}\r\n\
             CSeq: 1 {method}\r\n\
             Contact: <sip:100@{from}>\r\n\
             User-Agent: {agent}\r\n\
             Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    };
    match i % 8 {
        0 => head("OPTIONS", "friendly-scanner"),
        1 => head("INVITE", "SIPVicious 0.3.4"),
        2 => head("REGISTER", "sipcli/v1.8"),
        3 => head("INVITE", "Linphone/5.2"),
        4 => head("REGISTER", "Linphone/5.2"),
        5 => b"INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: \x01\x02\r\n\r\n".to_vec(),
        6 => (0..200u32).map(|k| (k * 31 + i as u32) as u8).collect(),
        _ => b"\x80\x00\x12\x34not sip, nor rtp".to_vec(),
    }
}
