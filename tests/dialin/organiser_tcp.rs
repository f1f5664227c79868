//! SIP over TCP: the organiser's call of acceptance 1 (conference ID, star, PIN as RTP
//! telephone-events) reaches pinbridge's `--sip-tcp` address; the meeting starts and the
//! call ends with BYE over the same connection.

use crate::common;

use std::time::Duration;

use common::phone::bridge::{self, Bridge};
use common::phone::*;

#[test]
fn the_organiser_starts_the_meeting_over_tcp() {
    let bridge = bridge::start(&[]);
    let conference = bridge.meeting(&[]);
    let dir = common::tempdir();
    let capture = bridge.capture(dir.path());
    let mut config = CallerConfig::new(bridge.number, &bridge.organiser_keys(&conference));
    config.tcp = true;
    let mut organiser = SippCaller::start("organiser over TCP", &bridge.sip_tcp, &config);
    let answer = organiser.wait_answered(Duration::from_secs(30));
    bridge.wait_state(&conference, "the organiser joins", |s| {
        s.started && s.organisers_in_meeting() == 1
    });
    Bridge::wait_prompt(&capture, answer.rtp_port, "joining-as-organiser");
    organiser.hang_up();
    assert_eq!(
        organiser.wait_end(Duration::from_secs(30)),
        Ending::ByCaller
    );
    assert!(
        organiser.messages().contains("TCP message sent"),
        "SIPp spoke UDP:\n{}",
        organiser.messages()
    );
    bridge.wait_state(&conference, "the organiser leaves", |s| {
        s.participants.is_empty()
    });
    capture.stop();
}
