//! Acceptance 5 (CANCEL): a caller who gives up before the answer. pinbridge answers the
//! CANCEL with 200 and the INVITE with 487, never with 200; the call never joins the
//! meeting nor counts as answered; and its RTP port is given back: with room for one
//! call only, the next caller is answered and hears the greeting.

use crate::common;

use std::time::Duration;

use common::phone::bridge::{self, Bridge};
use common::phone::*;

#[test]
fn cancel_before_the_answer() {
    // One RTP pair: a port kept by the cancelled call would refuse the next one.
    let bridge = bridge::start_with_rtp_ports(&[], 2);
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
        status.is_some_and(|s| s.success()),
        "the CANCEL scenario failed ({status:?})\n{}",
        caller.report()
    );
    let responses = caller.received_responses();
    let finals: Vec<(u16, &str)> = responses
        .iter()
        .filter(|r| r.status >= 200)
        .map(|r| (r.status, r.cseq.as_str()))
        .collect();
    // The 487 may come again until the ACK arrives: the final responses are one 200 to
    // the CANCEL and 487s to the INVITE.
    assert_eq!(
        finals.iter().filter(|f| **f == (200, "1 CANCEL")).count(),
        1,
        "one 200 to the CANCEL: {finals:?}\n{}",
        caller.report()
    );
    assert!(
        finals.contains(&(487, "1 INVITE")),
        "a 487 to the INVITE: {finals:?}\n{}",
        caller.report()
    );
    assert!(
        finals
            .iter()
            .all(|f| *f == (200, "1 CANCEL") || *f == (487, "1 INVITE")),
        "nothing but the 200 to the CANCEL and the 487 to the INVITE: {finals:?}\n{}",
        caller.report()
    );
    assert!(caller.logged("cancel answered"), "{}", caller.report());
    assert!(caller.logged("invite terminated"), "{}", caller.report());

    // The call is gone and never counted as answered.
    wait_for("the cancelled call to end", Duration::from_secs(30), || {
        (bridge.metric("pinbridge_active_calls") == 0.0).then_some(())
    });
    assert_eq!(bridge.metric("pinbridge_calls_answered_total"), 0.0);
    assert!(bridge.state(&conference).participants.is_empty());

    // The port is free again: the next caller is answered and greeted.
    let dir = common::tempdir();
    let capture = bridge.capture(dir.path());
    let mut next = bridge.call("next caller", "");
    let answer = next.wait_answered(Duration::from_secs(30));
    assert!(
        (bridge.rtp_low..=bridge.rtp_high).contains(&answer.rtp_port),
        "{answer:?}"
    );
    Bridge::wait_prompt(&capture, answer.rtp_port, "welcome");
    assert_eq!(bridge.metric("pinbridge_calls_refused_no_port_total"), 0.0);
    assert_eq!(bridge.metric("pinbridge_calls_answered_total"), 1.0);
    next.hang_up();
    assert_eq!(next.wait_end(Duration::from_secs(30)), Ending::ByCaller);
    capture.stop();
}
