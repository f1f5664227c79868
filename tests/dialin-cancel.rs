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
    assert!(
        !caller.logged("cancel answered CSeq: 1 INVITE"),
        "pinbridge answered the INVITE with 200 before the CANCEL could act: a call is \
         answered at once, with no ringing phase, so no caller can cancel before the answer\n{}",
        caller.report()
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "the CANCEL scenario failed ({status:?})\n{}",
        caller.report()
    );
    assert!(caller.logged("invite terminated"), "{}", caller.report());
    assert!(bridge.state(&conference).participants.is_empty());
}
