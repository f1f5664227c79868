//! Recorded names in virtual time: a caller says a name after the beep (a committed
//! speech file as its audio); the recording ends with pound or with the silence after
//! the name, is trimmed, and the others in the meeting hear it announced, "NAME has
//! joined" and "NAME has left", when the tenant announces names, and the entry and exit
//! tones when it is tone-only. The recording lives only as long as the call.

mod common;

use std::time::Duration;

use common::{Meeting, Sim};
use pinbridge_bridge::{Assets, CallId, Command, DEFAULT_LANGUAGE, Directory};
use pinbridge_domain::{EntryExitAnnouncementsType, TenantSettings};
use pinbridge_ivr::PromptId;
use pinbridge_media::analysis::{goertzel_power, locate, tone_share};
use pinbridge_media::{FRAME_SAMPLES, Wav};

/// A started meeting whose callers join directly, with announcements on.
const MEETING: Meeting = Meeting {
    anonymous_start: false,
    bypass_lobby: true,
    lobby_wait: Duration::from_secs(15 * 60),
    announcements: true,
};

/// "Alex Morgan", spoken (8 kHz mono).
fn speech() -> Vec<i16> {
    let bytes = include_bytes!("../../../tests/data/name-alex-morgan.wav");
    Wav::decode(bytes).unwrap().samples().to_vec()
}

fn prompt(id: PromptId) -> Vec<i16> {
    Assets::load()
        .unwrap()
        .prompts(DEFAULT_LANGUAGE)
        .clip(id)
        .samples()
        .to_vec()
}

/// A meeting with the organiser in it (silent), and name recording on with `kind`.
fn meeting_with(kind: EntryExitAnnouncementsType) -> (Sim, CallId) {
    meeting_of(MEETING, kind)
}

fn meeting_of(meeting: Meeting, kind: EntryExitAnnouncementsType) -> (Sim, CallId) {
    let mut sim = Sim::new(meeting);
    sim.command(Command::Directory(Box::new(Directory {
        settings: TenantSettings {
            enable_name_recording: true,
            entry_exit_announcements_type: kind,
            ..Default::default()
        },
        numbers: Vec::new(),
    })));
    // The organiser joins with the PIN: no name to record.
    let organiser = sim.organiser(None);
    sim.run(Duration::from_secs(3));
    (sim, organiser)
}

/// A caller dials in, types the conference ID and waits for the beep after "say your
/// name" (at most 15 s), as a person would.
fn until_beep(sim: &mut Sim, tone: Option<f64>) -> CallId {
    let id = sim.dial(tone);
    sim.run(Duration::from_millis(400));
    sim.keys(id, &format!("{}#", common::CONFERENCE));
    for _ in 0..750 {
        sim.run(Duration::from_millis(20));
        let heard = sim.heard(id);
        let last = &heard[heard.len().saturating_sub(480)..];
        if last.len() == 480 && tone_share(last, 1000.0) > 0.9 {
            return id;
        }
    }
    panic!("{id:?} never heard the beep");
}

/// The phone says `samples` next, then its tone (or silence).
fn say(sim: &mut Sim, id: CallId, samples: &[i16]) {
    let phone = sim.phones.get_mut(&id).unwrap();
    for chunk in samples.chunks(FRAME_SAMPLES) {
        let mut frame = [0i16; FRAME_SAMPLES];
        frame[..chunk.len()].copy_from_slice(chunk);
        phone.script.push_back(frame);
    }
}

/// The last `seconds` a phone heard.
fn last(sim: &Sim, id: CallId, seconds: f64) -> Vec<i16> {
    let heard = sim.heard(id);
    let n = ((seconds * 8000.0) as usize).min(heard.len());
    heard[heard.len() - n..].to_vec()
}

/// Whether `samples` hold the entry tone (660 Hz then 880 Hz) or the exit tone (880 Hz
/// then 660 Hz): 60 ms windows, 20 ms apart, where each is strong, in that order.
fn has_tone(samples: &[i16], first: f64, then: f64) -> bool {
    // A 6000-amplitude tone gives 18e6 over a window it fills.
    let strong = |window: &[i16], hz: f64| goertzel_power(window, hz) > 9.0e6;
    let windows: Vec<&[i16]> = samples.windows(480).step_by(160).collect();
    let start = windows.iter().position(|w| strong(w, first));
    start.is_some_and(|at| windows[at..].iter().any(|w| strong(w, then)))
}

fn entry_tone(samples: &[i16]) -> bool {
    has_tone(samples, 660.0, 880.0)
}

fn exit_tone(samples: &[i16]) -> bool {
    has_tone(samples, 880.0, 660.0)
}

