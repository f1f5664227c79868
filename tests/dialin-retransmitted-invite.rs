//! Acceptance 5 (retransmitted INVITE): a trunk sends the same INVITE twice (same
//! branch); pinbridge answers from the one transaction: every response carries the same
//! To tag and SDP port, and only one call exists (one RTP stream towards the caller).

mod common;

use std::time::Duration;

use common::phone::bridge::{self, Bridge};
use common::phone::*;

#[test]
fn a_retransmitted_invite_is_not_a_second_call() {
    let bridge = bridge::start(&[]);
    let dir = common::tempdir();
    let capture = bridge.capture(dir.path());
    let mut caller = SippCaller::start_scenario(
        "caller",
        &bridge.sip_udp,
        bridge.number,
        "127.0.0.1",
        "retransmit.xml",
    );
    let answer = caller.wait_answered(Duration::from_secs(30));
    // Two seconds of the greeting reach the caller, from one port only.
    Bridge::wait_capture(&capture, "two seconds of audio", |d| {
        (received_audio(d, answer.rtp_port).samples.len() >= 16_000).then_some(())
    });
    let messages = caller.messages();
    let responses: Vec<&str> = messages
        .split("SIP/2.0 ")
        .filter(|m| m.contains("CSeq: 1 INVITE") && !m.starts_with("sip:"))
        .collect();
    let to_tags: std::collections::BTreeSet<String> = responses
        .iter()
        .flat_map(|m| m.lines())
        .filter(|l| l.to_ascii_lowercase().starts_with("to:"))
        .filter_map(|l| l.split(";tag=").nth(1).map(|t| t.trim().to_owned()))
        .collect();
    assert!(
        to_tags.len() <= 1,
        "more than one dialog: {to_tags:?}\n{messages}"
    );
    let ports: std::collections::BTreeSet<&str> = messages
        .lines()
        .filter_map(|l| l.trim().strip_prefix("m=audio "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|p| *p != caller.media_port.to_string())
        .collect();
    assert_eq!(ports.len(), 1, "one RTP port in every answer: {ports:?}");
    let senders: std::collections::BTreeSet<u16> = capture
        .datagrams()
        .iter()
        .filter(|d| d.dst.port() == caller.media_port)
        .map(|d| d.src.port())
        .collect();
    assert_eq!(
        senders.into_iter().collect::<Vec<_>>(),
        vec![answer.rtp_port],
        "one call sends media to the caller"
    );
    assert_eq!(bridge.metric("pinbridge_calls_answered_total"), 1.0);
    assert_eq!(bridge.metric("pinbridge_active_calls"), 1.0);
    caller.hang_up();
    assert_eq!(caller.wait_end(Duration::from_secs(30)), Ending::ByCaller);
    capture.stop();
}
