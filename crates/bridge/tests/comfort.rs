//! Callers' comfort in virtual time, checked by what each phone hears (correlation with
//! the committed prompts and music): the lobby's reminder every minute over the music,
//! `*0` repeating the last prompt, and the greeting's offer of a number's alternate
//! language, whose choice switches every later prompt of the call.

mod common;

use std::time::Duration;

use common::{CONFERENCE, Meeting, Sim};
use pinbridge_bridge::{Assets, CallId, Config};
use pinbridge_domain::{E164, LanguageTag, NumberKind, ServiceNumber};
use pinbridge_ivr::PromptId;
use pinbridge_media::analysis::{locate, locate_looping};

fn assets() -> Assets {
    Assets::load().unwrap()
}

fn clip(language: &str, prompt: PromptId) -> Vec<i16> {
    assets().prompts(language).clip(prompt).samples().to_vec()
}

/// How well `prompt` (as committed) matches a stretch of `heard`: 1 when it was heard.
fn score(prompt: &[i16], heard: &[i16]) -> f64 {
    locate(prompt, heard).map_or(0.0, |m| m.score)
}

/// Where in `heard` (in seconds from its start) `prompt` begins, when it is there.
fn heard_at(prompt: &[i16], heard: &[i16]) -> Option<f64> {
    let found = locate(prompt, heard)?;
    (found.score > 0.95).then(|| found.offset as f64 / 8000.0)
}

/// Whether the last two seconds of `heard` are the hold music.
fn ends_with_music(heard: &[i16]) -> bool {
    let music = assets().music();
    let last = &heard[heard.len().saturating_sub(16_000)..];
    locate_looping(last, music.samples()).is_some_and(|m| m.score > 0.95)
}

