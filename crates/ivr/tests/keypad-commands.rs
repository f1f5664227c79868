//! In-meeting keypad commands: \*1, \*5, \*6 for everyone; \*21, \*22, \*23 for the organiser.

mod common;

use std::time::Duration;

use common::{Phone, anonymous, not_started, says};
use pinbridge_domain::meeting::Placement;
use pinbridge_ivr::{Input, MeetingNotice, Phase};

fn organiser_in_meeting() -> Phone {
    let mut phone = Phone::answered_without_recording();
    phone.reach_meeting(not_started());
    phone.keys("*24680#");
    phone.input(Input::PinChecked(true));
    phone.finish_prompt();
    phone.input(Input::Joined(Placement::Meeting));
    assert_eq!(phone.call.phase(), Phase::InMeeting);
    phone
}

fn caller_in_meeting() -> Phone {
    let mut phone = Phone::answered_without_recording();
    phone.reach_meeting(anonymous());
    phone.input(Input::Joined(Placement::Meeting));
    assert_eq!(phone.call.phase(), Phase::InMeeting);
    phone
}

#[test]
fn star_1_plays_help_and_a_star_cuts_it_short() {
    let mut phone = caller_in_meeting();
    assert_eq!(phone.keys("*1"), says(&["play help"]));
    assert_eq!(phone.keys("*5"), says(&["stop prompt", "toggle hand"]));
}

#[test]
fn star_5_and_star_6_toggle_hand_and_mute_and_say_the_result() {
    let mut phone = caller_in_meeting();
    assert_eq!(phone.keys("*5"), says(&["toggle hand"]));
    assert_eq!(
        phone.input(Input::MeetingEvent(MeetingNotice::HandChanged {
            raised: true
        })),
        says(&["play hand-raised"])
    );
    assert_eq!(
        phone.input(Input::MeetingEvent(MeetingNotice::HandChanged {
            raised: false
        })),
        says(&["play hand-lowered"])
    );
    assert_eq!(phone.keys("*6"), says(&["stop prompt", "toggle mute"]));
    assert_eq!(
        phone.input(Input::MeetingEvent(MeetingNotice::MuteChanged {
            muted: true
        })),
        says(&["play muted"])
    );
    assert_eq!(
        phone.input(Input::MeetingEvent(MeetingNotice::MuteChanged {
            muted: false
        })),
        says(&["play unmuted"])
    );
}

#[test]
fn organiser_commands_reach_the_meeting() {
    let mut phone = organiser_in_meeting();
    assert_eq!(phone.keys("*21"), says(&["admit all"]));
    assert_eq!(
        phone.input(Input::MeetingEvent(MeetingNotice::AdmittedAll { count: 2 })),
        says(&["play lobby-admitted-all"])
    );
    phone.finish_prompt();
    assert_eq!(phone.keys("*21"), says(&["admit all"]));
    assert_eq!(
        phone.input(Input::MeetingEvent(MeetingNotice::AdmittedAll { count: 0 })),
        says(&["play lobby-empty"])
    );
    phone.finish_prompt();
    assert_eq!(phone.keys("*22"), says(&["mute all"]));
    assert_eq!(
        phone.input(Input::MeetingEvent(MeetingNotice::EveryoneMuted)),
        says(&["play everyone-muted"])
    );
    phone.finish_prompt();
    assert_eq!(phone.keys("*23"), says(&["toggle announcements"]));
    assert_eq!(
        phone.input(Input::MeetingEvent(MeetingNotice::AnnouncementsChanged {
            on: false
        })),
        says(&["play announcements-off"])
    );
    assert_eq!(
        phone.input(Input::MeetingEvent(MeetingNotice::AnnouncementsChanged {
            on: true
        })),
        says(&["play announcements-on"])
    );
}

#[test]
fn a_caller_pressing_an_organiser_command_hears_not_organiser() {
    let mut phone = caller_in_meeting();
    for command in ["*21", "*22", "*23"] {
        assert_eq!(phone.keys(command), says(&["play not-organiser"]));
        phone.finish_prompt();
    }
    // The meeting may refuse too, for instance when the rules change under the call.
    assert_eq!(
        phone.input(Input::MeetingEvent(MeetingNotice::NotAllowed)),
        says(&["play not-organiser"])
    );
}

#[test]
fn an_incomplete_command_times_out() {
    let mut phone = organiser_in_meeting();
    assert_eq!(phone.keys("*"), says(&[]));
    assert_eq!(phone.advance(Duration::from_secs(2)), says(&[]));
    assert_eq!(
        phone.keys("1"),
        says(&[]),
        "a key without a star means nothing"
    );

    assert_eq!(phone.keys("*2"), says(&[]));
    assert_eq!(phone.advance(Duration::from_secs(2)), says(&[]));
    assert_eq!(phone.keys("1"), says(&[]));

    // Within the timeout the command completes.
    phone.keys("*2");
    phone.advance(Duration::from_millis(1900));
    assert_eq!(phone.keys("1"), says(&["admit all"]));
    assert_eq!(phone.call.poll_timeout(), None);
}

#[test]
fn unknown_commands_get_an_error_tone() {
    let mut phone = organiser_in_meeting();
    assert_eq!(phone.keys("*9"), says(&["tone Error"]));
    assert_eq!(phone.keys("*24"), says(&["tone Error"]));
    assert_eq!(phone.keys("*#"), says(&["tone Error"]));
    // A second star starts the command afresh.
    assert_eq!(phone.keys("**6"), says(&["toggle mute"]));
}

#[test]
fn an_organiser_typing_star_21_while_joining_gets_it_after_the_join() {
    let mut phone = Phone::answered_without_recording();
    phone.reach_meeting(not_started());
    phone.keys("*24680#");
    assert_eq!(
        phone.input(Input::PinChecked(true)),
        says(&["play joining-as-organiser"])
    );
    assert_eq!(
        phone.keys("*21"),
        says(&["stop prompt", "join as organiser"])
    );
    assert_eq!(
        phone.input(Input::Joined(Placement::Meeting)),
        says(&["admit all"])
    );
}

#[test]
fn meeting_notices_are_announced() {
    let mut phone = caller_in_meeting();
    assert_eq!(
        phone.input(Input::MeetingEvent(MeetingNotice::OnlyPerson)),
        says(&["play only-person"])
    );
    assert_eq!(
        phone.input(Input::MeetingEvent(MeetingNotice::ParticipantJoined)),
        says(&["play joined"])
    );
    assert_eq!(
        phone.input(Input::MeetingEvent(MeetingNotice::ParticipantLeft)),
        says(&["play left"])
    );
    assert_eq!(
        phone.input(Input::MeetingEvent(MeetingNotice::MeetingEnded)),
        says(&["play meeting-ended + goodbye"])
    );
    assert_eq!(phone.keys("*1"), says(&[]));
    assert_eq!(phone.finish_prompt(), says(&["hangup MeetingEnded"]));
}
