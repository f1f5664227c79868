//! Acceptance: a service number with French as its alternate language. The caller hears
//! the greeting in the number's language (English), then "pour le français, appuyez sur
//! un" in French, presses 1, and hears every later prompt in French: the conference ID
//! question, the organiser prompt, the lobby announcement; then the hold music. Each
//! prompt is found by correlating the RTP the caller received with the committed asset.

use crate::common;

use std::time::Duration;

use common::phone::bridge::{self, Bridge};
use common::phone::*;

/// The number with an alternate language; the default one of the bridge has none.
const FRENCH_TOO: &str = "+14255550111";

/// Waits until the call on `rtp_port` has received the French prompt `name` whole.
fn wait_french(capture: &Capture, rtp_port: u16, name: &str) {
    let reference = asset(&format!("prompts/fr-FR/{name}.wav"));
    wait_for(
        &format!("the French prompt {name} on RTP port {rtp_port}"),
        Duration::from_secs(60),
        || {
            let received = received_audio(&capture.datagrams(), rtp_port);
            (prompt_score(&reference, &received.samples) > 0.8).then_some(())
        },
    );
}

#[test]
fn a_caller_who_presses_1_for_french_hears_the_french_prompts() {
    let mut bridge = bridge::start(&[]);
    bridge.store.ok(&[
        "number",
        "add",
        FRENCH_TOO,
        "--alternate-languages",
        "fr-FR",
    ]);
    // The bridge reads the numbers when it starts.
    bridge.restart(None);
    let conference = bridge.meeting(&[]);
    let dir = common::tempdir();
    let capture = bridge.capture(dir.path());
    // Five seconds for the welcome and the offer, then 1 (within the three seconds the
    // offer waits), five seconds for the French question, then the conference ID. The
    // keys go as SIP INFO, whose pauses count from the answer (a replayed RFC 4733
    // capture starts with its first key).
    let keys = format!(",,,,,1,,,,,{conference}#");
    let config = bridge::with_method(CallerConfig::new(FRENCH_TOO, &keys), KeyMethod::Info);
    let mut caller = bridge.call_with("caller", config);
    let port = caller.wait_answered(Duration::from_secs(30)).rtp_port;

    Bridge::wait_prompt(&capture, port, "welcome");
    wait_french(&capture, port, "language-offer-1");
    wait_french(&capture, port, "enter-conference-id");
    let state = bridge.wait_state(&conference, "the caller waits in the lobby", |s| {
        s.in_lobby() == 1
    });
    assert!(!state.started, "{state:?}");
    wait_french(&capture, port, "organiser-press-star");
    wait_french(&capture, port, "lobby-wait");
    wait_for("hold music", Duration::from_secs(60), || {
        let heard = received_audio(&capture.datagrams(), port).samples;
        (heard.len() > 16_000 && music_score(&heard[heard.len() - 16_000..]) > 0.8).then_some(())
    });

    caller.hang_up();
    assert_eq!(caller.wait_end(Duration::from_secs(30)), Ending::ByCaller);
    let received = received_audio(&capture.stop(), port).samples;
    // After the welcome, nothing was in English.
    for name in [
        "enter-conference-id",
        "organiser-press-star",
        "lobby-wait",
        "language-offer-1",
    ] {
        let score = prompt_score(&prompt(name), &received);
        assert!(score < 0.5, "the English {name} correlates {score:.3}");
    }
}
