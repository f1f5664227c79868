//! The caller flow from greeting to join or hang-up, in virtual time.

mod common;

use std::time::Duration;

use common::{Phone, anonymous, not_started, says, started};
use pinbridge_domain::meeting::Placement;
use pinbridge_ivr::{
    Action, Call, ConferenceInfo, ConferenceLookup, Config, ConfigError, Input, Phase,
};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn organiser_presses_star_enters_the_pin_and_joins_as_organiser() {
    let (mut phone, seen) = Phone::answered(Config::default());
    assert_eq!(seen, says(&["play welcome"]));
    assert_eq!(phone.finish_prompt(), says(&["play enter-conference-id"]));
    assert_eq!(phone.finish_prompt(), says(&[]));
    assert_eq!(phone.keys("123456789#"), says(&["lookup 123456789"]));
    assert_eq!(
        phone.found(not_started()),
        says(&["play organiser-press-star"])
    );
    assert_eq!(phone.keys("*"), says(&["stop prompt", "play enter-pin"]));
    assert_eq!(phone.finish_prompt(), says(&[]));
    assert_eq!(phone.keys("24680#"), says(&["verify 123456789 24680"]));
    assert_eq!(
        phone.input(Input::PinChecked(true)),
        says(&["play joining-as-organiser"])
    );
    assert_eq!(phone.finish_prompt(), says(&["join as organiser"]));
    assert_eq!(phone.call.phase(), Phase::Joining);
    assert_eq!(phone.input(Input::Joined(Placement::Meeting)), says(&[]));
    assert_eq!(phone.call.phase(), Phase::InMeeting);
    assert!(phone.call.is_organiser());
    assert_eq!(
        phone.call.conference_id().map(|id| id.as_str()),
        Some("123456789")
    );
    assert_eq!(
        phone.call.poll_timeout(),
        None,
        "nothing is timed in the meeting"
    );
}

#[test]
fn star_pressed_while_the_organiser_prompt_is_still_awaited_after_it_ends() {
    let mut phone = Phone::answered_without_recording();
    phone.reach_meeting(not_started());
    phone.finish_prompt();
    assert_eq!(phone.advance(Duration::from_millis(2900)), says(&[]));
    assert_eq!(phone.keys("*"), says(&["play enter-pin"]));
}

#[test]
fn a_caller_who_does_not_press_star_records_a_name_and_waits_in_the_lobby() {
    let (mut phone, _) = Phone::answered(Config::default());
    phone.reach_meeting(not_started());
    assert_eq!(phone.finish_prompt(), says(&[]));
    assert_eq!(phone.advance(secs(3)), says(&["play record-name"]));
    assert_eq!(phone.finish_prompt(), says(&["tone Beep", "record 4s"]));
    assert_eq!(
        phone.advance(secs(4)),
        says(&["stop recording", "play lobby-wait"])
    );
    assert_eq!(phone.finish_prompt(), says(&["join"]));
    assert_eq!(
        phone.input(Input::Joined(Placement::Lobby)),
        says(&["music on"])
    );
    assert_eq!(phone.call.phase(), Phase::Lobby);
    // Keys in the lobby do nothing, but for *0 (repeat).
    assert_eq!(phone.keys("*21"), says(&[]));
    assert_eq!(
        phone.input(Input::Admitted),
        says(&["music off", "play admitted"])
    );
    assert_eq!(phone.call.phase(), Phase::InMeeting);
    assert!(!phone.call.is_organiser());
}

#[test]
fn pound_ends_the_name_recording_early() {
    let (mut phone, _) = Phone::answered(Config::default());
    phone.reach_meeting(started());
    assert_eq!(phone.finish_prompt(), says(&["tone Beep", "record 4s"]));
    assert_eq!(
        phone.keys("#"),
        says(&["stop recording", "play lobby-wait"])
    );
}

