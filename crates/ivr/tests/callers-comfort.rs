//! Callers' comfort: the lobby's reminder every minute, `*0` (the last prompt again) in
//! the flow, the lobby and the meeting, and the greeting's offer of a number's
//! alternate languages.

mod common;

use std::time::Duration;

use common::{Phone, anonymous, says, started};
use pinbridge_domain::meeting::Placement;
use pinbridge_ivr::{Call, Config, ConfigError, Input, MeetingNotice, Phase};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn no_recording() -> Config {
    Config {
        name_recording: false,
        ..Config::default()
    }
}

/// A caller of a started meeting, in the lobby with the music playing.
fn in_lobby(config: Config) -> Phone {
    let (mut phone, _) = Phone::answered(config);
    assert_eq!(phone.reach_meeting(started()), says(&["play lobby-wait"]));
    assert_eq!(phone.finish_prompt(), says(&["join"]));
    assert_eq!(
        phone.input(Input::Joined(Placement::Lobby)),
        says(&["music on"])
    );
    assert_eq!(phone.call.phase(), Phase::Lobby);
    phone
}

#[test]
fn the_lobby_reminds_the_caller_every_minute_until_admitted() {
    let mut phone = in_lobby(no_recording());
    assert_eq!(phone.advance(secs(59)), says(&[]));
    assert_eq!(phone.advance(secs(1)), says(&["play lobby-reminder"]));
    // The music stays on: the reminder interrupts it, and it comes back afterwards.
    assert_eq!(phone.finish_prompt(), says(&[]));
    assert_eq!(phone.advance(secs(59)), says(&[]));
    assert_eq!(phone.advance(secs(1)), says(&["play lobby-reminder"]));
    assert_eq!(
        phone.input(Input::Admitted),
        says(&["stop prompt", "music off", "play admitted"])
    );
    phone.finish_prompt();
    assert_eq!(phone.advance(secs(300)), says(&[]));
}

#[test]
fn the_reminder_interval_is_configurable_and_can_be_off() {
    let mut phone = in_lobby(Config {
        lobby_reminder: Some(secs(15)),
        ..no_recording()
    });
    assert_eq!(phone.advance(secs(15)), says(&["play lobby-reminder"]));

    let mut phone = in_lobby(Config {
        lobby_reminder: None,
        ..no_recording()
    });
    assert_eq!(phone.advance(secs(600)), says(&[]));
}

#[test]
fn a_zero_reminder_interval_or_too_many_languages_is_refused() {
    let zero = Config {
        lobby_reminder: Some(Duration::ZERO),
        ..Config::default()
    };
    assert_eq!(
        Call::new(zero).unwrap_err(),
        ConfigError::ZeroDuration("lobby reminder interval")
    );
    let five = Config {
        alternate_languages: 5,
        ..Config::default()
    };
    assert_eq!(
        Call::new(five).unwrap_err(),
        ConfigError::TooManyLanguages(5)
    );
}

#[test]
fn star_0_in_the_lobby_repeats_the_last_prompt_over_the_music() {
    let mut phone = in_lobby(no_recording());
    assert_eq!(phone.keys("*0"), says(&["play lobby-wait"]));
    phone.finish_prompt();
    phone.advance(secs(60));
    // A star cuts the reminder short; the music goes on; `*0` says it again.
    assert_eq!(phone.keys("*"), says(&["stop prompt"]));
    assert_eq!(phone.keys("0"), says(&["play lobby-reminder"]));
    // Other keys after a star do nothing in the lobby.
    phone.finish_prompt();
    assert_eq!(phone.keys("*5"), says(&[]));
    assert_eq!(phone.keys("0"), says(&[]));
}

#[test]
fn star_0_in_the_meeting_repeats_the_last_prompt() {
    let mut phone = Phone::answered_without_recording();
    phone.reach_meeting(anonymous());
    phone.input(Input::Joined(Placement::Meeting));
    // Nothing heard in the meeting yet: an error tone.
    assert_eq!(phone.keys("*0"), says(&["tone Error"]));
    phone.keys("*6");
    phone.input(Input::MeetingEvent(MeetingNotice::MuteChanged {
        muted: true,
    }));
    phone.finish_prompt();
    assert_eq!(phone.keys("*0"), says(&["play muted"]));
    // A star cuts the repeat short, and `*0` starts it again.
    assert_eq!(phone.keys("*0"), says(&["stop prompt", "play muted"]));
    // Entry and exit announcements are not what `*0` repeats.
    phone.input(Input::MeetingEvent(MeetingNotice::ParticipantJoined));
    phone.finish_prompt();
    assert_eq!(phone.keys("*0"), says(&["play muted"]));
    phone.finish_prompt();
    assert_eq!(phone.keys("*1"), says(&["play help"]));
    assert_eq!(phone.keys("*0"), says(&["stop prompt", "play help"]));
}

