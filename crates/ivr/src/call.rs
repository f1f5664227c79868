//! The state machine of one call, from answer to hang-up.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use pinbridge_domain::meeting::Placement;
use pinbridge_domain::{ConferenceId, Pin};
use zeroize::Zeroizing;

use crate::prompt::{PromptId, Tone};

/// The most digits kept for one entry; more are dropped (the entry then fails).
const MAX_ENTRY_DIGITS: usize = 20;
/// The most keys kept as type-ahead while the call waits for something else.
const MAX_TYPEAHEAD: usize = 32;
/// The most timers handled by one [`Input::Timeout`]; each one moves the call on, so this
/// only guards against a deadline that does not move forward.
const MAX_TIMERS_PER_TIMEOUT: usize = 16;

/// Timeouts, tries and options of the caller flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Tries at the conference ID before the call ends.
    pub conference_id_tries: u32,
    /// Tries at the organiser PIN before the call ends.
    pub pin_tries: u32,
    /// Longest pause between two keys of an entry before the try fails.
    pub inter_digit_timeout: Duration,
    /// Longest time for one entry, from the end of the prompt (or the first key) to pound.
    pub entry_timeout: Duration,
    /// How long to wait for a star after "if you are the organiser, press star now".
    pub organiser_star_wait: Duration,
    /// How long a keypad command may stay incomplete after its last key.
    pub command_timeout: Duration,
    /// Ask callers to record their name before they join (tenant `enable_name_recording`).
    pub name_recording: bool,
    /// The longest name recording.
    pub name_recording_max: Duration,
    /// A prompt still playing after this long counts as finished (a safety net for a
    /// driver that never reports the end of a prompt).
    pub prompt_limit: Duration,
    /// How long to wait for the driver's answer to a look-up, a PIN check or a join
    /// before apologising and hanging up.
    pub reply_timeout: Duration,
    /// How often a caller waiting in the lobby is reminded that they are still waiting
    /// (over the music on hold); `None`: never.
    pub lobby_reminder: Option<Duration>,
    /// How many alternate languages the greeting offers ("for LANGUAGE press N", keys 1
    /// to this), at most [`PromptId::MAX_LANGUAGE_OFFERS`]; 0: none, the call stays in
    /// its language.
    pub alternate_languages: u8,
    /// How long to wait for a language key after the offer.
    pub language_wait: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            conference_id_tries: 3,
            pin_tries: 3,
            inter_digit_timeout: Duration::from_secs(5),
            entry_timeout: Duration::from_secs(15),
            organiser_star_wait: Duration::from_secs(3),
            command_timeout: Duration::from_secs(2),
            name_recording: true,
            name_recording_max: Duration::from_secs(4),
            prompt_limit: Duration::from_secs(60),
            reply_timeout: Duration::from_secs(10),
            lobby_reminder: Some(Duration::from_secs(60)),
            alternate_languages: 0,
            language_wait: Duration::from_secs(3),
        }
    }
}

/// Why a [`Config`] cannot drive a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A number of tries is zero.
    #[error("{0} must be at least 1")]
    NoTries(&'static str),
    /// A duration is zero.
    #[error("{0} must be longer than zero")]
    ZeroDuration(&'static str),
    /// More alternate languages than the greeting can offer.
    #[error("a greeting offers at most {max} alternate languages, not {0}", max = PromptId::MAX_LANGUAGE_OFFERS)]
    TooManyLanguages(u8),
}

impl Config {
    /// Checks that every count is at least one and every duration longer than zero.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.conference_id_tries == 0 {
            return Err(ConfigError::NoTries("conference ID tries"));
        }
        if self.pin_tries == 0 {
            return Err(ConfigError::NoTries("PIN tries"));
        }
        let durations = [
            ("inter-digit timeout", self.inter_digit_timeout),
            ("entry timeout", self.entry_timeout),
            ("organiser star wait", self.organiser_star_wait),
            ("command timeout", self.command_timeout),
            ("name recording limit", self.name_recording_max),
            ("prompt limit", self.prompt_limit),
            ("reply timeout", self.reply_timeout),
            ("language wait", self.language_wait),
            (
                "lobby reminder interval",
                self.lobby_reminder.unwrap_or(Duration::MAX),
            ),
        ];
        if self.alternate_languages > PromptId::MAX_LANGUAGE_OFFERS {
            return Err(ConfigError::TooManyLanguages(self.alternate_languages));
        }
        match durations.iter().find(|(_, d)| d.is_zero()) {
            Some((name, _)) => Err(ConfigError::ZeroDuration(name)),
            None => Ok(()),
        }
    }
}

/// What the driver found for a conference ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConferenceLookup {
    /// No meeting has this conference ID (or its organiser is not enabled).
    NotFound,
    /// The meeting exists.
    Found(ConferenceInfo),
}

/// What the caller flow needs to know about a meeting, as the driver found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConferenceInfo {
    /// Anonymous start applies (settled rule 2): no organiser prompt, no lobby.
    pub anonymous_start: bool,
    /// The meeting has started.
    pub started: bool,
    /// The organiser has a PIN; without one, a star cannot make anybody the organiser.
    pub organiser_has_pin: bool,
    /// Where a caller without the PIN would go now, from
    /// [`pinbridge_domain::meeting::Meeting::placement_for`]. It decides whether the caller
    /// hears the lobby announcement before joining.
    pub caller_placement: Placement,
}

