//! Acceptance 6 (garbage): while a caller waits in the lobby, datagrams that are not SIP
//! or are malformed SIP reach pinbridge's SIP port. Each gets exactly the answer it must:
//! 400 to a request pinbridge can read well enough to answer (it has a Via), and
//! silence where it cannot know where an answer would go or there is nothing to answer;
//! after each, a good OPTIONS is answered 200. The call in progress goes on (it keeps
//! receiving the hold music, stays in the lobby, and hangs up cleanly).

use crate::common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::phone::bridge;
use common::phone::*;

/// A datagram and the statuses pinbridge answers it with, in order (none: silence).
const GARBAGE: &[(&str, &[u8], &[u16])] = &[
    ("binary", b"\x00\x01\x02\x03\xff\xfe\xfd\x80\x81", &[]),
    ("a keep-alive", b"\r\n\r\n", &[]),
    ("text", b"hello", &[]),
    ("a method alone", b"INVITE\r\n\r\n", &[]),
    (
        "a request line without headers (no Via: nowhere to answer)",
        b"INVITE sip:+14255550100@127.0.0.1 SIP/2.0\r\n\r\n",
        &[],
    ),
    (
        "a response to no transaction (responses are never answered)",
        b"SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\n\r\n",
        &[],
    ),
    (
        "a CSeq that is not a number",
        b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:@PORT@;branch=z9hG4bK-bad-1\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: bad-cseq@test\r\nCSeq: not-a-number OPTIONS\r\nContent-Length: 0\r\n\r\n",
        &[400],
    ),
    (
        // RFC 3261 §18.3: a datagram whose body is shorter than its Content-Length
        // gets 400, built from the headers read around the broken framing.
        "a body shorter than its Content-Length",
        b"INVITE sip:+14255550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:@PORT@;branch=z9hG4bK-bad-2\r\nFrom: <sip:a@127.0.0.1>;tag=2\r\nTo: <sip:+14255550100@127.0.0.1>\r\nCall-ID: bad-length@test\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 5000\r\n\r\nv=0\r\n",
        &[400],
    ),
    (
        "an INVITE without a Call-ID",
        b"INVITE sip:+14255550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:@PORT@;branch=z9hG4bK-bad-3\r\nFrom: <sip:a@127.0.0.1>;tag=3\r\nTo: <sip:+14255550100@127.0.0.1>\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        &[400],
    ),
    (
        "an INVITE whose SDP is not one",
        b"INVITE sip:+14255550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:@PORT@;branch=z9hG4bK-bad-4\r\nFrom: <sip:a@127.0.0.1>;tag=4\r\nTo: <sip:+14255550100@127.0.0.1>\r\nCall-ID: bad-sdp@test\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 12\r\n\r\nnot an sdp\r\n",
        &[100, 400],
    ),
];

/// A good OPTIONS with its own Call-ID, which pinbridge answers 200.
fn probe(port: &str, n: usize) -> String {
    format!(
        "OPTIONS sip:+14255550100@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-probe-{n}\r\n\
         From: <sip:probe@127.0.0.1>;tag=probe{n}\r\n\
         To: <sip:+14255550100@127.0.0.1>\r\n\
         Call-ID: probe-{n}@test\r\n\
         CSeq: 1 OPTIONS\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Every response on `socket` up to the 200 to probe `n` (which is left out), within
/// ten seconds. pinbridge handles one socket's datagrams in order and answers each at
/// once, so what a datagram sent before the probe gets comes before the probe's 200.
fn responses_before_probe(socket: &UdpSocket, n: usize) -> Vec<String> {
    let probe_call = format!("probe-{n}@test");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    let mut buf = [0u8; 65_535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no 200 to probe {n}; before it: {out:?}");
        socket.set_read_timeout(Some(left)).unwrap();
        let Ok(len) = socket.recv(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..len]).into_owned();
        let call_id = pinbridge_testkit::sipp::header(&text, &["Call-ID", "i"]);
        if call_id == Some(probe_call.as_str()) {
            assert!(text.starts_with("SIP/2.0 200 "), "probe {n}: {text}");
            return out;
        }
        out.push(text);
    }
}

#[test]
fn garbage_gets_its_answer_and_the_call_goes_on() {
    let bridge = bridge::start(&[]);
    let conference = bridge.meeting(&[]);
    let dir = common::tempdir();
    let capture = bridge.capture(dir.path());
    let mut caller = bridge.call("caller", &format!("{conference}#"));
    let answer = caller.wait_answered(Duration::from_secs(30));
    bridge.wait_state(&conference, "the caller waits in the lobby", |s| {
        s.in_lobby() == 1
    });

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port().to_string();
    // The probe alone gets its 200 and nothing else.
    socket
        .send_to(probe(&port, 0).as_bytes(), &bridge.sip_udp)
        .unwrap();
    assert_eq!(responses_before_probe(&socket, 0), Vec::<String>::new());
    for (n, (what, datagram, expected)) in GARBAGE.iter().enumerate() {
        let n = n + 1;
        let text = String::from_utf8_lossy(datagram).replace("@PORT@", &port);
        socket.send_to(text.as_bytes(), &bridge.sip_udp).unwrap();
        socket
            .send_to(probe(&port, n).as_bytes(), &bridge.sip_udp)
            .unwrap();
        let got = responses_before_probe(&socket, n);
        let statuses: Vec<u16> = got
            .iter()
            .map(|r| {
                r.strip_prefix("SIP/2.0 ")
                    .and_then(|r| r.split(' ').next())
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("{what}: not a response: {r:?}"))
            })
            .collect();
        assert_eq!(statuses, *expected, "{what} ({text:?}) got {got:?}");
    }
    // The call goes on: two more seconds of hold music after the garbage.
    let before = received_audio(&capture.datagrams(), answer.rtp_port)
        .samples
        .len();
    wait_for("more hold music", Duration::from_secs(60), || {
        let heard = received_audio(&capture.datagrams(), answer.rtp_port).samples;
        (heard.len() >= before + 16_000 && music_score(&heard[heard.len() - 16_000..]) > 0.8)
            .then_some(())
    });
    let state = bridge.state(&conference);
    assert_eq!(
        state.participants.len(),
        1,
        "no call from the garbage: {:?}",
        state
    );
    assert_eq!(state.in_lobby(), 1);
    assert!(caller.is_running());
    assert_eq!(bridge.metric("pinbridge_calls_answered_total"), 1.0);
    assert_eq!(bridge.metric("pinbridge_active_calls"), 1.0);
    caller.hang_up();
    assert_eq!(caller.wait_end(Duration::from_secs(30)), Ending::ByCaller);
    capture.stop();
}
