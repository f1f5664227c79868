//! Acceptance 5 (CANCEL): a caller who gives up before the answer: pinbridge answers the
//! CANCEL with 200 and the INVITE with 487, and no call remains.

mod common;

use std::time::Duration;

use common::phone::bridge;
use common::phone::*;

#[test]
fn cancel_before_the_answer() {
    let bridge = bridge::start(&[]);
    let conference = bridge.meeting(&[]);
    let mut caller = SippCaller::start_scenario(
        "caller",
        &bridge.sip_udp,
        bridge.number,
        "127.0.0.1",
        "cancel.xml",
    );
    let status = caller.wait_exit(Duration::from_secs(30));
    // SIPp's message log: the 200 the caller received must answer the CANCEL, never
    // the INVITE (SIPp's own `[last_CSeq:]` in a log action names the INVITE either way).
    let report = caller.report();
    let answered_invite = report
        .split("-----------------------------------------------")
        .any(|block| {
            block.contains("message received")
                && block.contains("SIP/2.0 200 OK")
                && block.contains("CSeq: 1 INVITE")
        });
    assert!(
        !answered_invite,
        "pinbridge answered the INVITE with 200 before the CANCEL could act\n{report}"
    );
    assert!(
        report.contains("CSeq: 1 CANCEL"),
        "no answer to the CANCEL\n{report}"
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "the CANCEL scenario failed ({status:?})\n{}",
        caller.report()
    );
    assert!(caller.logged("invite terminated"), "{}", caller.report());
    assert!(bridge.state(&conference).participants.is_empty());
}
