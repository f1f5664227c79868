//! Acceptance 6 (trunk allow-list): with `--trunk-allow 127.0.0.1/32`, an INVITE from
//! 127.0.0.3 (SIPp bound there) gets 403 and no dialog, while a call from an allowed
//! trunk, in progress at the same time, goes on.

use crate::common;

use std::time::Duration;

use common::phone::bridge;
use common::phone::*;

#[test]
fn an_invite_from_outside_the_allow_list_gets_403() {
    let bridge = bridge::start(&["--trunk-allow", "127.0.0.1/32"]);
    let conference = bridge.meeting(&[]);
    let mut allowed = bridge.call("allowed caller", &format!("{conference}#"));
    allowed.wait_answered(Duration::from_secs(30));
    bridge.wait_state(&conference, "the allowed caller waits in the lobby", |s| {
        s.in_lobby() == 1
    });
    let mut outsider = SippCaller::start_scenario(
        "outsider",
        &bridge.sip_udp,
        bridge.number,
        "127.0.0.3",
        "rejected.xml",
    );
    let status = outsider.wait_exit(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "the outsider was not refused with 403 ({status:?})\n{}",
        outsider.report()
    );
    assert!(outsider.logged("rejected 403"));
    let state = bridge.state(&conference);
    assert_eq!(state.participants.len(), 1, "{state:?}");
    assert!(allowed.is_running(), "{}", allowed.report());
    assert_eq!(bridge.metric("pinbridge_calls_answered_total"), 1.0);
    assert_eq!(bridge.metric("pinbridge_active_calls"), 1.0);
    allowed.hang_up();
    assert_eq!(allowed.wait_end(Duration::from_secs(30)), Ending::ByCaller);
}

/// An OPTIONS from `socket` (with a User-Agent of `agent`) to `target`.
fn options(socket: &std::net::UdpSocket, target: &str, branch: &str, agent: &str) {
    let from = socket.local_addr().unwrap();
    let request = format!(
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK-{branch}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@{ip}>;tag={branch}\r\nTo: <sip:127.0.0.1>\r\n\
         Call-ID: {branch}@{ip}\r\nCSeq: 1 OPTIONS\r\nUser-Agent: {agent}\r\n\
         Content-Length: 0\r\n\r\n",
        ip = from.ip()
    );
    socket.send_to(request.as_bytes(), target).unwrap();
}

/// The next datagram on `socket`, if one is there now.
fn waiting(socket: &std::net::UdpSocket) -> Option<String> {
    socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 65_535];
    let got = socket
        .recv_from(&mut buf)
        .ok()
        .map(|(n, _)| String::from_utf8_lossy(&buf[..n]).into_owned());
    socket.set_nonblocking(false).unwrap();
    got
}

/// The trunk's answer to an OPTIONS sent after the others: pinbridge handles its UDP
/// socket in order, so every earlier request has had its answer (or none) by then.
fn trunk_answer(trunk: &std::net::UdpSocket, target: &str, branch: &str) -> String {
    options(trunk, target, branch, "trunk");
    trunk
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 65_535];
    let (n, _) = trunk
        .recv_from(&mut buf)
        .expect("the trunk's OPTIONS answered");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn with_sip_untrusted_drop_an_outsider_hears_nothing_and_scanners_never() {
    let untrusted = r#"pinbridge_sip_refused_total{reason="untrusted"}"#;
    let scanner = r#"pinbridge_sip_refused_total{reason="scanner"}"#;
    // By default an outsider gets 403; a scanner, even from the trunk, nothing.
    let bridge = bridge::start(&["--trunk-allow", "127.0.0.1/32"]);
    let outsider = std::net::UdpSocket::bind("127.0.0.3:0").unwrap();
    let trunk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    options(&outsider, &bridge.sip_udp, "o1", "Linphone");
    options(&trunk, &bridge.sip_udp, "s1", "friendly-scanner");
    assert!(trunk_answer(&trunk, &bridge.sip_udp, "t1").starts_with("SIP/2.0 200 "));
    let answer = waiting(&outsider).expect("the outsider's 403");
    assert!(answer.starts_with("SIP/2.0 403 "), "{answer}");
    assert_eq!(waiting(&trunk), None, "the scanner was answered");
    assert_eq!(bridge.metric(untrusted), 1.0);
    assert_eq!(bridge.metric(scanner), 1.0);
    drop(bridge);

    let bridge = bridge::start(&["--trunk-allow", "127.0.0.1/32", "--sip-untrusted", "drop"]);
    options(&outsider, &bridge.sip_udp, "o2", "Linphone");
    outsider
        .send_to(b"INVITE garbage\r\n\r\n", &bridge.sip_udp)
        .unwrap();
    assert!(trunk_answer(&trunk, &bridge.sip_udp, "t2").starts_with("SIP/2.0 200 "));
    assert_eq!(waiting(&outsider), None, "the outsider was answered");
    assert_eq!(bridge.metric(untrusted), 2.0);
}
