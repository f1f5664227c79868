//! Calls and the meeting rules together, the way the call driver and the conference task
//! connect them: two callers wait in the lobby before the start, the organiser starts the
//! meeting with the PIN, the callers still wait, and \*21 lets them in.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use pinbridge_domain::ConferenceId;
use pinbridge_domain::meeting::{
    Joiner, Meeting, MeetingError, MeetingEvent, MeetingOptions, ParticipantId,
};
use pinbridge_domain::user::UserId;
use pinbridge_ivr::{
    Action, Call, ConferenceInfo, ConferenceLookup, Config, HangupReason, Input, MeetingNotice,
    Phase, PromptId,
};

const PIN: &str = "24680";

/// A stand-in for the call driver and the conference task. Prompts end as soon as they
/// start; everything else is routed as the real drivers would.
struct Bridge {
    meeting: Meeting,
    calls: Vec<(ParticipantId, Call)>,
    heard: Vec<(ParticipantId, PromptId)>,
    hangups: Vec<(ParticipantId, HangupReason)>,
    now: Instant,
}

impl Bridge {
    fn new(lobby_wait: Duration) -> Self {
        let options = MeetingOptions {
            organiser: UserId(1),
            conference_id: ConferenceId::parse("123456789").unwrap(),
            anonymous_start: false,
            bypass_lobby: false,
            lobby_wait,
            announcements: false,
        };
        Self {
            meeting: Meeting::new(options),
            calls: Vec::new(),
            heard: Vec::new(),
            hangups: Vec::new(),
            now: Instant::now(),
        }
    }

    fn dial(&mut self, id: u64) -> ParticipantId {
        let id = ParticipantId(id);
        let config = Config {
            name_recording: false,
            ..Config::default()
        };
        self.calls.push((id, Call::new(config).unwrap()));
        self.send(id, Input::CallAnswered);
        id
    }

    fn call(&mut self, id: ParticipantId) -> &mut Call {
        &mut self.calls.iter_mut().find(|(p, _)| *p == id).unwrap().1
    }

    fn phase(&mut self, id: ParticipantId) -> Phase {
        self.call(id).phase()
    }

    fn keys(&mut self, id: ParticipantId, keys: &str) {
        for key in keys.chars() {
            self.send(id, Input::Digit(key));
        }
    }

    /// Moves time on, delivering each call's timeouts and expiring the lobby on the way.
    fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        loop {
            let next_call = self
                .calls
                .iter()
                .filter_map(|(id, c)| c.poll_timeout().map(|at| (at, Some(*id))))
                .min();
            let next_lobby = self.meeting.next_lobby_deadline().map(|at| (at, None));
            let Some((at, who)) = next_call.into_iter().chain(next_lobby).min() else {
                break;
            };
            if at > until {
                break;
            }
            self.now = self.now.max(at);
            match who {
                Some(id) => self.send(id, Input::Timeout),
                None => {
                    self.meeting.expire_lobby(self.now);
                    self.pump_meeting_events();
                }
            }
        }
        self.now = until;
    }

    fn send(&mut self, id: ParticipantId, input: Input) {
        let mut inputs = VecDeque::from([(id, input)]);
        while let Some((id, input)) = inputs.pop_front() {
            let now = self.now;
            self.call(id).handle(input, now);
            while let Some(action) = self.call(id).poll_action() {
                if let Some(reply) = self.perform(id, action) {
                    inputs.push_back((id, reply));
                }
            }
            inputs.extend(self.meeting_inputs());
        }
    }

    fn pump_meeting_events(&mut self) {
        for (id, input) in self.meeting_inputs() {
            self.send(id, input);
        }
    }

    /// What the conference task tells the calls about the meeting's events.
    fn meeting_inputs(&mut self) -> Vec<(ParticipantId, Input)> {
        std::iter::from_fn(|| self.meeting.poll_event())
            .filter_map(|event| match event {
                MeetingEvent::Admitted { id } => Some((id, Input::Admitted)),
                MeetingEvent::LobbyTimedOut { id } => Some((id, Input::LobbyTimedOut)),
                _ => None,
            })
            .collect()
    }

    /// What the call driver does for one action; returns the answer for the call.
    fn perform(&mut self, id: ParticipantId, action: Action) -> Option<Input> {
        let now = self.now;
        match action {
            Action::Play(prompt) => {
                self.heard.push((id, prompt));
                Some(Input::PromptFinished(prompt))
            }
            Action::PlaySequence(prompts) => {
                self.heard.extend(prompts.iter().map(|&p| (id, p)));
                prompts.last().map(|&p| Input::PromptFinished(p))
            }
            Action::LookupConference(conference_id) => {
                let found = conference_id == self.meeting.options().conference_id;
                Some(Input::ConferenceLookup(if found {
                    ConferenceLookup::Found(ConferenceInfo {
                        anonymous_start: self.meeting.options().anonymous_start,
                        started: self.meeting.is_started(),
                        organiser_has_pin: true,
                        caller_placement: self.meeting.placement_for(Joiner::Caller),
                    })
                } else {
                    ConferenceLookup::NotFound
                }))
            }
            Action::VerifyPin { digits, .. } => Some(Input::PinChecked(digits.reveal() == PIN)),
            Action::Join { as_organiser } => {
                let joiner = if as_organiser {
                    Joiner::OrganiserWithPin
                } else {
                    Joiner::Caller
                };
                let outcome = self.meeting.join(id, joiner, now).unwrap();
                Some(Input::Joined(outcome.placement()))
            }
            Action::AdmitAll => Some(Input::MeetingEvent(match self.meeting.admit_all(id, now) {
                Ok(admitted) => MeetingNotice::AdmittedAll {
                    count: admitted.len(),
                },
                Err(MeetingError::NotAllowed(_)) => MeetingNotice::NotAllowed,
                Err(other) => panic!("unexpected refusal: {other}"),
            })),
            Action::Hangup { reason } => {
                self.hangups.push((id, reason));
                if self.meeting.participant(id).is_some() {
                    self.meeting.leave(id).unwrap();
                }
                None
            }
            _ => None,
        }
    }
}