#[test]
fn three_wrong_pins_end_the_call_with_goodbye() {
    let mut phone = Phone::answered_without_recording();
    phone.reach_meeting(not_started());
    phone.keys("*");
    phone.finish_prompt();
    for (typed, wrong) in [("11111#", "11111"), ("22222#", "22222")] {
        assert_eq!(
            phone.keys(typed),
            says(&[&format!("verify 123456789 {wrong}")])
        );
        assert_eq!(
            phone.input(Input::PinChecked(false)),
            says(&["play pin-invalid + enter-pin"])
        );
        phone.finish_prompt();
    }
    assert_eq!(phone.keys("33333#"), says(&["verify 123456789 33333"]));
    assert_eq!(
        phone.input(Input::PinChecked(false)),
        says(&["play pin-invalid + goodbye"])
    );
    assert_eq!(phone.call.phase(), Phase::Leaving);
    assert_eq!(phone.keys("*24680#"), says(&[]), "no more tries");
    assert_eq!(phone.finish_prompt(), says(&["hangup PinNotAccepted"]));
    assert_eq!(phone.call.phase(), Phase::Ended);
    assert_eq!(phone.call.poll_timeout(), None);
}

#[test]
fn a_pin_check_the_bridge_cannot_take_says_goodbye_without_judging_the_pin() {
    let mut phone = Phone::answered_without_recording();
    phone.reach_meeting(not_started());
    phone.keys("*");
    phone.finish_prompt();
    assert_eq!(phone.keys("24680#"), says(&["verify 123456789 24680"]));
    assert_eq!(phone.input(Input::ServiceBusy), says(&["play goodbye"]));
    assert_eq!(phone.call.phase(), Phase::Leaving);
    assert_eq!(phone.finish_prompt(), says(&["hangup Busy"]));
    assert!(!phone.call.is_organiser());
}

#[test]
fn locked_pin_entry_tells_the_caller_and_ends_the_call_without_another_try() {
    let mut phone = Phone::answered_without_recording();
    phone.reach_meeting(not_started());
    phone.keys("*");
    phone.finish_prompt();
    assert_eq!(phone.keys("24680#"), says(&["verify 123456789 24680"]));
    assert_eq!(
        phone.input(Input::PinEntryLocked),
        says(&["play pin-entry-locked + goodbye"])
    );
    assert_eq!(phone.call.phase(), Phase::Leaving);
    assert_eq!(phone.keys("*13579#"), says(&[]), "no more tries");
    assert_eq!(phone.finish_prompt(), says(&["hangup PinEntryLocked"]));
    assert!(!phone.call.is_organiser());
}

#[test]
fn a_pin_of_the_wrong_length_is_a_failed_try_without_a_check() {
    let mut phone = Phone::answered_without_recording();
    phone.reach_meeting(not_started());
    phone.keys("*");
    assert_eq!(
        phone.keys("12#"),
        says(&["stop prompt", "play pin-invalid + enter-pin"])
    );
    phone.finish_prompt();
    assert_eq!(
        phone.keys("1234567890123#"),
        says(&["play pin-invalid + enter-pin"])
    );
    phone.finish_prompt();
    // A bare pound is a try with nothing typed: not called invalid, still counted.
    assert_eq!(phone.keys("#"), says(&["play goodbye"]));
}

#[test]
fn three_wrong_conference_ids_end_the_call_with_goodbye() {
    let (mut phone, _) = Phone::answered(Config::default());
    phone.finish_prompt();
    phone.finish_prompt();
    assert_eq!(
        phone.keys("12#"),
        says(&["play conference-id-invalid + enter-conference-id"]),
        "too short to look up"
    );
    phone.finish_prompt();
    assert_eq!(phone.keys("987654321#"), says(&["lookup 987654321"]));
    assert_eq!(
        phone.input(Input::ConferenceLookup(ConferenceLookup::NotFound)),
        says(&["play conference-id-invalid + enter-conference-id"])
    );
    phone.finish_prompt();
    phone.keys("1111111#");
    assert_eq!(
        phone.input(Input::ConferenceLookup(ConferenceLookup::NotFound)),
        says(&["play conference-id-invalid + goodbye"])
    );
    assert_eq!(
        phone.finish_prompt(),
        says(&["hangup ConferenceIdNotAccepted"])
    );
}

