//! Acceptance 5 (retransmitted INVITE): a trunk sends the same INVITE twice (same
//! branch); pinbridge answers from the one transaction: every response carries the same
//! To tag and SDP port, and only one call exists (one RTP stream towards the caller).

use crate::common;

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
    let responses: Vec<Response> = caller
        .received_responses()
        .into_iter()
        .filter(|r| r.cseq == "1 INVITE")
        .collect();
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    // A retransmission taken for a new request would get a final response of its own
    // (482, a merged request); one answered from the transaction gets its last
    // response again, so one status comes twice.
    assert!(
        statuses.iter().all(|s| [100, 180, 183, 200].contains(s)) && statuses.contains(&200),
        "provisional responses and 200 only: {statuses:?}\n{messages}"
    );
    assert!(
        statuses
            .iter()
            .any(|s| statuses.iter().filter(|t| *t == s).count() >= 2),
        "the retransmission is answered from the transaction: {statuses:?}\n{messages}"
    );
    let to_tags: std::collections::BTreeSet<&str> = responses
        .iter()
        .filter_map(|r| r.to_tag.as_deref())
        .collect();
    assert_eq!(
        to_tags.len(),
        1,
        "one dialog: one To tag across every tagged response: {to_tags:?}\n{messages}"
    );
    assert!(
        responses
            .iter()
            .filter(|r| r.status >= 180)
            .all(|r| r.to_tag.is_some()),
        "every answer past 100 carries the To tag\n{messages}"
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