#[test]
fn star_0_during_the_conference_id_repeats_the_question_and_starts_the_entry_over() {
    let mut phone = Phone::answered_without_recording();
    phone.finish_prompt();
    assert_eq!(
        phone.playing().map(|p| p.name()),
        Some("enter-conference-id")
    );
    assert_eq!(
        phone.keys("123"),
        says(&["stop prompt"]),
        "the first key cuts the question short"
    );
    assert_eq!(phone.keys("*0"), says(&["play enter-conference-id"]));
    phone.finish_prompt();
    // What was typed before `*0` is gone: the ID typed now is the whole entry.
    assert_eq!(phone.keys("123456789#"), says(&["lookup 123456789"]));
}

#[test]
fn star_0_during_the_pin_repeats_the_pin_question() {
    let mut phone = Phone::answered_without_recording();
    phone.reach_meeting(common::not_started());
    phone.keys("*");
    assert_eq!(phone.playing().map(|p| p.name()), Some("enter-pin"));
    phone.keys("246");
    assert_eq!(phone.keys("*0"), says(&["play enter-pin"]));
    assert_eq!(
        phone.keys("24680#"),
        says(&["stop prompt", "verify 123456789 24680"])
    );
}

#[test]
fn star_0_during_the_greeting_starts_it_over_and_a_lone_star_carries_on() {
    let mut phone = Phone::answered_without_recording();
    assert_eq!(phone.keys("*0"), says(&["stop prompt", "play welcome"]));
    assert_eq!(phone.finish_prompt(), says(&["play enter-conference-id"]));

    let mut phone = Phone::answered_without_recording();
    assert_eq!(phone.keys("*"), says(&["stop prompt"]));
    assert_eq!(phone.advance(secs(2)), says(&["play enter-conference-id"]));
}

fn two_languages() -> Config {
    Config {
        alternate_languages: 2,
        ..no_recording()
    }
}

#[test]
fn the_greeting_offers_the_alternate_languages_and_a_key_chooses_one() {
    let (mut phone, seen) = Phone::answered(two_languages());
    assert_eq!(seen, says(&["play welcome"]));
    assert_eq!(phone.finish_prompt(), says(&["offer 2 languages"]));
    assert_eq!(
        phone.keys("2"),
        says(&["stop prompt", "language 2", "play enter-conference-id"])
    );
    phone.finish_prompt();
    assert_eq!(phone.keys("123456789#"), says(&["lookup 123456789"]));
}

#[test]
fn a_language_key_during_the_welcome_or_after_the_offer_counts() {
    let (mut phone, _) = Phone::answered(two_languages());
    assert_eq!(
        phone.keys("1"),
        says(&["stop prompt", "language 1", "play enter-conference-id"])
    );

    let (mut phone, _) = Phone::answered(two_languages());
    phone.finish_prompt();
    phone.finish_prompt();
    assert_eq!(phone.advance(secs(2)), says(&[]));
    assert_eq!(
        phone.keys("1"),
        says(&["language 1", "play enter-conference-id"])
    );
}

#[test]
fn no_language_key_keeps_the_numbers_language() {
    let (mut phone, _) = Phone::answered(two_languages());
    phone.finish_prompt();
    phone.finish_prompt();
    assert_eq!(phone.advance(secs(3)), says(&["play enter-conference-id"]));
}

#[test]
fn keys_that_choose_no_language_start_the_conference_id() {
    let (mut phone, _) = Phone::answered(two_languages());
    phone.finish_prompt();
    // 3 is not offered: it is the conference ID's first digit.
    assert_eq!(phone.keys("3"), says(&["stop prompt"]));
    assert_eq!(
        phone.keys("#"),
        says(&["play conference-id-invalid + enter-conference-id"])
    );
}

#[test]
fn without_alternates_there_is_no_offer_and_1_is_a_digit() {
    let mut phone = Phone::answered_without_recording();
    assert_eq!(phone.keys("1"), says(&["stop prompt"]));
    assert_eq!(phone.keys("23456789#"), says(&["lookup 123456789"]));
}