#[test]
fn silence_inter_digit_pauses_and_slow_entries_each_cost_a_try() {
    let (mut phone, _) = Phone::answered(Config::default());
    phone.finish_prompt();
    phone.finish_prompt();
    // Silence: the overall timeout, then the question again (nothing was invalid).
    assert_eq!(phone.advance(Duration::from_millis(14_999)), says(&[]));
    assert_eq!(
        phone.advance(Duration::from_millis(1)),
        says(&["play enter-conference-id"])
    );
    phone.finish_prompt();
    // A pause of five seconds between keys.
    assert_eq!(phone.keys("123"), says(&[]));
    assert_eq!(phone.advance(Duration::from_millis(4_999)), says(&[]));
    assert_eq!(
        phone.advance(Duration::from_millis(1)),
        says(&["play conference-id-invalid + enter-conference-id"])
    );
    phone.finish_prompt();
    // Keys every four seconds never trip the inter-digit timeout but run out the entry.
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.extend(phone.keys("1"));
        seen.extend(phone.advance(secs(4)));
    }
    assert_eq!(seen, says(&["play conference-id-invalid + goodbye"]));
    assert_eq!(
        phone.finish_prompt(),
        says(&["hangup ConferenceIdNotAccepted"])
    );
}

#[test]
fn a_pin_entry_times_out_like_a_wrong_pin() {
    let mut phone = Phone::answered_without_recording();
    phone.reach_meeting(not_started());
    phone.keys("*");
    phone.finish_prompt();
    assert_eq!(phone.advance(secs(15)), says(&["play enter-pin"]));
    phone.finish_prompt();
    phone.keys("24");
    assert_eq!(
        phone.advance(secs(5)),
        says(&["play pin-invalid + enter-pin"])
    );
    phone.finish_prompt();
    assert_eq!(phone.advance(secs(15)), says(&["play goodbye"]));
    assert_eq!(phone.finish_prompt(), says(&["hangup PinNotAccepted"]));
}

#[test]
fn a_key_during_the_greeting_cuts_it_short_and_is_kept() {
    let (mut phone, _) = Phone::answered(Config::default());
    assert_eq!(phone.keys("1"), says(&["stop prompt"]));
    assert_eq!(phone.playing(), None, "the entry prompt is skipped");
    assert_eq!(phone.keys("23456789#"), says(&["lookup 123456789"]));
}

#[test]
fn a_whole_conference_id_typed_during_the_greeting_is_taken() {
    let (mut phone, _) = Phone::answered(Config::default());
    assert_eq!(
        phone.keys("123456789#"),
        says(&["stop prompt", "lookup 123456789"])
    );
}

#[test]
fn keys_that_come_before_the_answer_is_confirmed_are_taken() {
    let mut phone = Phone::new(Config::default());
    assert_eq!(phone.keys("123456789#"), says(&[]));
    assert_eq!(phone.call.phase(), Phase::NotAnswered);
    assert_eq!(
        phone.input(Input::CallAnswered),
        says(&["lookup 123456789"]),
        "the greeting is skipped as if the keys had cut it short"
    );
}

#[test]
fn a_key_during_the_entry_prompt_cuts_it_short() {
    let (mut phone, _) = Phone::answered(Config::default());
    phone.finish_prompt();
    assert_eq!(phone.keys("12"), says(&["stop prompt"]));
}

#[test]
fn started_meeting_has_no_organiser_prompt() {
    let mut phone = Phone::answered_without_recording();
    assert_eq!(phone.reach_meeting(started()), says(&["play lobby-wait"]));
    assert_eq!(phone.finish_prompt(), says(&["join"]));
}

#[test]
fn star_right_after_the_pound_is_honoured_in_a_started_meeting() {
    let mut phone = Phone::answered_without_recording();
    phone.finish_prompt();
    phone.finish_prompt();
    assert_eq!(phone.keys("123456789#*"), says(&["lookup 123456789"]));
    assert_eq!(phone.found(started()), says(&["play enter-pin"]));
    assert_eq!(
        phone.keys("24680#"),
        says(&["stop prompt", "verify 123456789 24680"])
    );
}

