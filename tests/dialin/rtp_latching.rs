//! Admission of media: a call's audio is latched to the source it first came from. A
//! third party streaming a loud tone at a caller's RTP port, from another port of the
//! same machine, for five seconds, neither redirects the call's audio to itself (it
//! receives nothing) nor is heard in the meeting, while both real callers keep hearing
//! each other; `/metrics` counts what was ignored.

use crate::common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::phone::bridge;
use common::phone::*;
use pinbridge_media::RtpSender;
use pinbridge_media::analysis::goertzel_power;

const A_HZ: f32 = 450.0;
const B_HZ: f32 = 1100.0;
const ATTACK_HZ: f32 = 2000.0;
const ATTACK_PACKETS: usize = 250;

#[test]
fn rtp_from_another_source_neither_moves_the_call_nor_is_mixed() {
    let bridge = bridge::start(&[]);
    let conference = bridge.meeting(&["--allow-anonymous-start", "true"]);
    let dir = common::tempdir();
    let capture = bridge.capture(dir.path());
    let keys = format!("{conference}#");
    let mut a = bridge.call_with(
        "caller a",
        CallerConfig {
            tone_hz: Some(A_HZ),
            ..CallerConfig::new(bridge.number, &keys)
        },
    );
    let mut b = bridge.call_with(
        "caller b",
        CallerConfig {
            tone_hz: Some(B_HZ),
            ..CallerConfig::new(bridge.number, &keys)
        },
    );
    let port_a = a.wait_answered(Duration::from_secs(30)).rtp_port;
    let port_b = b.wait_answered(Duration::from_secs(30)).rtp_port;
    bridge.wait_state(&conference, "both callers in the meeting", |s| {
        s.in_meeting() == 2
    });
    let ignored_before = bridge.metric("pinbridge_rtp_packets_foreign_total");

    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    attacker
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut sender = RtpSender::new(0x5eed, 0, 1, 0);
    let tone = ulaw(&tone(ATTACK_HZ, 1));
    let started = Instant::now();
    let mut received_by_attacker = 0;
    let mut buf = [0u8; 2048];
    for i in 0..ATTACK_PACKETS {
        let offset = (i % 50) * 160;
        let mut packet = [0u8; 256];
        let len = sender
            .write_packet(&tone[offset..offset + 160], 160, &mut packet)
            .unwrap();
        attacker
            .send_to(&packet[..len], ("127.0.0.1", port_b))
            .unwrap();
        // Paced by the read timeout: one packet per 20 ms, and whatever comes back.
        if attacker.recv_from(&mut buf).is_ok() {
            received_by_attacker += 1;
        }
    }
    let attack = started.elapsed();
    let datagrams = capture.stop();

    assert_eq!(
        received_by_attacker, 0,
        "the bridge sent the call's audio to the third party"
    );
    let ignored = bridge.metric("pinbridge_rtp_packets_foreign_total") - ignored_before;
    assert!(
        ignored >= ATTACK_PACKETS as f64,
        "only {ignored} of {ATTACK_PACKETS} foreign packets counted as ignored"
    );
    // The last `attack` of what each caller received: each hears the other, and A never
    // hears the third party's tone.
    let heard = |port: u16| {
        let samples = received_audio(&datagrams, port).samples;
        let n = (attack.as_millis() as usize * 8).min(samples.len());
        samples[samples.len() - n..].to_vec()
    };
    let (heard_a, heard_b) = (heard(port_a), heard(port_b));
    let power = |s: &[i16], hz: f32| goertzel_power(s, f64::from(hz));
    let tone_power = 6000.0 * 6000.0 / 2.0;
    assert!(
        power(&heard_a, B_HZ) > 0.1 * tone_power,
        "A stopped hearing B during the attack"
    );
    assert!(
        power(&heard_b, A_HZ) > 0.1 * tone_power,
        "B stopped hearing A during the attack"
    );
    assert!(
        power(&heard_a, ATTACK_HZ) < 0.01 * tone_power,
        "the third party's tone was mixed into the meeting"
    );
    for call in [&mut a, &mut b] {
        call.hang_up();
        assert_eq!(call.wait_end(Duration::from_secs(30)), Ending::ByCaller);
    }
}