/// The best correlation of `needle` in `haystack` (0 when the haystack is silent).
fn score(needle: &[i16], haystack: &[i16]) -> f64 {
    locate(needle, haystack).map_or(0.0, |m| m.score)
}

fn the_length_of(samples: &[i16]) -> Duration {
    Duration::from_millis(samples.len() as u64 / 8)
}

#[test]
fn the_others_hear_the_recorded_name_join_and_leave() {
    let (mut sim, organiser) = meeting_with(EntryExitAnnouncementsType::UseNames);
    let name = speech();
    let caller = until_beep(&mut sim, None);
    say(&mut sim, caller, &name);
    sim.until_placed(caller);
    sim.run(Duration::from_secs(3));

    // The recording is the name, trimmed of the silence around it.
    let recorded = sim
        .bridge
        .recorded_name(caller)
        .expect("a recorded name")
        .to_vec();
    assert!(
        recorded.len() <= name.len() + 2 * FRAME_SAMPLES,
        "{} samples kept of a {}-sample name",
        recorded.len(),
        name.len()
    );
    let found = locate(&recorded, &name).expect("a recording with audio");
    assert!(
        found.score > 0.9,
        "the recording is not the name: {found:?}"
    );
    let participant = sim.bridge.participant_of(caller).unwrap();
    let conference = pinbridge_domain::ConferenceId::parse(common::CONFERENCE).unwrap();
    assert_eq!(
        sim.bridge.recorded_name_of(&conference, participant),
        Some(&recorded[..])
    );

    // "Alex Morgan" then "has joined".
    let heard = last(&sim, organiser, 8.0);
    let said = locate(&name, &heard).expect("audio heard");
    assert!(said.score > 0.8, "the name is not announced: {said:?}");
    let joined = locate(&prompt(PromptId::Joined), &heard).unwrap();
    assert!(joined.score > 0.8, "no \"has joined\": {joined:?}");
    assert!(
        joined.offset > said.offset && joined.offset < said.offset + name.len() + 1600,
        "\"has joined\" does not follow the name: {said:?} {joined:?}"
    );
    // The caller hears nobody announce itself.
    let own = locate(&name, &sim.heard(caller)).unwrap();
    assert!(own.score < 0.5, "the caller hears its own name: {own:?}");

    sim.hang_up(caller);
    sim.run(Duration::from_secs(3));
    assert_eq!(sim.bridge.recorded_name(caller), None);
    assert_eq!(sim.bridge.recorded_name_of(&conference, participant), None);
    let heard = last(&sim, organiser, 4.0);
    let said = locate(&name, &heard).expect("audio heard");
    assert!(
        said.score > 0.8,
        "the leaver's name is not announced: {said:?}"
    );
    let left = locate(&prompt(PromptId::Left), &heard).unwrap();
    assert!(left.score > 0.8, "no \"has left\": {left:?}");
    assert!(left.offset > said.offset, "{said:?} {left:?}");
}

#[test]
fn tone_only_announces_joins_and_leaves_by_tone() {
    let (mut sim, organiser) = meeting_with(EntryExitAnnouncementsType::ToneOnly);
    let name = speech();
    let caller = until_beep(&mut sim, None);
    say(&mut sim, caller, &name);
    sim.until_placed(caller);
    // The entry tone: 660 Hz then 880 Hz, just after the join.
    assert!(entry_tone(&last(&sim, organiser, 2.0)), "no entry tone");
    sim.run(Duration::from_secs(3));
    let said = score(&name, &last(&sim, organiser, 5.0));
    assert!(said < 0.5, "tone-only announces the name: {said:.3}");
    // The name is kept all the same, for the app's lobby panel.
    assert!(sim.bridge.recorded_name(caller).is_some());

    sim.hang_up(caller);
    sim.run(Duration::from_millis(600));
    let heard = last(&sim, organiser, 0.6);
    assert!(exit_tone(&heard) && !entry_tone(&heard), "no exit tone");
    sim.run(Duration::from_secs(3));
    let said = score(&name, &last(&sim, organiser, 3.6));
    assert!(
        said < 0.5,
        "tone-only announces the leaver's name: {said:.3}"
    );
}

#[test]
fn silence_after_the_name_ends_the_recording_before_the_limit() {
    let (mut sim, _organiser) = meeting_with(EntryExitAnnouncementsType::UseNames);
    let name = speech();
    let caller = until_beep(&mut sim, None);
    say(&mut sim, caller, &name);
    sim.run(the_length_of(&name));
    // Still recording 1.2 s into the silence; joined by 2 s, before the 4 s limit.
    sim.run(Duration::from_millis(1200));
    assert_eq!(sim.bridge.participant_of(caller), None, "ended too soon");
    sim.run(Duration::from_millis(800));
    assert!(
        sim.bridge.participant_of(caller).is_some(),
        "the silence did not end the recording"
    );
    assert!(sim.bridge.recorded_name(caller).is_some());
}