/// Something that happened in the meeting that this call should hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeetingNotice {
    /// This caller was muted or unmuted (by \*6, or by the organiser's \*22).
    MuteChanged {
        /// The new state.
        muted: bool,
    },
    /// This caller's hand was raised or lowered.
    HandChanged {
        /// The new state.
        raised: bool,
    },
    /// Entry and exit announcements were turned on or off.
    AnnouncementsChanged {
        /// The new state.
        on: bool,
    },
    /// This caller's \*21 admitted `count` callers (none: the lobby was empty).
    AdmittedAll {
        /// How many were admitted.
        count: usize,
    },
    /// This caller's \*22 muted everyone else.
    EveryoneMuted,
    /// The meeting refused this caller's command.
    NotAllowed,
    /// This caller is alone in the meeting.
    OnlyPerson,
    /// Someone joined (sent only while announcements are on).
    ParticipantJoined,
    /// Someone left (sent only while announcements are on).
    ParticipantLeft,
    /// The meeting was ended for everybody.
    MeetingEnded,
}

/// An input to [`Call::handle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The call was answered: the flow begins.
    CallAnswered,
    /// A key was pressed (`0`–`9`, `*`, `#`), counted when its event begins, whether it came
    /// as an RFC 4733 event, a SIP INFO or an in-band tone. Other characters are ignored.
    Digit(char),
    /// A prompt (or the last prompt of a sequence) played to its end. Prompts stopped by
    /// [`Action::StopPrompt`] or replaced by a new play are not reported.
    PromptFinished(PromptId),
    /// The deadline from [`Call::poll_timeout`] has passed.
    Timeout,
    /// The answer to [`Action::LookupConference`].
    ConferenceLookup(ConferenceLookup),
    /// The answer to [`Action::VerifyPin`]: whether the PIN is the organiser's.
    PinChecked(bool),
    /// The bridge cannot check the PIN now (too many checks are waiting): the caller
    /// hears goodbye and the call ends, rather than waiting without an answer.
    ServiceBusy,
    /// Phone PIN entry is locked for this organiser or this calling number after too
    /// many wrong PINs (the PIN just entered may have been the last): the caller is told
    /// so and the call ends.
    PinEntryLocked,
    /// The answer to [`Action::Join`]: where the meeting put the caller.
    Joined(Placement),
    /// The caller was admitted from the lobby.
    Admitted,
    /// The caller's lobby wait ran out.
    LobbyTimedOut,
    /// Something happened in the meeting.
    MeetingEvent(MeetingNotice),
}

/// Why the flow hung up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangupReason {
    /// No valid conference ID within the tries.
    ConferenceIdNotAccepted,
    /// No correct PIN within the tries.
    PinNotAccepted,
    /// Nobody admitted the caller within the lobby wait.
    LobbyTimeout,
    /// The meeting was ended for everybody.
    MeetingEnded,
    /// The driver did not answer a look-up, PIN check or join in time.
    NoReply,
    /// The driver refused the PIN check: too many were waiting.
    Busy,
    /// Phone PIN entry is locked after too many wrong PINs.
    PinEntryLocked,
}

/// What the driver should do next, drained with [`Call::poll_action`].
#[derive(Debug)]
pub enum Action {
    /// Play a prompt, replacing any prompt that is playing.
    Play(PromptId),
    /// Play prompts one after the other, replacing any prompt that is playing.
    PlaySequence(Vec<PromptId>),
    /// Stop the prompt that is playing (a key cut it short).
    StopPrompt,
    /// Start looping the music on hold.
    StartMusicOnHold,
    /// Stop the music on hold.
    StopMusicOnHold,
    /// Find the meeting; answer with [`Input::ConferenceLookup`].
    LookupConference(ConferenceId),
    /// Check the PIN against the organiser's hash (off the call's thread); answer with
    /// [`Input::PinChecked`]. The digits' `Debug` shows a mask.
    VerifyPin {
        /// The meeting whose organiser's PIN to check.
        conference_id: ConferenceId,
        /// What the caller typed.
        digits: Pin,
    },
    /// Record the caller's name, for at most `max`, until [`Action::StopRecording`].
    RecordName {
        /// The longest recording.
        max: Duration,
    },
    /// Stop recording the name.
    StopRecording,
    /// Join the meeting; answer with [`Input::Joined`].
    Join {
        /// The caller entered the organiser's PIN.
        as_organiser: bool,
    },
    /// Admit everyone in the lobby (\*21); answer with a [`MeetingNotice`].
    AdmitAll,
    /// Mute everyone but the organiser (\*22); answer with a [`MeetingNotice`].
    MuteAll,
    /// Mute or unmute this caller (\*6); answer with [`MeetingNotice::MuteChanged`].
    ToggleMute,
    /// Raise or lower this caller's hand (\*5); answer with [`MeetingNotice::HandChanged`].
    ToggleHand,
    /// Turn entry and exit announcements on or off (\*23); answer with a [`MeetingNotice`].
    ToggleAnnouncements,
    /// End the call (send BYE). Nothing follows.
    Hangup {
        /// Why.
        reason: HangupReason,
    },
    /// Play a generated tone.
    PlayTone(Tone),
    /// Play, for each alternate language N from 1 to `count`, [`PromptId::language_offer`]
    /// (N) in that language, one after the other, replacing any prompt that is playing;
    /// report its end as [`Input::PromptFinished`] of the offer of `count`.
    OfferLanguages {
        /// How many alternates are offered.
        count: u8,
    },
    /// The caller chose alternate language `key` (1 to the offered count): play every
    /// later prompt of this call in it.
    SetLanguage(u8),
}

