//! Acceptance: the greeting a caller receives, decoded from the RTP it received,
//! correlates with the committed `welcome.wav`, and "enter the conference ID" follows.

use crate::common;

use std::time::Duration;

use common::phone::bridge::{self, Bridge};
use common::phone::*;

#[test]
fn the_caller_hears_the_greeting() {
    let bridge = bridge::start(&[]);
    let dir = common::tempdir();
    let capture = bridge.capture(dir.path());
    let mut caller = bridge.call("caller", "");
    let answer = caller.wait_answered(Duration::from_secs(30));
    let welcome = Bridge::wait_prompt(&capture, answer.rtp_port, "welcome");
    assert!(welcome > 0.8);
    Bridge::wait_prompt(&capture, answer.rtp_port, "enter-conference-id");
    caller.hang_up();
    assert_eq!(caller.wait_end(Duration::from_secs(30)), Ending::ByCaller);
    let received = received_audio(&capture.stop(), answer.rtp_port);
    assert!(received.payload_types.iter().all(|&pt| pt == 0 || pt == 8));
    // A prompt nobody played does not correlate: the check tells prompts apart.
    let score = prompt_score(&prompt("goodbye"), &received.samples);
    assert!(score < 0.5, "goodbye correlates {score:.3} before any key");
}
