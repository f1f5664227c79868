//! Acceptance 3 (conference ID): a caller who enters an unknown conference ID three
//! times hears goodbye (correlated with `goodbye.wav`) and pinbridge sends BYE.

use crate::common;

use std::time::Duration;

use common::phone::bridge::{self, Bridge};
use common::phone::*;

#[test]
fn three_unknown_conference_ids_end_the_call() {
    let bridge = bridge::start(&[]);
    let conference = bridge.meeting(&[]);
    let unknown = |d: char| -> String {
        let id: String = conference.chars().map(|_| d).collect();
        assert_ne!(id, conference);
        id
    };
    let dir = common::tempdir();
    let capture = bridge.capture(dir.path());
    let keys = format!(
        "{}#,,,,,{}#,,,,,{}#",
        unknown('1'),
        unknown('2'),
        unknown('3')
    );
    let mut caller = bridge.call("caller", &keys);
    let answer = caller.wait_answered(Duration::from_secs(30));
    assert_eq!(caller.wait_end(Duration::from_secs(90)), Ending::ByBridge);
    Bridge::wait_prompt(&capture, answer.rtp_port, "conference-id-invalid");
    Bridge::wait_prompt(&capture, answer.rtp_port, "goodbye");
    assert!(bridge.state(&conference).participants.is_empty());
    capture.stop();
}