/// Where a call is, coarsely, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for [`Input::CallAnswered`].
    NotAnswered,
    /// Greeting, conference ID, organiser PIN, name: before the join.
    Identifying,
    /// Waiting for the meeting to take the caller in.
    Joining,
    /// In the lobby.
    Lobby,
    /// In the meeting.
    InMeeting,
    /// Saying goodbye before hanging up.
    Leaving,
    /// Hung up; nothing more happens.
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    NotAnswered,
    Greeting,
    LanguageOffer,
    ConferenceIdEntry,
    LookingUp,
    OrganiserPrompt,
    PinEntry,
    VerifyingPin,
    JoiningAsOrganiser,
    NamePrompt,
    RecordingName,
    LobbyWaitPrompt,
    Joining,
    Lobby,
    InMeeting,
    Leaving(HangupReason),
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Prompt,
    Entry,
    InterDigit,
    StarWait,
    Recording,
    Reply,
    Command,
    LanguageWait,
    LobbyReminder,
}

impl Timer {
    const ALL: [Timer; 9] = [
        Timer::Prompt,
        Timer::Entry,
        Timer::InterDigit,
        Timer::StarWait,
        Timer::Recording,
        Timer::Reply,
        Timer::Command,
        Timer::LanguageWait,
        Timer::LobbyReminder,
    ];
}

/// The timers of a call, collapsed into one deadline by [`Timers::next`].
#[derive(Debug, Default)]
struct Timers([Option<Instant>; Timer::ALL.len()]);

impl Timers {
    fn set(&mut self, timer: Timer, at: Instant) {
        self.0[timer as usize] = Some(at);
    }

    fn clear(&mut self, timer: Timer) {
        self.0[timer as usize] = None;
    }

    fn get(&self, timer: Timer) -> Option<Instant> {
        self.0[timer as usize]
    }

    fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }

    /// The earliest timer due at `now`, taken off the table.
    fn take_expired(&mut self, now: Instant) -> Option<Timer> {
        let due = Timer::ALL
            .into_iter()
            .filter_map(|t| self.get(t).filter(|&at| at <= now).map(|at| (at, t)))
            .min_by_key(|&(at, _)| at)
            .map(|(_, t)| t)?;
        self.clear(due);
        Some(due)
    }
}

/// Which of the organiser's keypad commands was completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Help,
    Hand,
    Mute,
    AdmitAll,
    MuteAll,
    Announcements,
    Repeat,
}

/// The caller flow of one call: a Sans-IO state machine. Feed it with [`Call::handle`],
/// drain [`Call::poll_action`] after every input, and deliver [`Input::Timeout`] once the
/// instant from [`Call::poll_timeout`] has passed.
///
/// Its `Debug` output shows how many keys are pending, never which: they may be a PIN.
pub struct Call {
    config: Config,
    stage: Stage,
    playing: Option<PromptId>,
    music_on: bool,
    recording: bool,
    entry: Zeroizing<String>,
    typeahead: VecDeque<char>,
    conference_id_failures: u32,
    pin_failures: u32,
    looked_up: Option<ConferenceId>,
    conference: Option<(ConferenceId, ConferenceInfo)>,
    star_window: bool,
    as_organiser: bool,
    lobby_announced: bool,
    command: Option<String>,
    /// A star was pressed where only `*0` (repeat) means something; the next key says
    /// whether it was that.
    star_pending: bool,
    /// The last prompt this caller heard (the last of a sequence), for `*0`.
    last_prompt: Option<PromptId>,
    timers: Timers,
    actions: VecDeque<Action>,
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("stage", &self.stage)
            .field("playing", &self.playing)
            .field("music_on", &self.music_on)
            .field("recording", &self.recording)
            .field("keys_entered", &self.entry.len())
            .field("keys_typed_ahead", &self.typeahead.len())
            .field("conference_id_failures", &self.conference_id_failures)
            .field("pin_failures", &self.pin_failures)
            .field("conference", &self.conference)
            .field("star_window", &self.star_window)
            .field("as_organiser", &self.as_organiser)
            .field("command", &self.command)
            .field("next_timeout", &self.timers.next())
            .finish_non_exhaustive()
    }
}