#[test]
fn star_and_pin_typed_ahead_skip_the_pin_prompt() {
    let (mut phone, _) = Phone::answered(Config::default());
    phone.keys("123456789#*24680#");
    assert_eq!(phone.found(started()), says(&["verify 123456789 24680"]));
    assert_eq!(
        phone.input(Input::PinChecked(true)),
        says(&["play joining-as-organiser"])
    );
}

#[test]
fn star_during_the_next_prompt_of_a_started_meeting_is_honoured() {
    let mut phone = Phone::answered_without_recording();
    phone.reach_meeting(started());
    assert_eq!(phone.keys("*"), says(&["stop prompt", "play enter-pin"]));

    let (mut phone, _) = Phone::answered(Config::default());
    assert_eq!(phone.reach_meeting(started()), says(&["play record-name"]));
    assert_eq!(phone.keys("*"), says(&["stop prompt", "play enter-pin"]));
}

#[test]
fn star_after_the_next_prompt_has_ended_is_not_honoured() {
    let mut phone = Phone::answered_without_recording();
    phone.reach_meeting(started());
    assert_eq!(phone.finish_prompt(), says(&["join"]));
    assert_eq!(phone.keys("*"), says(&[]));
    assert_eq!(
        phone.input(Input::Joined(Placement::Lobby)),
        says(&["music on"])
    );

    // Before the start, the organiser prompt was the chance: the lobby prompt is not.
    let mut phone = Phone::answered_without_recording();
    phone.reach_meeting(not_started());
    phone.finish_prompt();
    assert_eq!(phone.advance(secs(3)), says(&["play lobby-wait"]));
    assert_eq!(phone.keys("*"), says(&[]));
}

#[test]
fn anonymous_start_asks_nobody_for_a_pin_and_has_no_lobby() {
    let mut phone = Phone::answered_without_recording();
    assert_eq!(phone.reach_meeting(anonymous()), says(&["join"]));
    assert_eq!(phone.input(Input::Joined(Placement::Meeting)), says(&[]));
    assert_eq!(phone.call.phase(), Phase::InMeeting);

    let (mut phone, _) = Phone::answered(Config::default());
    assert_eq!(
        phone.reach_meeting(anonymous()),
        says(&["play record-name"])
    );
    phone.finish_prompt();
    assert_eq!(phone.keys("#"), says(&["stop recording", "join"]));
}

#[test]
fn a_star_typed_ahead_is_honoured_in_an_anonymous_start_meeting() {
    let mut phone = Phone::answered_without_recording();
    phone.keys("123456789#*");
    assert_eq!(phone.found(anonymous()), says(&["play enter-pin"]));
}

#[test]
fn no_organiser_prompt_when_the_organiser_has_no_pin() {
    let mut phone = Phone::answered_without_recording();
    let info = ConferenceInfo {
        organiser_has_pin: false,
        ..not_started()
    };
    phone.finish_prompt();
    phone.finish_prompt();
    phone.keys("123456789#*");
    assert_eq!(phone.found(info), says(&["play lobby-wait"]));
}

#[test]
fn bypass_callers_join_directly_and_hear_the_lobby_if_the_meeting_changed() {
    let mut phone = Phone::answered_without_recording();
    let bypass = ConferenceInfo {
        caller_placement: Placement::Meeting,
        ..started()
    };
    assert_eq!(phone.reach_meeting(bypass), says(&["join"]));
    // The meeting ended in the meantime, so the rules put the caller in the lobby.
    assert_eq!(
        phone.input(Input::Joined(Placement::Lobby)),
        says(&["play lobby-wait"])
    );
    assert_eq!(phone.finish_prompt(), says(&["music on"]));
}

