//! Acceptance 3 (PIN): a caller who presses star and enters a wrong PIN three times hears
//! goodbye (correlated with `goodbye.wav` in the RTP it received) and pinbridge sends
//! BYE; the meeting has not started.

use crate::common;

use std::time::Duration;

use common::phone::bridge::{self, Bridge};
use common::phone::*;

#[test]
fn three_wrong_pins_end_the_call() {
    let bridge = bridge::start(&[]);
    let conference = bridge.meeting(&[]);
    // A trivial PIN is never generated, so this one is wrong.
    let wrong = "0".repeat(bridge.pin.len());
    assert_ne!(wrong, bridge.pin);
    let dir = common::tempdir();
    let capture = bridge.capture(dir.path());
    let keys = format!("{conference}#,,*,{wrong}#,,,,{wrong}#,,,,{wrong}#");
    let mut caller = bridge.call("caller", &keys);
    let answer = caller.wait_answered(Duration::from_secs(30));
    assert_eq!(caller.wait_end(Duration::from_secs(90)), Ending::ByBridge);
    Bridge::wait_prompt(&capture, answer.rtp_port, "goodbye");
    Bridge::wait_prompt(&capture, answer.rtp_port, "pin-invalid");
    let state = bridge.state(&conference);
    assert!(!state.started, "{state:?}");
    assert!(state.participants.is_empty(), "{state:?}");
    assert_eq!(bridge.metric("pinbridge_pin_failures_total"), 3.0);
    capture.stop();
}
