//! Acceptance: audio is really mixed among real clients. Three participants in one
//! meeting (anonymous start, so nobody waits): a baresip phone sending a 1100 Hz tone
//! (aufile) and recording what it receives (sndfile), and two SIPp callers sending 450 Hz
//! (PCMU) and 2000 Hz (PCMA only) with rtp_stream, whose received RTP is captured. Over five seconds, in every
//! 200 ms window, each receives both other tones and not its own. Meanwhile baresip
//! presses 5 and 6 and one SIPp caller presses 9 (RFC 4733): nobody hears those keys.
//!
//! A test binary of its own, so that it runs alone: the calls of the other dial-in
//! tests do not compete for the cores while it checks, window by window, what each
//! phone hears.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::phone::bridge::{self, Bridge};
use common::phone::*;
use pinbridge_media::analysis::goertzel_power;

const BARESIP_HZ: f64 = 1100.0;
const SIPP_A_HZ: f64 = 450.0;
const SIPP_B_HZ: f64 = 2000.0;
const WINDOW: usize = 1600;
const WINDOWS: usize = 25;
/// The power of one of the phones' tones (amplitude 6000) where it was sent.
const TONE: f64 = 6000.0 * 6000.0 / 2.0;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The audio from `port` received from `since` on.
fn after(datagrams: &[Datagram], port: u16, since: f64) -> Vec<i16> {
    let received = received_audio(datagrams, port);
    let skip = received.times.iter().take_while(|&&t| t < since).count();
    let per_packet = received.samples.len() / received.times.len().max(1);
    received.samples[skip * per_packet..].to_vec()
}

fn hears(stretch: &[i16], hz: f64) -> bool {
    goertzel_power(stretch, hz) > TONE * 0.1
}

fn check_windows(who: &str, audio: &[i16], own: f64, others: [f64; 2], keys: &[char]) {
    assert!(
        audio.len() >= WINDOW * WINDOWS,
        "{who} received {} samples",
        audio.len()
    );
    for w in 0..WINDOWS {
        let stretch = &audio[w * WINDOW..(w + 1) * WINDOW];
        for hz in others {
            assert!(
                hears(stretch, hz),
                "{who} misses {hz} Hz in window {w}: {:.0}",
                goertzel_power(stretch, hz)
            );
        }
        let mine = goertzel_power(stretch, own);
        assert!(
            mine < TONE * 1e-3,
            "{who} hears its own {own} Hz in window {w}: {mine:.0}"
        );
        for &key in keys {
            let (row, column) = dtmf_digit(key).frequencies();
            let power =
                goertzel_power(stretch, row as f64) + goertzel_power(stretch, column as f64);
            assert!(
                power < TONE * 1e-2,
                "{who} hears key {key} in window {w}: {power:.0}"
            );
        }
    }
}

#[test]
fn three_real_phones_hear_each_other_but_not_themselves_nor_keys() {
    let bridge = bridge::start(&[]);
    let conference = bridge.meeting(&["--allow-anonymous-start", "true"]);
    let dir = common::tempdir();
    let capture = bridge.capture(dir.path());
    let keys = format!("{conference}#");

    let mut a_config = CallerConfig::new(bridge.number, &keys);
    a_config.tone_hz = Some(SIPP_A_HZ as f32);
    let mut b_config = CallerConfig::new(bridge.number, &keys);
    b_config.tone_hz = Some(SIPP_B_HZ as f32);
    b_config.more_keys = "9".into();
    // One caller speaks A-law only: the mix reaches it transcoded.
    b_config.codec = Some(pinbridge_media::Codec::Pcma);
    let mut a = bridge.call_with("SIPp 450 Hz", a_config);
    let mut b = bridge.call_with("SIPp 2000 Hz", b_config);
    let port_a = a.wait_answered(Duration::from_secs(30)).rtp_port;
    let port_b = b.wait_answered(Duration::from_secs(30)).rtp_port;

    let mut phone = Baresip::start(BARESIP_HZ as f32);
    phone.dial(&format!("sip:{}@{}", bridge.number, bridge.sip_udp));
    phone.wait_event("CALL_ESTABLISHED", Duration::from_secs(30));
    for key in keys.chars() {
        phone.key(key);
        // A person's pace on the keypad.
        std::thread::sleep(Duration::from_millis(KEY_MS + KEY_GAP_MS));
    }
    bridge.wait_state(&conference, "three in the meeting", |s| s.in_meeting() == 3);

    // Once each SIPp caller hears both others in its latest 200 ms, the stretch starts.
    Bridge::wait_capture(&capture, "the mix to settle", |d| {
        let last = |port| {
            let s = received_audio(d, port).samples;
            (s.len() >= WINDOW).then(|| s[s.len() - WINDOW..].to_vec())
        };
        let (sa, sb) = (last(port_a)?, last(port_b)?);
        (hears(&sa, BARESIP_HZ)
            && hears(&sa, SIPP_B_HZ)
            && hears(&sb, BARESIP_HZ)
            && hears(&sb, SIPP_A_HZ))
        .then_some(())
    });
    let start = now();
    phone.key('5');
    b.more_keys();
    std::thread::sleep(Duration::from_millis(KEY_MS + KEY_GAP_MS));
    phone.key('6');
    // Five seconds and a little more for both SIPp callers.
    Bridge::wait_capture(&capture, "five seconds of mix", |d| {
        (after(d, port_a, start).len() >= WINDOW * (WINDOWS + 2)
            && after(d, port_b, start).len() >= WINDOW * (WINDOWS + 2))
            .then_some(())
    });
    phone.hang_up();
    phone.wait_event("CALL_CLOSED", Duration::from_secs(30));
    let heard_by_baresip = phone.stop();
    for call in [&mut a, &mut b] {
        call.hang_up();
        assert_eq!(call.wait_end(Duration::from_secs(30)), Ending::ByCaller);
    }
    let datagrams = capture.stop();
    assert_eq!(received_audio(&datagrams, port_a).payload_types, vec![0]);
    assert_eq!(received_audio(&datagrams, port_b).payload_types, vec![8]);

    check_windows(
        "SIPp 450 Hz",
        &after(&datagrams, port_a, start),
        SIPP_A_HZ,
        [BARESIP_HZ, SIPP_B_HZ],
        &['5', '6', '9'],
    );
    check_windows(
        "SIPp 2000 Hz",
        &after(&datagrams, port_b, start),
        SIPP_B_HZ,
        [BARESIP_HZ, SIPP_A_HZ],
        &['5', '6'],
    );
    // Baresip's recording ends when it hung up, after the stretch: its last 5.2 s
    // less the final 0.2 s.
    let end = heard_by_baresip.len().saturating_sub(WINDOW);
    let begin = end.saturating_sub(WINDOW * WINDOWS);
    check_windows(
        "baresip",
        &heard_by_baresip[begin..end],
        BARESIP_HZ,
        [SIPP_A_HZ, SIPP_B_HZ],
        &['9'],
    );
}
