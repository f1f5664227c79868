//! The phone-side harness checked on its own, without pinbridge: a SIPp caller and a
//! baresip phone each call a SIPp peer that streams the hold music. What they received
//! (captured with tcpdump and decoded, or recorded by baresip) must correlate with the
//! music asset, and the keys the SIPp caller typed (RFC 4733 from a generated pcap) and
//! baresip's tone must be on the wire. If this test fails, the dial-in tests cannot be
//! trusted either.

use crate::common;

use std::time::Duration;

use common::phone::*;
use pinbridge_media::RtpPacket;
use pinbridge_media::analysis::goertzel_power;

#[test]
fn a_sipp_caller_receives_music_and_sends_rfc4733_keys() {
    let dir = common::tempdir();
    let mut peer = SippPeer::start();
    let capture = Capture::start(dir.path(), &format!("udp port {}", peer.media_port));
    let mut config = CallerConfig::new("+14255550100", "123#,*11#");
    config.more_keys = "*21".into();
    config.tone_hz = Some(700.0);
    let mut caller = SippCaller::start("caller", &peer.address(), &config);
    let answer = caller.wait_answered(Duration::from_secs(20));
    assert_eq!(answer.rtp_port, peer.media_port);
    // Three seconds of music, then the second stage of keys, then a hang-up.
    wait_for("3 s of music", Duration::from_secs(20), || {
        (received_audio(&capture.datagrams(), answer.rtp_port)
            .samples
            .len()
            > 24_000)
            .then_some(())
    });
    wait_for("the first keys sent", Duration::from_secs(20), || {
        caller.logged("keys1 sent").then_some(())
    });
    caller.more_keys();
    wait_for("the second keys sent", Duration::from_secs(20), || {
        caller.logged("keys2 sent").then_some(())
    });
    // The pcap plays for its own length; wait until the last end packet is on the wire.
    wait_for("every key on the wire", Duration::from_secs(20), || {
        let events = events_to(&capture.datagrams(), peer.media_port);
        (events.len() >= 11 * 11).then_some(())
    });
    caller.hang_up();
    assert_eq!(caller.wait_end(Duration::from_secs(20)), Ending::ByCaller);
    peer.wait_done(Duration::from_secs(20));
    let datagrams = capture.stop();

    let received = received_audio(&datagrams, answer.rtp_port);
    assert_eq!(received.payload_types, vec![0]);
    let stretch = &received.samples[4000..20_000];
    let score = music_score(stretch);
    assert!(score > 0.9, "the music received correlates {score}");
    // A tone is not the music.
    let not_music = music_score(&tone(700.0, 2));
    assert!(not_music < 0.5, "{not_music}");

    // The keys, once each, in order, each event with its own timestamp.
    let events = events_to(&datagrams, peer.media_port);
    let mut keys = String::new();
    let mut timestamps = Vec::new();
    for (event, timestamp, end) in &events {
        if !timestamps.contains(timestamp) {
            timestamps.push(*timestamp);
            keys.push(match event {
                10 => '*',
                11 => '#',
                d => (b'0' + d) as char,
            });
        }
        let _ = end;
    }
    assert_eq!(keys, "123#*11#*21");
    // The caller's tone reached the peer.
    let sent: Vec<i16> = received_audio(&datagrams, config_media_port(&caller)).samples;
    assert!(sent.len() > 8000);
    let power = goertzel_power(&sent[..8000], 700.0);
    assert!(power > 6000.0 * 6000.0 / 2.0 * 0.5, "tone power {power}");
}

fn config_media_port(caller: &SippCaller) -> u16 {
    caller.media_port
}

/// The telephone events sent to `port`: (event, timestamp, end).
fn events_to(datagrams: &[Datagram], port: u16) -> Vec<(u8, u32, bool)> {
    datagrams
        .iter()
        .filter(|d| d.dst.port() == port)
        .filter_map(|d| {
            let p = RtpPacket::parse(&d.payload).ok()?;
            (p.payload_type == TELEPHONE_EVENT && p.payload.len() >= 4)
                .then(|| (p.payload[0], p.timestamp, p.payload[1] & 0x80 != 0))
        })
        .collect()
}

#[test]
fn a_sipp_caller_sends_sip_info_keys() {
    let mut peer = SippPeer::start();
    let mut config = CallerConfig::new("+14255550100", "42#");
    config.method = KeyMethod::Info;
    config.more_keys = "*9".into();
    let mut caller = SippCaller::start("caller", &peer.address(), &config);
    caller.wait_answered(Duration::from_secs(20));
    wait_for("the first keys sent", Duration::from_secs(20), || {
        caller.logged("keys1 sent").then_some(())
    });
    caller.more_keys();
    wait_for("the second keys sent", Duration::from_secs(20), || {
        caller.logged("keys2 sent").then_some(())
    });
    caller.hang_up();
    assert_eq!(caller.wait_end(Duration::from_secs(20)), Ending::ByCaller);
    peer.wait_done(Duration::from_secs(20));
    let signals: Vec<String> = caller
        .messages()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Signal=").map(str::to_owned))
        .collect();
    assert_eq!(signals, ["4", "2", "#", "*", "9"]);
}

#[test]
fn baresip_receives_music_and_sends_its_tone() {
    let dir = common::tempdir();
    let mut peer = SippPeer::start();
    let capture = Capture::start(dir.path(), &format!("udp dst port {}", peer.media_port));
    let mut phone = Baresip::start(1300.0);
    phone.dial(&format!("sip:+14255550100@{}", peer.address()));
    phone.wait_event("CALL_ESTABLISHED", Duration::from_secs(20));
    wait_for(
        "3 s of baresip's tone at the peer",
        Duration::from_secs(20),
        || {
            let n: usize = capture
                .datagrams()
                .iter()
                .filter(|d| RtpPacket::parse(&d.payload).is_ok_and(|p| p.payload_type == 0))
                .count();
            (n >= 150).then_some(())
        },
    );
    phone.key('5');
    wait_for(
        "baresip's key 5 on the wire",
        Duration::from_secs(20),
        || {
            events_to(&capture.datagrams(), peer.media_port)
                .iter()
                .any(|e| e.0 == 5)
                .then_some(())
        },
    );
    phone.key('6');
    phone.hang_up();
    phone.wait_event("CALL_CLOSED", Duration::from_secs(20));
    peer.wait_done(Duration::from_secs(20));
    let heard = phone.stop();
    let datagrams = capture.stop();
    assert!(
        heard.len() > 16_000,
        "baresip recorded {} samples",
        heard.len()
    );
    let score = music_score(&heard[4000..16_000]);
    assert!(score > 0.9, "baresip's recording correlates {score}");
    // Baresip's tone, at the peer.
    let from_phone = datagrams
        .iter()
        .find(|d| RtpPacket::parse(&d.payload).is_ok_and(|p| p.payload_type == 0))
        .expect("RTP from baresip")
        .src
        .port();
    let sent = received_audio(&datagrams, from_phone).samples;
    let power = goertzel_power(&sent[1600..9600], 1300.0);
    assert!(power > 6000.0 * 6000.0 / 2.0 * 0.5, "tone power {power}");
    // Its keys are RFC 4733 events.
    let events = events_to(&datagrams, peer.media_port);
    assert!(events.iter().any(|e| e.0 == 5), "{events:?}");
}