#[test]
fn lobby_timeout_says_so_and_hangs_up() {
    let mut phone = Phone::answered_without_recording();
    phone.reach_meeting(started());
    phone.finish_prompt();
    phone.input(Input::Joined(Placement::Lobby));
    assert_eq!(
        phone.input(Input::LobbyTimedOut),
        says(&["music off", "play lobby-timeout + goodbye"])
    );
    assert_eq!(phone.finish_prompt(), says(&["hangup LobbyTimeout"]));
    assert_eq!(phone.input(Input::Admitted), says(&[]));
}

#[test]
fn a_driver_that_never_answers_the_look_up_gets_goodbye() {
    let (mut phone, _) = Phone::answered(Config::default());
    phone.keys("123456789#");
    assert_eq!(phone.advance(secs(10)), says(&["play goodbye"]));
    assert_eq!(phone.finish_prompt(), says(&["hangup NoReply"]));
}

#[test]
fn a_prompt_never_reported_finished_is_given_up_on() {
    let (mut phone, _) = Phone::answered(Config::default());
    assert_eq!(
        phone.advance(secs(60)),
        says(&["stop prompt", "play enter-conference-id"])
    );
}

#[test]
fn answers_before_the_answer_and_stale_prompt_ends_are_ignored() {
    let mut call = Call::new(Config::default()).unwrap();
    let now = std::time::Instant::now();
    call.handle(Input::PinChecked(true), now);
    assert!(call.poll_action().is_none());
    assert_eq!(call.phase(), Phase::NotAnswered);

    let (mut phone, _) = Phone::answered(Config::default());
    assert_eq!(
        phone.input(Input::PromptFinished(pinbridge_ivr::PromptId::Goodbye)),
        says(&[])
    );
    assert_eq!(phone.input(Input::Joined(Placement::Meeting)), says(&[]));
    assert_eq!(phone.call.phase(), Phase::Identifying);
}

#[test]
fn the_pin_never_shows_in_debug_output() {
    let mut call = Call::new(Config {
        name_recording: false,
        ..Config::default()
    })
    .unwrap();
    let now = std::time::Instant::now();
    call.handle(Input::CallAnswered, now);
    for key in "123456789#*975".chars() {
        call.handle(Input::Digit(key), now);
    }
    // Part of the PIN is typed ahead while the look-up runs.
    assert!(!format!("{call:?}").contains("975"));
    call.handle(
        Input::ConferenceLookup(ConferenceLookup::Found(started())),
        now,
    );
    // Now it is part of the PIN entry.
    assert!(!format!("{call:?}").contains("975"));
    for key in "31#".chars() {
        call.handle(Input::Digit(key), now);
    }
    let actions: Vec<Action> = std::iter::from_fn(|| call.poll_action()).collect();
    let verify = actions
        .iter()
        .find(|a| matches!(a, Action::VerifyPin { .. }))
        .expect("the PIN is verified");
    let shown = format!("{verify:?}");
    assert!(!shown.contains("97531"), "{shown}");
    assert!(shown.contains("***********"));
}

#[test]
fn a_config_that_could_not_end_is_refused() {
    let zero_tries = Config {
        pin_tries: 0,
        ..Config::default()
    };
    assert_eq!(
        Call::new(zero_tries).unwrap_err(),
        ConfigError::NoTries("PIN tries")
    );
    let zero_wait = Config {
        command_timeout: Duration::ZERO,
        ..Config::default()
    };
    assert_eq!(
        Call::new(zero_wait).unwrap_err().to_string(),
        "command timeout must be longer than zero"
    );
}

#[test]
fn a_star_that_cuts_the_retry_prompt_still_starts_the_entry_clock() {
    // Found by the property test: the call used to wait for ever after this.
    let (mut phone, _) = Phone::answered(Config::default());
    phone.keys("00");
    assert_eq!(
        phone.advance(secs(5)),
        says(&["play conference-id-invalid + enter-conference-id"])
    );
    assert_eq!(phone.keys("*"), says(&["stop prompt"]));
    assert_eq!(phone.advance(secs(15)), says(&["play enter-conference-id"]));
}
