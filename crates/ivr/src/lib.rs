//! The caller flow of the dial-in bridge as a Sans-IO state machine.
//!
//! One [`Call`] per phone call. The bridge core (`pinbridge-bridge`) feeds it [`Input`]s (the call was answered,
//! a key was pressed, a prompt ended, a timer ran out, the answer to a look-up it asked
//! for), drains [`Action`]s (play a prompt, look up a conference, verify a PIN, join,
//! hang up) with [`Call::poll_action`], and delivers [`Input::Timeout`] when the instant
//! from [`Call::poll_timeout`] has passed. The core never reads the clock, opens a socket,
//! spawns a task or touches the database: `now` is an argument, so tests run the whole
//! flow in virtual time.
//!
//! The flow is the phone experience of the organiser-PIN model; only an organiser who
//! presses star is asked for a PIN:
//!
//! 1. Greeting, then, when the service number has alternate languages, "for LANGUAGE
//!    press N" in each of them (keys 1 to 4; the choice switches every later prompt, no
//!    choice keeps the number's language), then "enter the conference ID followed by
//!    pound" (a limited number of tries, then goodbye and hang-up).
//! 2. Unless anonymous start applies, while the meeting has not started: "if you are the
//!    organiser, press star now"; a star leads to the PIN followed by pound (a limited
//!    number of tries, then goodbye and hang-up) and "you are joining as the organiser".
//!    Once the meeting has started there is no such prompt, but a star pressed right after
//!    the conference ID's pound, before the next prompt ends, is honoured; so is a star in
//!    an anonymous-start meeting.
//! 3. Everyone else optionally records their name, hears the lobby announcement when the
//!    meeting will keep them in the lobby, and joins; in the lobby they hear music on hold
//!    until admitted (then "you have been admitted") or until the lobby wait runs out
//!    (then the lobby-timeout prompt, goodbye and hang-up), reminded every minute (by
//!    default) that they are still waiting.
//! 4. In the meeting: \*1 help, \*0 the last prompt again, \*5 hand, \*6 mute; the
//!    organiser's \*21 admit all, \*22 mute everyone else, \*23 announcements on or
//!    off. Others pressing those hear that only the organiser can. A command left
//!    incomplete times out. \*0 also works in the lobby (the last prompt again), while
//!    the conference ID or the PIN is typed (the question again; the entry starts over)
//!    and in the greeting (which starts over); where a star means "I am the organiser"
//!    it keeps that meaning.
//!
//! Keys typed while a prompt plays cut it short (barge-in) and are kept (type-ahead): a
//! conference ID typed during the greeting is taken whole, and a prompt whose answer is
//! already typed is not played. Whether keys reach the other participants is the media
//! side's concern; this crate only interprets them.

//! # Driving a call
//!
//! ```text
//! loop {
//!     call.handle(input, now);                 // answer, key, prompt end, timeout, reply
//!     while let Some(action) = call.poll_action() {
//!         // Play / StopPrompt / music: the media side of this call.
//!         // LookupConference: read the store, answer with Input::ConferenceLookup, taking
//!         //   caller_placement from Meeting::placement_for(Joiner::Caller).
//!         // VerifyPin: Argon2 away from the media, answer with Input::PinChecked (or
//!         //   Input::ServiceBusy when too many checks wait, Input::PinEntryLocked when
//!         //   PIN entry is locked after too many wrong PINs).
//!         // Join / AdmitAll / MuteAll / Toggle*: the meeting's rules (Meeting::join,
//!         //   admit_all, ...) answer with Input::Joined or a MeetingNotice; their
//!         //   MeetingEvents become Input::Admitted / LobbyTimedOut.
//!         // Hangup: send BYE, and the caller leaves the meeting (Meeting::leave).
//!     }
//!     sleep_until(call.poll_timeout()) then input = Input::Timeout;
//! }
//! ```

mod call;
mod prompt;

pub use call::{
    Action, Call, ConferenceInfo, ConferenceLookup, Config, ConfigError, HangupReason, Input,
    MeetingNotice, Phase,
};
pub use prompt::{PromptId, Tone};
