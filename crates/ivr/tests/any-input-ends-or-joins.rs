//! Whatever arrives, in whatever order, the call never panics and, left to its timers,
//! ends up hung up, in the lobby or in the meeting within a bounded number of tries.

mod common;

use std::time::{Duration, Instant};

use pinbridge_domain::meeting::{ParticipantId, Placement};
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
        (0u64..3).prop_map(|n| MeetingNotice::ParticipantJoined {
            who: ParticipantId(n)
        }),
        (0u64..3).prop_map(|n| MeetingNotice::ParticipantLeft {
            who: ParticipantId(n)
        }),
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
        1 => Just(Input::RecordingEnded),
        1 => notice().prop_map(Input::MeetingEvent),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_inputs_end_in_a_hangup_or_a_join(
        steps in prop::collection::vec((0u64..20_000, input()), 0..80),
    ) {
        let config = Config::default();
        let mut call = Call::new(config.clone()).unwrap();
        let mut now = Instant::now();
        let mut actions = Vec::new();
        call.handle(Input::CallAnswered, now);
        actions.extend(std::iter::from_fn(|| call.poll_action()));
        for (pause_ms, input) in steps {
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
        prop_assert_eq!(call.poll_timeout(), None);

        let hangups = actions.iter().filter(|a| matches!(a, Action::Hangup { .. })).count();
        let joins = actions.iter().filter(|a| matches!(a, Action::Join { .. })).count();
        let lookups = actions.iter().filter(|a| matches!(a, Action::LookupConference(_))).count();
        let checks = actions.iter().filter(|a| matches!(a, Action::VerifyPin { .. })).count();
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
    }
}
