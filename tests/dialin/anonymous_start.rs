//! Acceptance 4 (anonymous start): where the meeting allows callers to start it, nobody
//! is asked for a PIN (no "press star" nor "enter PIN" prompt in what they receive): the
//! first caller starts the meeting and callers 2 and 3 join it directly, no lobby.

use crate::common;

use std::time::Duration;

use common::phone::bridge;
use common::phone::*;

#[test]
fn callers_start_and_join_without_a_pin() {
    let bridge = bridge::start(&[]);
    let conference = bridge.meeting(&["--allow-anonymous-start", "true"]);
    let dir = common::tempdir();
    let capture = bridge.capture(dir.path());
    let keys = format!("{conference}#");
    let mut first = bridge.call("caller 1", &keys);
    let port1 = first.wait_answered(Duration::from_secs(30)).rtp_port;
    let state = bridge.wait_state(&conference, "caller 1 starts the meeting", |s| {
        s.started && s.in_meeting() == 1
    });
    assert_eq!(state.organisers_in_meeting(), 0, "{state:?}");
    let mut second = bridge.call("caller 2", &keys);
    let mut third = bridge.call("caller 3", &keys);
    let port2 = second.wait_answered(Duration::from_secs(30)).rtp_port;
    let port3 = third.wait_answered(Duration::from_secs(30)).rtp_port;
    let state = bridge.wait_state(&conference, "callers 2 and 3 join", |s| s.in_meeting() == 3);
    assert_eq!(state.in_lobby(), 0, "{state:?}");
    let datagrams = capture.stop();
    for port in [port1, port2, port3] {
        let heard = received_audio(&datagrams, port).samples;
        for asked in ["organiser-press-star", "enter-pin", "lobby-wait"] {
            let score = prompt_score(&prompt(asked), &heard);
            assert!(
                score < 0.5,
                "the caller on port {port} heard {asked} ({score:.3})"
            );
        }
    }
    for call in [&mut first, &mut second, &mut third] {
        call.hang_up();
        assert_eq!(call.wait_end(Duration::from_secs(30)), Ending::ByCaller);
    }
}
