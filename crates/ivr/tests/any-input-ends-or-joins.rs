//! Whatever arrives, in whatever order, the call never panics and, left to its timers,
//! ends up hung up, in the lobby or in the meeting within a bounded number of tries. In
//! the lobby the one timer that goes on is the reminder, which only reminds.

mod common;

use std::time::{Duration, Instant};

use pinbridge_domain::meeting::Placement;
use pinbridge_ivr::{
    Action, Call, ConferenceInfo, ConferenceLookup, Config, Input, MeetingNotice, Phase, PromptId,
};
use proptest::prelude::*;

fn placement() -> impl Strategy<Value = Placement> {
    prop_oneof![Just(Placement::Lobby), Just(Placement::Meeting)]
}

fn notice() -> impl Strategy<Value = MeetingNotice> {
    prop_oneof![
        any::<bool>().prop_map(|muted| MeetingNotice::MuteChanged { muted }),
        any::<bool>().prop_map(|raised| MeetingNotice::HandChanged { raised }),
        any::<bool>().prop_map(|on| MeetingNotice::AnnouncementsChanged { on }),
        (0usize..3).prop_map(|count| MeetingNotice::AdmittedAll { count }),
        Just(MeetingNotice::EveryoneMuted),
        Just(MeetingNotice::NotAllowed),
        Just(MeetingNotice::OnlyPerson),
        Just(MeetingNotice::ParticipantJoined),
        Just(MeetingNotice::ParticipantLeft),
        Just(MeetingNotice::MeetingEnded),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    let info = (any::<bool>(), any::<bool>(), any::<bool>(), placement()).prop_map(
        |(anonymous_start, started, organiser_has_pin, caller_placement)| ConferenceInfo {
            anonymous_start,
            started,
            organiser_has_pin,
            caller_placement,
        },
    );
    prop_oneof![
        6 => prop::sample::select(b"0123456789*#*#1A ".to_vec())
            .prop_map(|key| Input::Digit(char::from(key))),
        3 => prop::sample::select(PromptId::ALL.to_vec()).prop_map(Input::PromptFinished),
        2 => Just(Input::Timeout),
        1 => Just(Input::CallAnswered),
        1 => Just(Input::ConferenceLookup(ConferenceLookup::NotFound)),
        1 => info.prop_map(|i| Input::ConferenceLookup(ConferenceLookup::Found(i))),
        1 => any::<bool>().prop_map(Input::PinChecked),
        1 => placement().prop_map(Input::Joined),
        1 => Just(Input::Admitted),
        1 => Just(Input::LobbyTimedOut),
        1 => Just(Input::PinEntryLocked),
        1 => notice().prop_map(Input::MeetingEvent),
    ]
}

/// The inputs that bring a call without name recording into the lobby of a started
/// meeting.
fn to_the_lobby() -> Vec<Input> {
    let info = ConferenceInfo {
        anonymous_start: false,
        started: true,
        organiser_has_pin: true,
        caller_placement: Placement::Lobby,
    };
    let mut inputs = vec![
        Input::PromptFinished(PromptId::Welcome),
        Input::PromptFinished(PromptId::EnterConferenceId),
    ];
    inputs.extend("123456789#".chars().map(Input::Digit));
    inputs.extend([
        Input::ConferenceLookup(ConferenceLookup::Found(info)),
        Input::PromptFinished(PromptId::LobbyWait),
        Input::Joined(Placement::Lobby),
    ]);
    inputs
}

/// Runs `steps` on a call answered with `config` (after `prelude`, at once), lets its
/// timers run, and checks where it came to rest.
fn run_and_check(
    config: Config,
    prelude: Vec<Input>,
    steps: Vec<(u64, Input)>,
) -> Result<(), TestCaseError> {
    let alternate_languages = config.alternate_languages;
    let mut call = Call::new(config.clone()).unwrap();
    let mut now = Instant::now();
    let mut actions = Vec::new();
    call.handle(Input::CallAnswered, now);
    actions.extend(std::iter::from_fn(|| call.poll_action()));
    let prelude = prelude.into_iter().map(|input| (0, input));
    for (pause_ms, input) in prelude.chain(steps) {
        now += Duration::from_millis(pause_ms);
        call.handle(input, now);
        actions.extend(std::iter::from_fn(|| call.poll_action()));
    }
    // Left alone, the call's own timers must bring it to rest.
    for _ in 0..200 {
        let Some(at) = call.poll_timeout() else { break };
        now = now.max(at);
        call.handle(Input::Timeout, now);
        actions.extend(std::iter::from_fn(|| call.poll_action()));
    }
    if call.phase() == Phase::Lobby && config.lobby_reminder.is_some() {
        // The one timer that goes on in the lobby is the reminder, and it only reminds.
        let before = actions.len();
        for _ in 0..4 {
            let at = call.poll_timeout();
            prop_assert!(at.is_some(), "the lobby reminds");
            now = now.max(at.unwrap_or(now));
            call.handle(Input::Timeout, now);
            actions.extend(std::iter::from_fn(|| call.poll_action()));
        }
        let reminded = &actions[before..];
        let only_reminders = reminded.iter().all(|a| {
            matches!(
                a,
                Action::Play(PromptId::LobbyReminder) | Action::StopPrompt
            )
        });
        prop_assert!(only_reminders, "{:?}", reminded);
        let reminders = reminded
            .iter()
            .filter(|a| matches!(a, Action::Play(PromptId::LobbyReminder)))
            .count();
        // Each timeout reminds, or gives up on a reminder that reported no end.
        prop_assert!(reminders >= 2, "{:?}", reminded);
        actions.truncate(before);
    } else {
        prop_assert_eq!(call.poll_timeout(), None);
    }

    let languages = actions
        .iter()
        .filter(|a| matches!(a, Action::SetLanguage(_)))
        .count();
    prop_assert!(languages <= 1, "the language is chosen once");
    let languages_offered = actions.iter().all(|a| match a {
        Action::SetLanguage(key) => (1..=alternate_languages).contains(key),
        Action::OfferLanguages { count } => *count == alternate_languages,
        _ => true,
    });
    prop_assert!(languages_offered, "only the offered languages");
    let hangups = actions
        .iter()
        .filter(|a| matches!(a, Action::Hangup { .. }))
        .count();
    let joins = actions
        .iter()
        .filter(|a| matches!(a, Action::Join { .. }))
        .count();
    let lookups = actions
        .iter()
        .filter(|a| matches!(a, Action::LookupConference(_)))
        .count();
    let checks = actions
        .iter()
        .filter(|a| matches!(a, Action::VerifyPin { .. }))
        .count();
    prop_assert!(hangups <= 1);
    prop_assert!(joins <= 1);
    prop_assert!(lookups <= config.conference_id_tries as usize);
    prop_assert!(checks <= config.pin_tries as usize);
    match call.phase() {
        Phase::Ended => {
            prop_assert_eq!(hangups, 1);
            let ends_with_hangup = matches!(actions.last(), Some(Action::Hangup { .. }));
            prop_assert!(ends_with_hangup, "nothing follows the hangup");
        }
        Phase::Lobby | Phase::InMeeting => {
            prop_assert_eq!(joins, 1);
            prop_assert_eq!(hangups, 0);
        }
        other => prop_assert!(false, "the call stalled in {:?}", other),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_inputs_end_in_a_hangup_or_a_join(
        steps in prop::collection::vec((0u64..20_000, input()), 0..80),
        alternate_languages in 0u8..=4,
    ) {
        let config = Config { alternate_languages, ..Config::default() };
        run_and_check(config, Vec::new(), steps)?;
    }

    #[test]
    fn any_inputs_in_the_lobby_end_in_a_hangup_or_a_join(
        steps in prop::collection::vec((0u64..90_000, input()), 0..40),
        reminder in prop::option::of(1u64..120),
    ) {
        let config = Config {
            name_recording: false,
            lobby_reminder: reminder.map(Duration::from_secs),
            ..Config::default()
        };
        run_and_check(config, to_the_lobby(), steps)?;
    }
}
