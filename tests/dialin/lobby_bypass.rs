//! Acceptance 4 (lobby bypass): with dial-in lobby bypass on, a caller who arrives after
//! the organiser started the meeting joins it directly, without the lobby.

use crate::common;

use std::time::Duration;

use common::phone::bridge;
use common::phone::*;

#[test]
fn after_the_start_callers_skip_the_lobby() {
    let bridge = bridge::start(&[]);
    let conference = bridge.meeting(&["--allow-pstn-users-to-bypass-lobby", "true"]);
    let mut organiser = bridge.call("organiser", &bridge.organiser_keys(&conference));
    organiser.wait_answered(Duration::from_secs(30));
    bridge.wait_state(&conference, "the organiser starts the meeting", |s| {
        s.started && s.organisers_in_meeting() == 1
    });
    let mut caller = bridge.call("caller", &format!("{conference}#"));
    caller.wait_answered(Duration::from_secs(30));
    let state = bridge.wait_state(&conference, "the caller joins", |s| s.in_meeting() == 2);
    assert_eq!(state.in_lobby(), 0, "{state:?}");
    for call in [&mut caller, &mut organiser] {
        call.hang_up();
        assert_eq!(call.wait_end(Duration::from_secs(30)), Ending::ByCaller);
    }
}
