//! Late offer (RFC 3261 §13.2.1, RFC 3264): an INVITE without SDP gets pinbridge's offer
//! in the 200 OK and the caller's answer comes in the ACK. The organiser flow completes
//! that way (keys as RFC 4733 events, the prompt heard on the answered address); an ACK
//! whose body is no SDP answer ends the call with BYE before its caller flow starts.

use std::time::Duration;

use crate::common;

use common::phone::bridge::{Bridge, start};
use common::phone::{Attendance, CallerConfig, Ending, SippCaller};

#[test]
fn a_late_offer_call_completes_the_organiser_flow() {
    let bridge = start(&[]);
    let conference = bridge.meeting(&[]);
    let dir = common::tempdir();
    let capture = bridge.capture(dir.path());
    let mut config = CallerConfig::new(bridge.number, &bridge.organiser_keys(&conference));
    config.late_offer = true;
    let mut organiser = bridge.call_with("late-offer organiser", config);
    let answer = organiser.wait_answered(Duration::from_secs(30));
    bridge.wait_state(&conference, "the organiser joins", |s| {
        s.started && s.organisers_in_meeting() == 1
    });
    Bridge::wait_prompt(&capture, answer.rtp_port, "joining-as-organiser");
    assert_eq!(bridge.metric("pinbridge_calls_late_offer_total"), 1.0);
    assert_eq!(bridge.metric("pinbridge_calls_ended_bad_answer_total"), 0.0);
    organiser.hang_up();
    assert_eq!(
        organiser.wait_end(Duration::from_secs(30)),
        Ending::ByCaller
    );
    bridge.wait_state(&conference, "the organiser leaves", |s| {
        s.participants.is_empty()
    });
    capture.stop();
}

#[test]
fn an_ack_without_a_usable_answer_ends_the_call_with_bye() {
    let bridge = start(&[]);
    let conference = bridge.meeting(&[]);
    let mut caller = SippCaller::start_scenario(
        "bad-answer caller",
        &bridge.sip_udp,
        bridge.number,
        "127.0.0.1",
        "late-offer-bad-answer.xml",
    );
    caller.wait_answered(Duration::from_secs(30));
    assert_eq!(caller.wait_end(Duration::from_secs(30)), Ending::ByBridge);
    assert_eq!(bridge.metric("pinbridge_calls_ended_bad_answer_total"), 1.0);
    common::phone::wait_for("the call to be freed", Duration::from_secs(10), || {
        (bridge.metric("pinbridge_active_calls") == 0.0).then_some(())
    });
    let state = bridge.state(&conference);
    assert!(!state.started && state.participants.is_empty(), "{state:?}");
}