impl Call {
    /// A call that waits for [`Input::CallAnswered`].
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            stage: Stage::NotAnswered,
            playing: None,
            music_on: false,
            recording: false,
            entry: Zeroizing::new(String::new()),
            typeahead: VecDeque::new(),
            conference_id_failures: 0,
            pin_failures: 0,
            looked_up: None,
            conference: None,
            star_window: false,
            as_organiser: false,
            lobby_announced: false,
            command: None,
            star_pending: false,
            last_prompt: None,
            timers: Timers::default(),
            actions: VecDeque::new(),
        })
    }

    /// Takes one input at `now`. Inputs that do not fit the call's state are ignored.
    pub fn handle(&mut self, input: Input, now: Instant) {
        match input {
            Input::CallAnswered => {
                if self.stage == Stage::NotAnswered {
                    if self.typeahead.is_empty() {
                        self.stage = Stage::Greeting;
                        self.play(PromptId::Welcome, now);
                    } else {
                        // Keys came with the first media, before the answer was
                        // confirmed: they barge in on the greeting before it starts.
                        self.begin_conference_id_entry(&[PromptId::EnterConferenceId], now);
                    }
                }
            }
            Input::Digit(key) => {
                if matches!(key, '0'..='9' | '*' | '#') {
                    self.on_key(key, now);
                }
            }
            Input::PromptFinished(prompt) => {
                if self.playing == Some(prompt) {
                    self.prompt_done(now);
                }
            }
            Input::Timeout => self.on_timeout(now),
            Input::ConferenceLookup(result) => self.on_lookup(result, now),
            Input::PinChecked(correct) => self.on_pin_checked(correct, now),
            Input::ServiceBusy => {
                if self.stage == Stage::VerifyingPin {
                    self.leave(&[PromptId::Goodbye], HangupReason::Busy, now);
                }
            }
            Input::PinEntryLocked => {
                if self.stage == Stage::VerifyingPin {
                    self.leave(
                        &[PromptId::PinEntryLocked, PromptId::Goodbye],
                        HangupReason::PinEntryLocked,
                        now,
                    );
                }
            }
            Input::Joined(placement) => self.on_joined(placement, now),
            Input::Admitted => self.on_admitted(now),
            Input::LobbyTimedOut => {
                if matches!(self.stage, Stage::Lobby | Stage::Joining) {
                    self.leave(
                        &[PromptId::LobbyTimeout, PromptId::Goodbye],
                        HangupReason::LobbyTimeout,
                        now,
                    );
                }
            }
            Input::MeetingEvent(notice) => self.on_notice(notice, now),
        }
    }

    /// The next action for the driver, oldest first.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When the driver should deliver [`Input::Timeout`], if anything is timed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Where the call is.
    pub fn phase(&self) -> Phase {
        match self.stage {
            Stage::NotAnswered => Phase::NotAnswered,
            Stage::Joining => Phase::Joining,
            Stage::Lobby => Phase::Lobby,
            Stage::InMeeting => Phase::InMeeting,
            Stage::Leaving(_) => Phase::Leaving,
            Stage::Ended => Phase::Ended,
            _ => Phase::Identifying,
        }
    }

    /// The caller proved to be the organiser with the PIN.
    pub fn is_organiser(&self) -> bool {
        self.as_organiser
    }

    /// The conference ID of the meeting the caller is reaching, once found.
    pub fn conference_id(&self) -> Option<&ConferenceId> {
        self.conference.as_ref().map(|(id, _)| id)
    }

    fn on_key(&mut self, key: char, now: Instant) {
        match self.stage {
            // A phone may send keys as soon as it has the answer (a dial string with
            // the conference ID), before its ACK reaches us: keep them.
            Stage::NotAnswered => self.keep_typeahead(key),
            Stage::Leaving(_) | Stage::Ended => {}
            Stage::Lobby => {
                if self.take_star(key) {
                    self.repeat_last(now);
                } else if key == '*' {
                    self.stop_prompt();
                    self.await_star_key(now);
                }
            }
            Stage::Greeting | Stage::LanguageOffer => self.greeting_key(key, now),
            Stage::ConferenceIdEntry | Stage::PinEntry => self.entry_key(key, now),
            Stage::LookingUp | Stage::VerifyingPin | Stage::Joining => self.keep_typeahead(key),
            Stage::OrganiserPrompt => {
                if key == '*' {
                    self.stop_prompt();
                    self.timers.clear(Timer::StarWait);
                    self.begin_pin_entry(&[PromptId::EnterPin], now);
                }
            }
            Stage::NamePrompt | Stage::LobbyWaitPrompt => {
                if key == '*' && self.star_window {
                    self.stop_prompt();
                    self.star_window = false;
                    self.begin_pin_entry(&[PromptId::EnterPin], now);
                }
            }
            Stage::RecordingName => {
                if key == '#' {
                    self.timers.clear(Timer::Recording);
                    self.finish_recording(now);
                }
            }
            Stage::JoiningAsOrganiser => {
                // The organiser is typing a command already: skip the rest of the prompt.
                self.stop_prompt();
                self.keep_typeahead(key);
                self.join(true, now);
            }
            Stage::InMeeting => self.command_key(key, now),
        }
    }

    /// A key during the greeting or the language offer: a language key chooses that
    /// language, `*0` starts the greeting over, a lone star waits for the next key, and
    /// any other key barges in and starts the conference ID.
    fn greeting_key(&mut self, key: char, now: Instant) {
        if self.take_star(key) {
            self.timers.clear(Timer::LanguageWait);
            self.stage = Stage::Greeting;
            self.play(PromptId::Welcome, now);
            return;
        }
        // Barge-in: the key cuts the greeting short.
        self.stop_prompt();
        self.timers.clear(Timer::LanguageWait);
        if key == '*' {
            self.await_star_key(now);
            return;
        }
        let chosen = key
            .to_digit(10)
            .and_then(|d| u8::try_from(d).ok())
            .filter(|d| (1..=self.config.alternate_languages).contains(d));
        match chosen {
            Some(language) => self.actions.push_back(Action::SetLanguage(language)),
            None => self.keep_typeahead(key),
        }
        self.begin_conference_id_entry(&[PromptId::EnterConferenceId], now);
    }

    /// Waits (for the command timeout) for the key after a star.
    fn await_star_key(&mut self, now: Instant) {
        self.star_pending = true;
        self.timers
            .set(Timer::Command, now + self.config.command_timeout);
    }

    /// Whether `key` completes `*0`. Any key ends the wait for the key after a star.
    fn take_star(&mut self, key: char) -> bool {
        if !std::mem::take(&mut self.star_pending) {
            return false;
        }
        self.timers.clear(Timer::Command);
        key == '0'
    }

    /// `*0` in the lobby or the meeting: the last prompt again (an error tone when the
    /// caller has heard none there).
    fn repeat_last(&mut self, now: Instant) {
        match self.last_prompt {
            Some(prompt) => self.play(prompt, now),
            None => self.actions.push_back(Action::PlayTone(Tone::Error)),
        }
    }

    fn keep_typeahead(&mut self, key: char) {
        if self.typeahead.len() < MAX_TYPEAHEAD {
            self.typeahead.push_back(key);
        }
    }

    /// Feeds the keys typed ahead to the current stage, in order. Keys the stage does not
    /// consume at once are kept again as type-ahead by [`Call::on_key`].
    fn replay_typeahead(&mut self, now: Instant) {
        let keys = std::mem::take(&mut self.typeahead);
        for key in keys {
            self.on_key(key, now);
        }
    }

    fn begin_conference_id_entry(&mut self, prompts: &[PromptId], now: Instant) {
        self.stage = Stage::ConferenceIdEntry;
        self.begin_entry(prompts, now);
    }

    fn begin_pin_entry(&mut self, prompts: &[PromptId], now: Instant) {
        self.stage = Stage::PinEntry;
        self.begin_entry(prompts, now);
    }

    /// Starts collecting an entry. A prompt already answered by type-ahead is not played.
    fn begin_entry(&mut self, prompts: &[PromptId], now: Instant) {
        self.entry.clear();
        self.timers.clear(Timer::InterDigit);
        self.timers.clear(Timer::Entry);
        if self.typeahead.is_empty() {
            self.play_sequence(prompts, now);
        } else {
            self.timers
                .set(Timer::Entry, now + self.config.entry_timeout);
            self.replay_typeahead(now);
        }
    }

    fn entry_key(&mut self, key: char, now: Instant) {
        // Any key cuts the prompt short, so the entry's own clock starts now at the latest.
        self.stop_prompt();
        if self.take_star(key) {
            // `*0`: the question again, and the entry starts over.
            self.entry.clear();
            self.timers.clear(Timer::InterDigit);
            self.timers.clear(Timer::Entry);
            let question = match self.stage {
                Stage::PinEntry => PromptId::EnterPin,
                _ => PromptId::EnterConferenceId,
            };
            self.play(question, now);
            return;
        }
        if self.timers.get(Timer::Entry).is_none() {
            self.timers
                .set(Timer::Entry, now + self.config.entry_timeout);
        }
        match key {
            '#' => self.submit_entry(now),
            '0'..='9' => {
                if self.entry.len() < MAX_ENTRY_DIGITS {
                    self.entry.push(key);
                }
                self.timers
                    .set(Timer::InterDigit, now + self.config.inter_digit_timeout);
            }
            // A star is not part of a conference ID or a PIN; `*0` repeats the question.
            '*' => self.await_star_key(now),
            _ => {}
        }
    }

    fn submit_entry(&mut self, now: Instant) {
        self.timers.clear(Timer::Entry);
        self.timers.clear(Timer::InterDigit);
        let typed = std::mem::replace(&mut self.entry, Zeroizing::new(String::new()));
        match self.stage {
            Stage::ConferenceIdEntry => match ConferenceId::parse(&typed) {
                Ok(id) => {
                    self.stage = Stage::LookingUp;
                    self.looked_up = Some(id.clone());
                    self.timers
                        .set(Timer::Reply, now + self.config.reply_timeout);
                    self.actions.push_back(Action::LookupConference(id));
                }
                Err(_) => self.conference_id_failed(!typed.is_empty(), now),
            },
            Stage::PinEntry => match (Pin::from_entered(&typed), &self.conference) {
                (Some(digits), Some((conference_id, _))) => {
                    self.stage = Stage::VerifyingPin;
                    self.timers
                        .set(Timer::Reply, now + self.config.reply_timeout);
                    self.actions.push_back(Action::VerifyPin {
                        conference_id: conference_id.clone(),
                        digits,
                    });
                }
                _ => self.pin_failed(!typed.is_empty(), now),
            },
            _ => {}
        }
    }

    fn entry_timed_out(&mut self, now: Instant) {
        self.timers.clear(Timer::Entry);
        self.timers.clear(Timer::InterDigit);
        let typed_something = !self.entry.is_empty();
        self.entry.clear();
        match self.stage {
            Stage::ConferenceIdEntry => self.conference_id_failed(typed_something, now),
            Stage::PinEntry => self.pin_failed(typed_something, now),
            _ => {}
        }
    }

    /// Counts a failed try at the conference ID: ask again, or say goodbye after the last.
    /// A try where nothing was typed is not called invalid, just asked again.
    fn conference_id_failed(&mut self, say_invalid: bool, now: Instant) {
        self.typeahead.clear();
        self.conference_id_failures += 1;
        let invalid: &[PromptId] = if say_invalid {
            &[PromptId::ConferenceIdInvalid]
        } else {
            &[]
        };
        if self.conference_id_failures >= self.config.conference_id_tries {
            let prompts = [invalid, &[PromptId::Goodbye]].concat();
            self.leave(&prompts, HangupReason::ConferenceIdNotAccepted, now);
        } else {
            let prompts = [invalid, &[PromptId::EnterConferenceId]].concat();
            self.begin_conference_id_entry(&prompts, now);
        }
    }

    /// Counts a failed try at the PIN: ask again, or say goodbye after the last.
    fn pin_failed(&mut self, say_invalid: bool, now: Instant) {
        self.typeahead.clear();
        self.pin_failures += 1;
        let invalid: &[PromptId] = if say_invalid {
            &[PromptId::PinInvalid]
        } else {
            &[]
        };
        if self.pin_failures >= self.config.pin_tries {
            let prompts = [invalid, &[PromptId::Goodbye]].concat();
            self.leave(&prompts, HangupReason::PinNotAccepted, now);
        } else {
            let prompts = [invalid, &[PromptId::EnterPin]].concat();
            self.begin_pin_entry(&prompts, now);
        }
    }

    fn on_lookup(&mut self, result: ConferenceLookup, now: Instant) {
        if self.stage != Stage::LookingUp {
            return;
        }
        self.timers.clear(Timer::Reply);
        let (ConferenceLookup::Found(info), Some(id)) = (result, self.looked_up.take()) else {
            self.conference_id_failed(true, now);
            return;
        };
        self.conference = Some((id, info));
        let star_typed = self.typeahead.front() == Some(&'*');
        if star_typed && info.organiser_has_pin {
            // Settled rule 1: a star typed right after the pound is honoured.
            self.typeahead.pop_front();
            self.begin_pin_entry(&[PromptId::EnterPin], now);
        } else if !info.anonymous_start && !info.started && info.organiser_has_pin {
            self.typeahead.clear();
            self.stage = Stage::OrganiserPrompt;
            self.play(PromptId::OrganiserPressStar, now);
        } else {
            self.typeahead.clear();
            // The star window stays open until the next prompt ends.
            self.star_window = info.organiser_has_pin && (info.started || info.anonymous_start);
            self.caller_path(now);
        }
    }

    fn caller_path(&mut self, now: Instant) {
        if self.config.name_recording {
            self.stage = Stage::NamePrompt;
            self.play(PromptId::RecordName, now);
        } else {
            self.after_name(now);
        }
    }

    fn finish_recording(&mut self, now: Instant) {
        if self.recording {
            self.recording = false;
            self.actions.push_back(Action::StopRecording);
        }
        self.after_name(now);
    }

    fn after_name(&mut self, now: Instant) {
        let placement = self
            .conference
            .as_ref()
            .map_or(Placement::Lobby, |(_, info)| info.caller_placement);
        match placement {
            Placement::Lobby => {
                self.stage = Stage::LobbyWaitPrompt;
                self.lobby_announced = true;
                self.play(PromptId::LobbyWait, now);
            }
            Placement::Meeting => {
                self.star_window = false;
                self.join(false, now);
            }
        }
    }

    fn on_pin_checked(&mut self, correct: bool, now: Instant) {
        if self.stage != Stage::VerifyingPin {
            return;
        }
        self.timers.clear(Timer::Reply);
        if correct {
            self.as_organiser = true;
            self.star_window = false;
            self.stage = Stage::JoiningAsOrganiser;
            if self.typeahead.is_empty() {
                self.play(PromptId::JoiningAsOrganiser, now);
            } else {
                self.join(true, now);
            }
        } else {
            self.pin_failed(true, now);
        }
    }

    fn join(&mut self, as_organiser: bool, now: Instant) {
        self.stage = Stage::Joining;
        self.timers
            .set(Timer::Reply, now + self.config.reply_timeout);
        self.actions.push_back(Action::Join { as_organiser });
    }

    fn on_joined(&mut self, placement: Placement, now: Instant) {
        if self.stage != Stage::Joining {
            return;
        }
        self.timers.clear(Timer::Reply);
        match placement {
            Placement::Meeting => {
                self.stage = Stage::InMeeting;
                // The flow's questions are not what `*0` repeats in the meeting.
                self.last_prompt = None;
                self.replay_typeahead(now);
            }
            Placement::Lobby => {
                self.stage = Stage::Lobby;
                self.typeahead.clear();
                self.arm_lobby_reminder(now);
                if self.lobby_announced {
                    self.start_music();
                } else {
                    // The meeting changed since the look-up: announce the lobby now.
                    self.lobby_announced = true;
                    self.play(PromptId::LobbyWait, now);
                }
            }
        }
    }

    fn arm_lobby_reminder(&mut self, now: Instant) {
        if let Some(every) = self.config.lobby_reminder {
            self.timers.set(Timer::LobbyReminder, now + every);
        }
    }

    fn on_admitted(&mut self, now: Instant) {
        if self.stage != Stage::Lobby {
            return;
        }
        self.timers.clear(Timer::LobbyReminder);
        self.star_pending = false;
        self.stop_prompt();
        self.stop_music();
        self.stage = Stage::InMeeting;
        self.play(PromptId::Admitted, now);
    }

    fn on_notice(&mut self, notice: MeetingNotice, now: Instant) {
        match (self.stage, notice) {
            (Stage::InMeeting | Stage::Lobby, MeetingNotice::MeetingEnded) => {
                self.leave(
                    &[PromptId::MeetingEnded, PromptId::Goodbye],
                    HangupReason::MeetingEnded,
                    now,
                );
            }
            (Stage::InMeeting, notice) => {
                let prompt = match notice {
                    MeetingNotice::MuteChanged { muted: true } => PromptId::Muted,
                    MeetingNotice::MuteChanged { muted: false } => PromptId::Unmuted,
                    MeetingNotice::HandChanged { raised: true } => PromptId::HandRaised,
                    MeetingNotice::HandChanged { raised: false } => PromptId::HandLowered,
                    MeetingNotice::AnnouncementsChanged { on: true } => PromptId::AnnouncementsOn,
                    MeetingNotice::AnnouncementsChanged { on: false } => PromptId::AnnouncementsOff,
                    MeetingNotice::AdmittedAll { count: 0 } => PromptId::LobbyEmpty,
                    MeetingNotice::AdmittedAll { .. } => PromptId::LobbyAdmittedAll,
                    MeetingNotice::EveryoneMuted => PromptId::EveryoneMuted,
                    MeetingNotice::NotAllowed => PromptId::NotOrganiser,
                    MeetingNotice::OnlyPerson => PromptId::OnlyPerson,
                    MeetingNotice::ParticipantJoined => PromptId::Joined,
                    MeetingNotice::ParticipantLeft => PromptId::Left,
                    MeetingNotice::MeetingEnded => PromptId::MeetingEnded,
                };
                self.play(prompt, now);
            }
            _ => {}
        }
    }

    fn command_key(&mut self, key: char, now: Instant) {
        if key == '*' {
            // A star starts a command and cuts any prompt short.
            self.stop_prompt();
            self.command = Some(String::new());
            self.timers
                .set(Timer::Command, now + self.config.command_timeout);
            return;
        }
        let Some(mut typed) = self.command.take() else {
            // Keys outside a command mean nothing.
            return;
        };
        typed.push(key);
        let command = match typed.as_str() {
            "1" => Command::Help,
            "5" => Command::Hand,
            "6" => Command::Mute,
            "21" => Command::AdmitAll,
            "22" => Command::MuteAll,
            "23" => Command::Announcements,
            "0" => Command::Repeat,
            "2" => {
                self.command = Some(typed);
                self.timers
                    .set(Timer::Command, now + self.config.command_timeout);
                return;
            }
            _ => {
                self.timers.clear(Timer::Command);
                self.actions.push_back(Action::PlayTone(Tone::Error));
                return;
            }
        };
        self.timers.clear(Timer::Command);
        self.run_command(command, now);
    }

    fn run_command(&mut self, command: Command, now: Instant) {
        let organiser_only = matches!(
            command,
            Command::AdmitAll | Command::MuteAll | Command::Announcements
        );
        if organiser_only && !self.as_organiser {
            self.play(PromptId::NotOrganiser, now);
            return;
        }
        let action = match command {
            Command::Help => {
                self.play(PromptId::Help, now);
                return;
            }
            Command::Repeat => {
                self.repeat_last(now);
                return;
            }
            Command::Hand => Action::ToggleHand,
            Command::Mute => Action::ToggleMute,
            Command::AdmitAll => Action::AdmitAll,
            Command::MuteAll => Action::MuteAll,
            Command::Announcements => Action::ToggleAnnouncements,
        };
        self.actions.push_back(action);
    }

    fn on_timeout(&mut self, now: Instant) {
        for _ in 0..MAX_TIMERS_PER_TIMEOUT {
            let Some(timer) = self.timers.take_expired(now) else {
                return;
            };
            match timer {
                Timer::Prompt => {
                    if self.playing.is_some() {
                        self.actions.push_back(Action::StopPrompt);
                        self.prompt_done(now);
                    }
                }
                Timer::Entry | Timer::InterDigit => self.entry_timed_out(now),
                Timer::StarWait => {
                    if self.stage == Stage::OrganiserPrompt {
                        self.caller_path(now);
                    }
                }
                Timer::Recording => {
                    if self.stage == Stage::RecordingName {
                        self.finish_recording(now);
                    }
                }
                Timer::Reply => {
                    if matches!(
                        self.stage,
                        Stage::LookingUp | Stage::VerifyingPin | Stage::Joining
                    ) {
                        self.leave(&[PromptId::Goodbye], HangupReason::NoReply, now);
                    }
                }
                Timer::Command => {
                    self.command = None;
                    if std::mem::take(&mut self.star_pending)
                        && matches!(self.stage, Stage::Greeting | Stage::LanguageOffer)
                    {
                        // A lone star cut the greeting short: carry on as if it had ended.
                        self.prompt_done(now);
                    }
                }
                Timer::LanguageWait => {
                    if self.stage == Stage::LanguageOffer {
                        self.begin_conference_id_entry(&[PromptId::EnterConferenceId], now);
                    }
                }
                Timer::LobbyReminder => {
                    if self.stage == Stage::Lobby {
                        self.play(PromptId::LobbyReminder, now);
                        self.arm_lobby_reminder(now);
                    }
                }
            }
        }
    }

    /// The prompt that was playing has ended (or was given up on).
    fn prompt_done(&mut self, now: Instant) {
        self.playing = None;
        self.timers.clear(Timer::Prompt);
        match self.stage {
            Stage::Greeting => match self.config.alternate_languages {
                0 => self.begin_conference_id_entry(&[PromptId::EnterConferenceId], now),
                count => {
                    self.stage = Stage::LanguageOffer;
                    self.offer_languages(count, now);
                }
            },
            Stage::LanguageOffer => {
                self.timers
                    .set(Timer::LanguageWait, now + self.config.language_wait);
            }
            Stage::ConferenceIdEntry | Stage::PinEntry => {
                if self.timers.get(Timer::Entry).is_none() {
                    self.timers
                        .set(Timer::Entry, now + self.config.entry_timeout);
                }
            }
            Stage::OrganiserPrompt => {
                self.timers
                    .set(Timer::StarWait, now + self.config.organiser_star_wait);
            }
            Stage::JoiningAsOrganiser => self.join(true, now),
            Stage::NamePrompt => {
                self.star_window = false;
                self.stage = Stage::RecordingName;
                self.recording = true;
                self.actions.push_back(Action::PlayTone(Tone::Beep));
                self.actions.push_back(Action::RecordName {
                    max: self.config.name_recording_max,
                });
                self.timers
                    .set(Timer::Recording, now + self.config.name_recording_max);
            }
            Stage::LobbyWaitPrompt => {
                self.star_window = false;
                self.join(false, now);
            }
            Stage::Lobby => self.start_music(),
            Stage::Leaving(reason) => self.hang_up(reason),
            Stage::NotAnswered
            | Stage::LookingUp
            | Stage::VerifyingPin
            | Stage::RecordingName
            | Stage::Joining
            | Stage::InMeeting
            | Stage::Ended => {}
        }
    }

    fn play(&mut self, prompt: PromptId, now: Instant) {
        self.play_sequence(&[prompt], now);
    }

    fn offer_languages(&mut self, count: u8, now: Instant) {
        let Some(last) = PromptId::language_offer(count) else {
            return;
        };
        self.playing = Some(last);
        self.timers
            .set(Timer::Prompt, now + self.config.prompt_limit);
        self.actions.push_back(Action::OfferLanguages { count });
    }

    fn play_sequence(&mut self, prompts: &[PromptId], now: Instant) {
        let Some(&last) = prompts.last() else {
            return;
        };
        self.playing = Some(last);
        // Announcements of others joining or leaving are not worth repeating.
        if !matches!(last, PromptId::Joined | PromptId::Left) {
            self.last_prompt = Some(last);
        }
        self.timers
            .set(Timer::Prompt, now + self.config.prompt_limit);
        self.actions.push_back(match prompts {
            [one] => Action::Play(*one),
            many => Action::PlaySequence(many.to_vec()),
        });
    }

    fn stop_prompt(&mut self) {
        if self.playing.take().is_some() {
            self.timers.clear(Timer::Prompt);
            self.actions.push_back(Action::StopPrompt);
        }
    }

    fn start_music(&mut self) {
        if !self.music_on {
            self.music_on = true;
            self.actions.push_back(Action::StartMusicOnHold);
        }
    }

    fn stop_music(&mut self) {
        if self.music_on {
            self.music_on = false;
            self.actions.push_back(Action::StopMusicOnHold);
        }
    }

    /// Says the prompts, then hangs up.
    fn leave(&mut self, prompts: &[PromptId], reason: HangupReason, now: Instant) {
        self.stop_music();
        if self.recording {
            self.recording = false;
            self.actions.push_back(Action::StopRecording);
        }
        self.command = None;
        self.typeahead.clear();
        self.entry.clear();
        self.timers = Timers::default();
        self.stage = Stage::Leaving(reason);
        self.play_sequence(prompts, now);
    }

    fn hang_up(&mut self, reason: HangupReason) {
        self.stage = Stage::Ended;
        self.timers = Timers::default();
        self.actions.push_back(Action::Hangup { reason });
    }
}