#[test]
fn pound_ends_the_recording_of_a_caller_who_goes_on_talking() {
    let (mut sim, organiser) = meeting_with(EntryExitAnnouncementsType::UseNames);
    let name = speech();
    // After the name, the phone sends a steady tone: no silence ends the recording.
    let caller = until_beep(&mut sim, Some(400.0));
    say(&mut sim, caller, &name);
    sim.run(the_length_of(&name) + Duration::from_millis(200));
    assert_eq!(sim.bridge.participant_of(caller), None);
    sim.keys(caller, "#");
    // Quiet once in the meeting, so that the announcement is heard alone.
    sim.phones.get_mut(&caller).unwrap().tone = None;
    assert!(
        sim.bridge.participant_of(caller).is_some(),
        "pound did not end the recording"
    );
    let recorded = sim.bridge.recorded_name(caller).unwrap().to_vec();
    // The name and the tone's first moments, well short of the 4 s limit.
    assert!(
        recorded.len() < name.len() + 8000,
        "{} samples",
        recorded.len()
    );
    let found = locate(&name[..name.len() / 2], &recorded).unwrap();
    assert!(found.score > 0.8, "{found:?}");
    sim.run(Duration::from_secs(3));
    let said = locate(&name, &last(&sim, organiser, 6.0)).unwrap();
    assert!(said.score > 0.7, "the name is not announced: {said:?}");
}

#[test]
fn star_23_turns_the_named_announcements_off() {
    let (mut sim, organiser) = meeting_with(EntryExitAnnouncementsType::UseNames);
    sim.keys(organiser, "*23");
    sim.run(Duration::from_secs(4));
    let name = speech();
    let caller = until_beep(&mut sim, None);
    say(&mut sim, caller, &name);
    sim.until_placed(caller);
    sim.run(Duration::from_secs(3));
    let heard = last(&sim, organiser, 5.0);
    let said = score(&name, &heard);
    assert!(said < 0.5, "announced with announcements off: {said:.3}");
    assert!(!entry_tone(&heard), "a tone with announcements off");
    // And on again.
    sim.keys(organiser, "*23");
    sim.run(Duration::from_secs(4));
    sim.hang_up(caller);
    sim.run(Duration::from_secs(3));
    let heard = last(&sim, organiser, 4.0);
    assert!(score(&name, &heard) > 0.8, "the leaver is not announced");
}

#[test]
fn a_caller_who_says_nothing_is_announced_by_the_tone() {
    let (mut sim, organiser) = meeting_with(EntryExitAnnouncementsType::UseNames);
    let caller = until_beep(&mut sim, None);
    sim.until_placed(caller);
    assert_eq!(sim.bridge.recorded_name(caller), None);
    assert!(
        entry_tone(&last(&sim, organiser, 2.0)),
        "no entry tone for a caller without a name"
    );
}

#[test]
fn a_caller_admitted_from_the_lobby_is_announced_and_one_who_leaves_the_lobby_is_not() {
    let lobby = Meeting {
        bypass_lobby: false,
        ..MEETING
    };
    let (mut sim, organiser) = meeting_of(lobby, EntryExitAnnouncementsType::UseNames);
    let name = speech();
    let waiting = until_beep(&mut sim, None);
    say(&mut sim, waiting, &name);
    sim.until_placed(waiting);
    sim.run(Duration::from_secs(4));
    assert_eq!(sim.counts(), (1, 1));
    assert!(sim.bridge.recorded_name(waiting).is_some());
    let before = last(&sim, organiser, 8.0);
    assert!(score(&name, &before) < 0.5, "announced while in the lobby");

    // A second caller waits, then hangs up in the lobby: nobody is told.
    let other = until_beep(&mut sim, None);
    say(&mut sim, other, &name);
    sim.until_placed(other);
    sim.run(Duration::from_secs(4));
    sim.hang_up(other);
    sim.run(Duration::from_secs(3));
    let heard = last(&sim, organiser, 4.0);
    assert!(score(&name, &heard) < 0.5, "a lobby leaver is announced");
    assert!(!exit_tone(&heard), "a lobby leaver is announced by tone");

    sim.keys(organiser, "*21");
    sim.run(Duration::from_secs(5));
    assert_eq!(sim.counts(), (2, 0));
    let heard = last(&sim, organiser, 6.0);
    assert!(
        score(&name, &heard) > 0.8,
        "the admitted caller is not announced"
    );
}
