//! Acceptance 6 (garbage): while a caller waits in the lobby, datagrams that are not SIP
//! or are malformed SIP reach pinbridge's SIP port: each gets 400 or no response at all,
//! and the call in progress goes on (it keeps receiving the hold music, stays in the
//! lobby, and hangs up cleanly).

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::phone::bridge;
use common::phone::*;

const GARBAGE: &[&[u8]] = &[
    b"\x00\x01\x02\x03\xff\xfe\xfd\x80\x81",
    b"\r\n\r\n",
    b"hello",
    b"INVITE\r\n\r\n",
    b"INVITE sip:+14255550100@127.0.0.1 SIP/2.0\r\n\r\n",
    b"SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\n\r\n",
    b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:@PORT@;branch=z9hG4bK-bad-1\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: bad-cseq@test\r\nCSeq: not-a-number OPTIONS\r\nContent-Length: 0\r\n\r\n",
    b"INVITE sip:+14255550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:@PORT@;branch=z9hG4bK-bad-2\r\nFrom: <sip:a@127.0.0.1>;tag=2\r\nTo: <sip:+14255550100@127.0.0.1>\r\nCall-ID: bad-length@test\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 5000\r\n\r\nv=0\r\n",
    b"INVITE sip:+14255550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:@PORT@;branch=z9hG4bK-bad-3\r\nFrom: <sip:a@127.0.0.1>;tag=3\r\nTo: <sip:+14255550100@127.0.0.1>\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    b"INVITE sip:+14255550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:@PORT@;branch=z9hG4bK-bad-4\r\nFrom: <sip:a@127.0.0.1>;tag=4\r\nTo: <sip:+14255550100@127.0.0.1>\r\nCall-ID: bad-sdp@test\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 12\r\n\r\nnot an sdp\r\n",
];

#[test]
fn garbage_gets_400_or_nothing_and_the_call_goes_on() {
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
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    for datagram in GARBAGE {
        let text = String::from_utf8_lossy(datagram).replace("@PORT@", &port);
        socket.send_to(text.as_bytes(), &bridge.sip_udp).unwrap();
        let mut buf = [0u8; 4096];
        // A response comes at once or not at all; half a second bounds each wait. A
        // provisional response is followed by a final one.
        while let Ok(n) = socket.recv(&mut buf) {
            let response = String::from_utf8_lossy(&buf[..n]);
            let status = response.lines().next().unwrap_or("");
            if status.starts_with("SIP/2.0 1") {
                continue;
            }
            // 488 is the right answer to an SDP that is not one.
            assert!(
                status.starts_with("SIP/2.0 400") || status.starts_with("SIP/2.0 488"),
                "{text:?} got {status:?}"
            );
            break;
        }
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
        state.json
    );
    assert_eq!(state.in_lobby(), 1);
    assert!(caller.is_running());
    assert_eq!(bridge.metric("pinbridge_calls_answered_total"), 1.0);
    assert_eq!(bridge.metric("pinbridge_active_calls"), 1.0);
    caller.hang_up();
    assert_eq!(caller.wait_end(Duration::from_secs(30)), Ending::ByCaller);
    capture.stop();
}
