//! Acceptance 4 (organiser into a running meeting): the organiser starts the meeting by
//! phone, admits a first caller with *21 and leaves: the meeting goes on with that
//! caller. A second caller waits in the lobby. The organiser calls again, presses star
//! right after the conference ID's pound (no prompt asks for it once the meeting runs),
//! enters the PIN, and has the organiser's keys: *21 admits the waiting caller.

use crate::common;

use std::time::Duration;

use common::phone::bridge;
use common::phone::*;

#[test]
fn the_organiser_calling_a_running_meeting_gets_star21() {
    let bridge = bridge::start(&[]);
    let conference = bridge.meeting(&[]);
    let mut config = CallerConfig::new(bridge.number, &bridge.organiser_keys(&conference));
    config.more_keys = "*21".into();
    let mut first = bridge.call_with("organiser's first call", config);
    first.wait_answered(Duration::from_secs(30));
    bridge.wait_state(&conference, "the meeting starts", |s| {
        s.started && s.organisers_in_meeting() == 1
    });
    let mut early = bridge.call("first caller", &format!("{conference}#"));
    early.wait_answered(Duration::from_secs(30));
    bridge.wait_state(&conference, "the first caller waits", |s| s.in_lobby() == 1);
    first.more_keys();
    bridge.wait_state(&conference, "*21 admits the first caller", |s| {
        s.in_meeting() == 2
    });
    first.hang_up();
    assert_eq!(first.wait_end(Duration::from_secs(30)), Ending::ByCaller);
    let state = bridge.wait_state(&conference, "the organiser leaves", |s| {
        s.participants.len() == 1
    });
    assert!(state.started, "the meeting goes on: {state:?}");

    let mut caller = bridge.call("second caller", &format!("{conference}#"));
    caller.wait_answered(Duration::from_secs(30));
    bridge.wait_state(&conference, "the second caller waits in the lobby", |s| {
        s.in_lobby() == 1
    });

    let mut config = CallerConfig::new(bridge.number, &format!("{conference}#*,{}#", bridge.pin));
    config.more_keys = "*21".into();
    let mut organiser = bridge.call_with("organiser", config);
    organiser.wait_answered(Duration::from_secs(30));
    let state = bridge.wait_state(&conference, "the organiser joins", |s| {
        s.organisers_in_meeting() == 1
    });
    assert_eq!(state.in_lobby(), 1, "{state:?}");
    organiser.more_keys();
    bridge.wait_state(&conference, "*21 admits the second caller", |s| {
        s.in_lobby() == 0 && s.in_meeting() == 3
    });
    for call in [&mut early, &mut caller, &mut organiser] {
        call.hang_up();
        assert_eq!(call.wait_end(Duration::from_secs(30)), Ending::ByCaller);
    }
}
