//! Acceptance 2: two callers arrive before the start: both wait in the lobby and both
//! receive the hold music (a stretch of the RTP each received correlates with
//! `assets/music/hold.wav`) after the lobby announcement; the organiser joins with the PIN and presses *21: both move
//! into the meeting (`meeting show --json`).

use crate::common;

use std::time::Duration;

use common::phone::bridge::{self, Bridge};
use common::phone::*;

#[test]
fn lobby_callers_hear_hold_music_and_star21_admits_them() {
    let bridge = bridge::start(&[]);
    let conference = bridge.meeting(&[]);
    let dir = common::tempdir();
    let capture = bridge.capture(dir.path());
    let keys = format!("{conference}#");
    let mut first = bridge.call("caller 1", &keys);
    let mut second = bridge.call("caller 2", &keys);
    let ports = [
        first.wait_answered(Duration::from_secs(30)).rtp_port,
        second.wait_answered(Duration::from_secs(30)).rtp_port,
    ];
    assert_ne!(ports[0], ports[1], "each call has its own RTP port");
    let state = bridge.wait_state(&conference, "two callers in the lobby", |s| {
        s.in_lobby() == 2
    });
    assert!(!state.started, "{state:?}");
    assert_eq!(state.in_meeting(), 0, "{state:?}");
    // Each receives the music: the last two seconds it received are in the asset.
    for port in ports {
        wait_for(
            &format!("hold music on RTP port {port}"),
            Duration::from_secs(60),
            || {
                let heard = received_audio(&capture.datagrams(), port).samples;
                (heard.len() > 16_000 && music_score(&heard[heard.len() - 16_000..]) > 0.8)
                    .then_some(())
            },
        );
    }
    // Each was told before being put in the lobby.
    for port in ports {
        Bridge::wait_prompt(&capture, port, "lobby-wait");
    }
    let mut config = CallerConfig::new(bridge.number, &bridge.organiser_keys(&conference));
    config.more_keys = "*21".into();
    let mut organiser = bridge.call_with("organiser", config);
    organiser.wait_answered(Duration::from_secs(30));
    let state = bridge.wait_state(&conference, "the organiser joins", |s| {
        s.started && s.organisers_in_meeting() == 1
    });
    assert_eq!(
        state.in_lobby(),
        2,
        "the organiser's arrival admits nobody: {:?}",
        state
    );
    organiser.more_keys();
    let state = bridge.wait_state(&conference, "*21 admits both", |s| {
        s.in_lobby() == 0 && s.in_meeting() == 3
    });
    assert_eq!(state.organisers_in_meeting(), 1, "{state:?}");
    for call in [&mut first, &mut second, &mut organiser] {
        call.hang_up();
        assert_eq!(call.wait_end(Duration::from_secs(30)), Ending::ByCaller);
    }
    capture.stop();
}