#[test]
fn two_callers_wait_the_organiser_starts_and_star_21_admits_them() {
    let mut bridge = Bridge::new(Duration::from_secs(30 * 60));
    let a = bridge.dial(1);
    let b = bridge.dial(2);
    for caller in [a, b] {
        bridge.keys(caller, "123456789#");
    }
    // Nobody presses star after "if you are the organiser, press star now".
    bridge.advance(Duration::from_secs(3));
    assert_eq!(bridge.phase(a), Phase::Lobby);
    assert_eq!(bridge.phase(b), Phase::Lobby);
    assert!(!bridge.meeting.is_started());
    assert!(bridge.heard.contains(&(a, PromptId::OrganiserPressStar)));
    assert!(bridge.heard.contains(&(a, PromptId::LobbyWait)));

    let organiser = bridge.dial(100);
    bridge.keys(organiser, "123456789#*24680#");
    assert_eq!(bridge.phase(organiser), Phase::InMeeting);
    assert!(bridge.meeting.is_started());
    assert!(
        bridge
            .heard
            .contains(&(organiser, PromptId::JoiningAsOrganiser))
    );
    assert_eq!(bridge.phase(a), Phase::Lobby, "the start admits nobody");
    assert_eq!(bridge.phase(b), Phase::Lobby);

    bridge.keys(organiser, "*21");
    assert_eq!(bridge.phase(a), Phase::InMeeting);
    assert_eq!(bridge.phase(b), Phase::InMeeting);
    assert!(bridge.heard.contains(&(a, PromptId::Admitted)));
    assert!(
        bridge
            .heard
            .contains(&(organiser, PromptId::LobbyAdmittedAll))
    );

    // A caller's \*21 is refused by the call itself, before it reaches the meeting.
    bridge.keys(a, "*21");
    assert_eq!(bridge.heard.last(), Some(&(a, PromptId::NotOrganiser)));

    // The organiser leaves; the meeting goes on until the last caller leaves.
    bridge.meeting.leave(organiser).unwrap();
    assert!(bridge.meeting.is_started());
    bridge.meeting.leave(a).unwrap();
    bridge.meeting.leave(b).unwrap();
    assert!(!bridge.meeting.is_started());
}

#[test]
fn a_caller_nobody_admits_is_released_when_the_lobby_wait_runs_out() {
    let mut bridge = Bridge::new(Duration::from_secs(30 * 60));
    let a = bridge.dial(1);
    bridge.keys(a, "123456789#");
    bridge.advance(Duration::from_secs(3));
    assert_eq!(bridge.phase(a), Phase::Lobby);
    bridge.advance(Duration::from_secs(30 * 60 - 1));
    assert_eq!(bridge.phase(a), Phase::Lobby);
    bridge.advance(Duration::from_secs(1));
    assert_eq!(bridge.phase(a), Phase::Ended);
    assert!(bridge.heard.contains(&(a, PromptId::LobbyTimeout)));
    assert_eq!(bridge.hangups, vec![(a, HangupReason::LobbyTimeout)]);
    assert!(bridge.meeting.is_empty());
}
