//! Acceptance 5 (BYE from either side): a caller in the lobby hangs up with BYE and
//! leaves the meeting; pinbridge hangs up with BYE on a caller who never enters a
//! conference ID (three empty tries), and the caller's 200 completes it.

use crate::common;

use std::time::Duration;

use common::phone::bridge;
use common::phone::*;

#[test]
fn the_caller_hangs_up() {
    let bridge = bridge::start(&[]);
    let conference = bridge.meeting(&[]);
    let mut caller = bridge.call("caller", &format!("{conference}#"));
    caller.wait_answered(Duration::from_secs(30));
    bridge.wait_state(&conference, "the caller waits in the lobby", |s| {
        s.in_lobby() == 1
    });
    caller.hang_up();
    assert_eq!(caller.wait_end(Duration::from_secs(30)), Ending::ByCaller);
    bridge.wait_state(&conference, "the caller leaves", |s| {
        s.participants.is_empty()
    });
}

#[test]
fn pinbridge_hangs_up() {
    let bridge = bridge::start(&[]);
    // Pound alone three times: three empty conference IDs.
    let mut caller = bridge.call("caller", "#,,,,,#,,,,,#");
    caller.wait_answered(Duration::from_secs(30));
    assert_eq!(caller.wait_end(Duration::from_secs(90)), Ending::ByBridge);
}