fn seconds(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Runs in 20 ms steps until the call has a place in the meeting or its lobby (at most
/// a minute): the instant it is placed is then `sim.now`, to a tick.
fn until_placed_exactly(sim: &mut Sim, id: CallId) {
    for _ in 0..3000 {
        if sim.bridge.participant_of(id).is_some() {
            return;
        }
        sim.run(Duration::from_millis(20));
    }
    panic!("{id:?} never reached the meeting");
}

/// A caller of a meeting that has not started, from the dial until the lobby takes it.
fn lobby_caller(sim: &mut Sim) -> CallId {
    let id = sim.dial(None);
    sim.run(Duration::from_millis(400));
    sim.keys(id, &format!("{CONFERENCE}#"));
    until_placed_exactly(sim, id);
    assert_eq!(sim.counts(), (0, 1));
    id
}

fn packets(sim: &Sim, id: CallId) -> usize {
    sim.phones[&id].packets
}

#[test]
fn the_lobby_reminds_the_caller_at_60_and_120_seconds_and_plays_music_otherwise() {
    let reminder = clip("en-US", PromptId::LobbyReminder);
    let mut sim = Sim::new(Meeting::default());
    let id = lobby_caller(&mut sim);
    let joined = packets(&sim, id);

    sim.run(seconds(50));
    let first_50s = sim.heard_since(id, joined);
    assert!(ends_with_music(&first_50s), "the lobby plays no music");
    assert!(
        score(&reminder, &first_50s) < 0.5,
        "a reminder before a minute"
    );

    let at_50 = packets(&sim, id);
    sim.run(seconds(16));
    let heard = sim.heard_since(id, at_50);
    let at = heard_at(&reminder, &heard).expect("no reminder after a minute");
    assert!(
        (at + 50.0 - 60.0).abs() < 0.5,
        "the reminder came at {}",
        at + 50.0
    );
    assert!(ends_with_music(&heard), "the music does not come back");

    sim.run(seconds(44));
    let at_110 = packets(&sim, id);
    let between = sim.heard(id);
    assert_eq!(between.len(), 20 * 8000, "the last 20 s are kept");
    assert!(
        score(&reminder, &between) < 0.5,
        "a reminder between the minutes"
    );
    assert!(ends_with_music(&between));

    sim.run(seconds(16));
    let heard = sim.heard_since(id, at_110);
    let at = heard_at(&reminder, &heard).expect("no reminder after two minutes");
    assert!(
        (at + 110.0 - 120.0).abs() < 0.5,
        "the reminder came at {}",
        at + 110.0
    );
    assert!(ends_with_music(&heard));
}

#[test]
fn no_reminder_when_it_is_off() {
    let reminder = clip("en-US", PromptId::LobbyReminder);
    let config = Config {
        lobby_reminder: None,
        ..Config::default()
    };
    let mut sim = Sim::with_config(Meeting::default(), config);
    let id = lobby_caller(&mut sim);
    sim.run(seconds(70));
    let heard = sim.heard(id);
    assert!(
        score(&reminder, &heard) < 0.5,
        "a reminder though it is off"
    );
    assert!(ends_with_music(&heard));
}

#[test]
fn star_0_in_the_lobby_repeats_the_lobby_prompt_then_the_music_resumes() {
    let lobby_wait = clip("en-US", PromptId::LobbyWait);
    let mut sim = Sim::new(Meeting::default());
    let id = lobby_caller(&mut sim);
    let joined = packets(&sim, id);
    sim.run(seconds(5));
    assert!(score(&lobby_wait, &sim.heard_since(id, joined)) < 0.5);
    let before = packets(&sim, id);
    sim.keys(id, "*0");
    sim.run(seconds(7));
    let heard = sim.heard_since(id, before);
    assert!(
        heard_at(&lobby_wait, &heard).is_some(),
        "*0 repeated nothing"
    );
    assert!(ends_with_music(&heard), "the music does not come back");
}

#[test]
fn star_0_in_the_meeting_repeats_the_last_prompt() {
    let muted = clip("en-US", PromptId::Muted);
    let mut sim = Sim::new(Meeting::default());
    let organiser = sim.organiser(None);
    sim.keys(organiser, "*6");
    sim.run(seconds(3));
    assert!(heard_at(&muted, &sim.heard(organiser)).is_some());
    let before = packets(&sim, organiser);
    sim.run(seconds(3));
    assert!(score(&muted, &sim.heard_since(organiser, before)) < 0.5);
    let before = packets(&sim, organiser);
    sim.keys(organiser, "*0");
    sim.run(seconds(3));
    let heard = sim.heard_since(organiser, before);
    assert!(heard_at(&muted, &heard).is_some(), "*0 repeated nothing");
}

#[test]
fn star_0_while_typing_the_conference_id_asks_again_and_the_entry_starts_over() {
    let question = clip("en-US", PromptId::EnterConferenceId);
    let mut sim = Sim::new(Meeting::default());
    let id = sim.dial(None);
    sim.run(Duration::from_millis(400));
    // Keys during the greeting cut it short: the question is not asked.
    sim.keys(id, "12");
    sim.run(seconds(1));
    let before = packets(&sim, id);
    sim.keys(id, "*0");
    sim.run(Duration::from_millis(question.len() as u64 / 8 + 500));
    let heard = sim.heard_since(id, before);
    assert!(heard_at(&question, &heard).is_some(), "*0 asked nothing");
    // The digits typed before `*0` are gone: the conference ID alone reaches the lobby.
    sim.keys(id, &format!("{CONFERENCE}#"));
    until_placed_exactly(&mut sim, id);
}

/// The dialled number: en-US, with French and German offered; there are no German
/// prompts, so only French is.
fn english_with_french() -> ServiceNumber {
    ServiceNumber::new(
        E164::parse(common::CALLED).unwrap(),
        NumberKind::Toll,
        LanguageTag::parse("en-US").unwrap(),
        vec![
            LanguageTag::parse("fr-FR").unwrap(),
            LanguageTag::parse("de-DE").unwrap(),
        ],
    )
    .unwrap()
}

fn duration_of(samples: &[i16]) -> Duration {
    Duration::from_millis((samples.len() / 8) as u64)
}

#[test]
fn the_greeting_offers_french_and_pressing_1_makes_every_later_prompt_french() {
    let welcome = clip("en-US", PromptId::Welcome);
    let offer = clip("fr-FR", PromptId::LanguageOffer1);
    let mut sim = Sim::with_numbers(
        Meeting::default(),
        Config::default(),
        vec![english_with_french()],
    );
    let id = sim.dial(None);
    sim.run(duration_of(&welcome) + duration_of(&offer) + seconds(1));
    let heard = sim.heard(id);
    let welcome_at = heard_at(&welcome, &heard).expect("no English welcome");
    let offer_at = heard_at(&offer, &heard).expect("no French offer");
    assert!(offer_at > welcome_at, "the offer follows the welcome");
    // Only one language is offered: after the offer, silence.
    let after = (offer_at * 8000.0) as usize + offer.len();
    assert!(
        heard[after..].iter().all(|&s| s.abs() < 64),
        "something follows the French offer"
    );

    let before = packets(&sim, id);
    sim.keys(id, "1");
    sim.run(duration_of(&clip("fr-FR", PromptId::EnterConferenceId)) + seconds(1));
    let heard = sim.heard_since(id, before);
    assert!(
        heard_at(&clip("fr-FR", PromptId::EnterConferenceId), &heard).is_some(),
        "the question is not in French"
    );
    assert!(score(&clip("en-US", PromptId::EnterConferenceId), &heard) < 0.5);

    sim.keys(id, &format!("{CONFERENCE}#"));
    until_placed_exactly(&mut sim, id);
    let heard = sim.heard(id);
    for prompt in [PromptId::OrganiserPressStar, PromptId::LobbyWait] {
        assert!(
            heard_at(&clip("fr-FR", prompt), &heard).is_some(),
            "{prompt} is not in French"
        );
        assert!(
            score(&clip("en-US", prompt), &heard) < 0.5,
            "{prompt} in English"
        );
    }
    let joined = packets(&sim, id);
    sim.run(seconds(68));
    let heard = sim.heard_since(id, joined);
    assert!(
        heard_at(&clip("fr-FR", PromptId::LobbyReminder), &heard).is_some(),
        "the reminder is not in French"
    );
    assert!(ends_with_music(&heard));
}

#[test]
fn without_a_language_key_the_call_stays_in_the_numbers_language() {
    let welcome = clip("en-US", PromptId::Welcome);
    let offer = clip("fr-FR", PromptId::LanguageOffer1);
    let question = clip("en-US", PromptId::EnterConferenceId);
    let mut sim = Sim::with_numbers(
        Meeting::default(),
        Config::default(),
        vec![english_with_french()],
    );
    let id = sim.dial(None);
    // The welcome, the offer, three seconds for a key, then the question.
    sim.run(duration_of(&welcome) + duration_of(&offer) + seconds(3) + duration_of(&question));
    sim.run(seconds(1));
    let heard = sim.heard(id);
    let offer_at = heard_at(&offer, &heard).expect("no French offer");
    let question_at = heard_at(&question, &heard).expect("no English question");
    let wait = question_at - offer_at - offer.len() as f64 / 8000.0;
    assert!(
        (wait - 3.0).abs() < 0.1,
        "the question came {wait} s after the offer"
    );
    assert!(score(&clip("fr-FR", PromptId::EnterConferenceId), &heard) < 0.5);
}

#[test]
fn a_french_number_offers_english_in_english() {
    let number = ServiceNumber::new(
        E164::parse(common::CALLED).unwrap(),
        NumberKind::Toll,
        LanguageTag::parse("fr-FR").unwrap(),
        vec![LanguageTag::parse("en-US").unwrap()],
    )
    .unwrap();
    let welcome = clip("fr-FR", PromptId::Welcome);
    let offer = clip("en-US", PromptId::LanguageOffer1);
    let mut sim = Sim::with_numbers(Meeting::default(), Config::default(), vec![number]);
    let id = sim.dial(None);
    sim.run(duration_of(&welcome) + duration_of(&offer) + seconds(1));
    let heard = sim.heard(id);
    assert!(heard_at(&welcome, &heard).is_some(), "no French welcome");
    assert!(heard_at(&offer, &heard).is_some(), "no English offer");
    let before = packets(&sim, id);
    sim.keys(id, "1");
    sim.run(seconds(5));
    let heard = sim.heard_since(id, before);
    assert!(heard_at(&clip("en-US", PromptId::EnterConferenceId), &heard).is_some());
}
