//! A virtual-time harness that drives one [`Call`] and records what it asks for.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use pinbridge_domain::meeting::Placement;
use pinbridge_ivr::{Action, Call, ConferenceInfo, ConferenceLookup, Config, Input, PromptId};

/// The conference ID the tests dial.
pub const CONFERENCE_ID: &str = "123456789";
/// The organiser's PIN in the tests.
pub const PIN: &str = "24680";

/// One call in virtual time.
pub struct Phone {
    pub call: Call,
    pub now: Instant,
    playing: Option<PromptId>,
}

impl Phone {
    /// A call with `config`, not answered yet.
    pub fn new(config: Config) -> Self {
        Self {
            call: Call::new(config).expect("valid config"),
            now: Instant::now(),
            playing: None,
        }
    }

    /// A call with `config`, answered; the greeting is playing.
    pub fn answered(config: Config) -> (Self, Vec<String>) {
        let mut phone = Self::new(config);
        let seen = phone.input(Input::CallAnswered);
        (phone, seen)
    }

    /// A call answered with the default config but no name recording.
    pub fn answered_without_recording() -> Self {
        Self::answered(Config {
            name_recording: false,
            ..Config::default()
        })
        .0
    }

    /// Feeds one input and returns the actions it caused, in words.
    pub fn input(&mut self, input: Input) -> Vec<String> {
        self.call.handle(input, self.now);
        self.drain()
    }

    /// Presses keys one after the other, 200 ms apart.
    pub fn keys(&mut self, keys: &str) -> Vec<String> {
        let mut seen = Vec::new();
        for (i, key) in keys.chars().enumerate() {
            if i > 0 {
                seen.extend(self.advance(Duration::from_millis(200)));
            }
            seen.extend(self.input(Input::Digit(key)));
        }
        seen
    }

    /// Reports the end of the prompt that is playing.
    pub fn finish_prompt(&mut self) -> Vec<String> {
        let prompt = self.playing.expect("a prompt is playing");
        self.input(Input::PromptFinished(prompt))
    }

    /// The prompt the call believes is playing (the last of a sequence).
    pub fn playing(&self) -> Option<PromptId> {
        self.playing
    }

    /// Moves virtual time on by `by`, delivering every timeout that falls due on the way.
    pub fn advance(&mut self, by: Duration) -> Vec<String> {
        let until = self.now + by;
        let mut seen = Vec::new();
        while let Some(at) = self.call.poll_timeout() {
            if at > until {
                break;
            }
            self.now = self.now.max(at);
            seen.extend(self.input(Input::Timeout));
        }
        self.now = until;
        seen
    }

    /// Answers the look-up with `info`.
    pub fn found(&mut self, info: ConferenceInfo) -> Vec<String> {
        self.input(Input::ConferenceLookup(ConferenceLookup::Found(info)))
    }

    /// From the greeting to the point where the conference ID has been looked up and
    /// answered with `info`: returns what happened after the look-up's answer.
    pub fn reach_meeting(&mut self, info: ConferenceInfo) -> Vec<String> {
        self.finish_prompt();
        self.finish_prompt();
        let seen = self.keys(&format!("{CONFERENCE_ID}#"));
        assert_eq!(seen.last().map(String::as_str), Some("lookup 123456789"));
        self.found(info)
    }

    fn drain(&mut self) -> Vec<String> {
        let mut seen = Vec::new();
        while let Some(action) = self.call.poll_action() {
            match &action {
                Action::Play(p) => self.playing = Some(*p),
                Action::PlaySequence(ps) => self.playing = ps.last().copied(),
                Action::StopPrompt => self.playing = None,
                Action::OfferLanguages { count } => {
                    self.playing = PromptId::language_offer(*count);
                }
                _ => {}
            }
            seen.push(describe(&action));
        }
        seen
    }
}

/// An action in words, for assertions. The PIN is shown here because tests need to check
/// what is verified; the action's own `Debug` masks it.
pub fn describe(action: &Action) -> String {
    match action {
        Action::Play(p) => format!("play {p}"),
        Action::PlaySequence(ps) => {
            let names: Vec<_> = ps.iter().map(|p| p.name()).collect();
            format!("play {}", names.join(" + "))
        }
        Action::StopPrompt => "stop prompt".into(),
        Action::StartMusicOnHold => "music on".into(),
        Action::StopMusicOnHold => "music off".into(),
        Action::LookupConference(id) => format!("lookup {id}"),
        Action::VerifyPin {
            conference_id,
            digits,
        } => format!("verify {conference_id} {}", digits.reveal()),
        Action::RecordName { max } => format!("record {}s", max.as_secs()),
        Action::StopRecording => "stop recording".into(),
        Action::Join { as_organiser } => {
            if *as_organiser {
                "join as organiser".into()
            } else {
                "join".into()
            }
        }
        Action::AdmitAll => "admit all".into(),
        Action::MuteAll => "mute all".into(),
        Action::ToggleMute => "toggle mute".into(),
        Action::ToggleHand => "toggle hand".into(),
        Action::ToggleAnnouncements => "toggle announcements".into(),
        Action::Hangup { reason } => format!("hangup {reason:?}"),
        Action::PlayTone(tone) => format!("tone {tone:?}"),
        Action::OfferLanguages { count } => format!("offer {count} languages"),
        Action::SetLanguage(key) => format!("language {key}"),
    }
}

/// A meeting that has not started, with an organiser who has a PIN.
pub fn not_started() -> ConferenceInfo {
    ConferenceInfo {
        anonymous_start: false,
        started: false,
        organiser_has_pin: true,
        caller_placement: Placement::Lobby,
    }
}

/// A meeting that has started, without lobby bypass.
pub fn started() -> ConferenceInfo {
    ConferenceInfo {
        started: true,
        ..not_started()
    }
}

/// A meeting where anonymous start applies.
pub fn anonymous() -> ConferenceInfo {
    ConferenceInfo {
        anonymous_start: true,
        started: false,
        organiser_has_pin: true,
        caller_placement: Placement::Meeting,
    }
}

/// Shorthand for a list of expected actions.
pub fn says(expected: &[&str]) -> Vec<String> {
    expected.iter().map(|s| (*s).to_owned()).collect()
}
