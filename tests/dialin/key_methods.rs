//! Every way a real caller's keys arrive: SIPp's stock RFC 4733 captures, SIPp's own
//! `play_dtmf`, SIP INFO and in-band tones with no telephone-event negotiated. With
//! each, the three flows that need keys work against `serve`:
//! - the anonymous start: a caller types the conference ID of a meeting callers may
//!   start and starts it;
//! - the lobby: a caller types the conference ID of a meeting that has not started and
//!   waits in the lobby;
//! - the organiser PIN flow: the organiser types the conference ID, star and the PIN,
//!   joins as the organiser (the prompt heard), and `*21` admits the waiting caller.
//!
//! With baresip, the same three flows with its own RFC 4733 keys.
//!
//! (Keys as generated RFC 4733 captures are the organiser and lobby tests of their own.)

use std::time::Duration;

use crate::common;

use common::phone::bridge::{Bridge, start, with_method};
use common::phone::{Attendance, Baresip, CallerConfig, Ending, KEY_GAP_MS, KEY_MS, KeyMethod};

fn flows_with(method: KeyMethod) {
    let bridge = start(&[]);
    let open = bridge.meeting(&["--allow-anonymous-start", "true"]);
    let closed = bridge.meeting(&[]);
    let dir = common::tempdir();
    let capture = bridge.capture(dir.path());
    let config = |keys: &str| with_method(CallerConfig::new(bridge.number, keys), method);

    let mut starter = bridge.call_with("anonymous starter", config(&format!("{open}#")));
    let mut waiting = bridge.call_with("lobby caller", config(&format!("{closed}#")));
    bridge.wait_state(&open, "the caller starts the open meeting", |s| {
        s.started && s.in_meeting() == 1
    });
    bridge.wait_state(&closed, "the caller waits in the lobby", |s| {
        !s.started && s.in_lobby() == 1
    });

    let mut organiser_config = config(&bridge.organiser_keys(&closed));
    organiser_config.more_keys = "*21".to_owned();
    let mut organiser = bridge.call_with("organiser", organiser_config);
    let answer = organiser.wait_answered(Duration::from_secs(30));
    let state = bridge.wait_state(&closed, "the organiser starts the meeting", |s| {
        s.started && s.organisers_in_meeting() == 1
    });
    assert_eq!(state.in_lobby(), 1, "nobody admitted yet: {state:?}");
    Bridge::wait_prompt(&capture, answer.rtp_port, "joining-as-organiser");
    organiser.more_keys();
    bridge.wait_state(&closed, "*21 admits the waiting caller", |s| {
        s.in_lobby() == 0 && s.in_meeting() == 2
    });

    for call in [&mut starter, &mut waiting, &mut organiser] {
        call.hang_up();
        assert_eq!(call.wait_end(Duration::from_secs(30)), Ending::ByCaller);
    }
    capture.stop();
}

#[test]
fn keys_from_sipps_stock_captures() {
    flows_with(KeyMethod::StockCaptures);
}

#[test]
fn keys_from_sipps_play_dtmf() {
    flows_with(KeyMethod::SippDtmf);
}

#[test]
fn keys_by_sip_info() {
    flows_with(KeyMethod::Info);
}

#[test]
fn keys_in_band_only() {
    flows_with(KeyMethod::InBand);
}

/// Keys at a person's pace from a baresip (RFC 4733; a pause where the keys have one).
/// Baresip ends a key's event only when the next key comes; a key counts when its event
/// begins, so the last one needs no other after it.
fn type_on(phone: &mut Baresip, keys: &str) {
    for key in keys.chars() {
        if key != ',' {
            phone.key(key);
        }
        std::thread::sleep(Duration::from_millis(KEY_MS + KEY_GAP_MS));
    }
}

#[test]
fn keys_from_baresip() {
    let bridge = start(&[]);
    let open = bridge.meeting(&["--allow-anonymous-start", "true"]);
    let closed = bridge.meeting(&[]);
    let dial = |phone: &mut Baresip| {
        phone.dial(&format!("sip:{}@{}", bridge.number, bridge.sip_udp));
        phone.wait_event("CALL_ESTABLISHED", Duration::from_secs(30));
    };

    let mut starter = Baresip::start(500.0);
    dial(&mut starter);
    type_on(&mut starter, &format!("{open}#"));
    let mut waiting = Baresip::start(600.0);
    dial(&mut waiting);
    type_on(&mut waiting, &format!("{closed}#"));
    bridge.wait_state(&open, "the caller starts the open meeting", |s| {
        s.started && s.in_meeting() == 1
    });
    bridge.wait_state(&closed, "the caller waits in the lobby", |s| {
        !s.started && s.in_lobby() == 1
    });

    let mut organiser = Baresip::start(700.0);
    dial(&mut organiser);
    type_on(&mut organiser, &bridge.organiser_keys(&closed));
    let state = bridge.wait_state(&closed, "the organiser starts the meeting", |s| {
        s.started && s.organisers_in_meeting() == 1
    });
    assert_eq!(state.in_lobby(), 1, "nobody admitted yet: {state:?}");
    type_on(&mut organiser, "*21");
    bridge.wait_state(&closed, "*21 admits the waiting caller", |s| {
        s.in_lobby() == 0 && s.in_meeting() == 2
    });

    for phone in [&mut starter, &mut waiting, &mut organiser] {
        phone.hang_up();
        phone.wait_event("CALL_CLOSED", Duration::from_secs(30));
    }
    bridge.wait_state(&open, "the starter leaves", |s| s.participants.is_empty());
    bridge.wait_state(&closed, "everyone leaves", |s| s.participants.is_empty());
    for phone in [starter, waiting, organiser] {
        phone.stop();
    }
}
