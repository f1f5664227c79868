//! SIP over TCP: a stream cut at arbitrary points, messages merged in one read,
//! keep-alives, and responses sent back on the connection.

mod common;

use common::*;
use pinbridge_sip::{Frame, StreamFramer, Transport};

#[test]
fn split_and_merged_stream_drives_a_call() {
    let mut h = Harness::new();
    let invite = sipp_invite("tcp-1", "z9hG4bK-tcp1").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let options = with_body(
        "OPTIONS sip:127.0.0.1:5060 SIP/2.0
v: SIP/2.0/TCP 127.0.0.1:5061;branch=z9hG4bK-tcpopt
f: <sip:ping@127.0.0.1>;tag=o1
t: <sip:127.0.0.1>
i: tcp-opt
CSeq: 1 OPTIONS
Max-Forwards: 70
",
        None,
        "",
    );
    let mut stream = b"\r\n\r\n".to_vec();
    stream.extend_from_slice(invite.as_bytes());
    stream.extend_from_slice(options.as_bytes());

    let mut framer = StreamFramer::new();
    let mut pings = 0;
    // Reads of 7 bytes: every message arrives in pieces, the second one merged
    // with the tail of the first.
    for chunk in stream.chunks(7) {
        framer.push(chunk);
        while let Some(frame) = framer.next_frame().unwrap() {
            match frame {
                Frame::KeepAlivePing => pings += 1,
                Frame::Message(bytes) => h.deliver(Transport::Tcp, SIPP, &bytes).unwrap(),
            }
        }
    }
    assert_eq!(pings, 1);
    assert_eq!(framer.buffered(), 0);
    let sent = h.sent();
    assert!(
        sent.iter()
            .all(|(_, t)| t.transport == Transport::Tcp && t.destination == addr(SIPP))
    );
    assert_eq!(h.incoming_call().called_number, "5550100");
    assert_eq!(sent.len(), 2, "100 Trying and the OPTIONS 200");
    // Non-INVITE transactions over TCP end at once (Timer J is zero).
    assert_eq!(h.endpoint.transaction_count(), 1);
}

#[test]
fn contact_says_tcp() {
    let mut h = Harness::new();
    let invite = sipp_invite("tcp-2", "z9hG4bK-tcp2").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    h.deliver(Transport::Tcp, SIPP, invite.as_bytes()).unwrap();
    let call = h.incoming_call().call;
    h.command(|e, now| e.accept(now, call, &answer_for(&sipp_sdp())))
        .unwrap();
    let ok = h.responses().pop().unwrap();
    let contact = &ok.headers.contacts().unwrap()[0];
    assert_eq!(contact.uri.transport(), Some("tcp"));
}
