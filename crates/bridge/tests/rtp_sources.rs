//! RTP as real sources send it, in virtual time: keys from SIPp's stock captures of RFC
//! 4733 events (each digit's sequence numbers and timestamps far from the last one's,
//! on an SSRC of their own beside the audio), and audio streams that restart mid-call
//! with new sequence numbers and timestamps, or a new SSRC.

mod common;

use std::time::Duration;

use common::{Meeting, Sim};

const A: f64 = 600.0;
const B: f64 = 1000.0;

#[test]
fn a_caller_typing_the_conference_id_as_the_stock_captures_is_joined() {
    let mut sim = Sim::new(Meeting {
        bypass_lobby: true,
        ..Meeting::default()
    });
    let a = sim.organiser(Some(A));
    let b = sim.dial(Some(B));
    sim.run(Duration::from_millis(400));
    sim.stock_capture_keys(b, &format!("{}#", common::CONFERENCE));
    sim.until_placed(b);
    assert_eq!(sim.counts(), (2, 0));
    sim.run(Duration::from_secs(2));
    assert!(sim.hears(a, B) && sim.hears(b, A));
}

#[test]
fn the_organiser_typing_every_key_as_the_stock_captures_starts_the_meeting() {
    let mut sim = Sim::new(Meeting::default());
    let id = sim.dial(Some(A));
    sim.run(Duration::from_millis(400));
    sim.stock_capture_keys(id, &format!("{}#*{}#", common::CONFERENCE, common::PIN));
    sim.run(Duration::from_secs(6));
    assert_eq!(sim.pin_checks, 1);
    assert!(sim.started());
    assert_eq!(sim.counts(), (1, 0));
}

#[test]
fn an_audio_stream_that_jumps_mid_call_keeps_being_mixed() {
    let mut sim = Sim::new(Meeting {
        bypass_lobby: true,
        ..Meeting::default()
    });
    let a = sim.organiser(Some(A));
    let b = sim.caller(Some(B));
    sim.run(Duration::from_secs(2));
    assert!(sim.hears(a, B));
    sim.bridge.take_counters();
    // (steps of sequence number and timestamp): far forwards in sequence and 300 ms back
    // in time; far back in sequence and far forwards in time; 200 back in sequence and
    // 100 ms forwards in time; 300 ms back in time with the sequence going on.
    let jumps = [
        (30_000, 2_400u32.wrapping_neg()),
        (40_000, 900_000_000),
        (200u16.wrapping_neg(), 800),
        (0, 2_400u32.wrapping_neg()),
    ];
    for (sequence, timestamp) in jumps {
        sim.jump_stream(b, sequence, timestamp);
        sim.run(Duration::from_millis(1_500));
        assert!(
            sim.hears(a, B),
            "the stream is not mixed after jumping to {sequence}/{timestamp}"
        );
    }
    // The caller's gateway restarts with a new SSRC.
    sim.new_ssrc(b, 0x5eed, 4, 100);
    sim.run(Duration::from_millis(1_500));
    assert!(sim.hears(a, B), "the new SSRC is not mixed");
    let counters = sim.bridge.take_counters();
    assert_eq!(counters.rtp_packets_late, 0, "{counters:?}");
}

#[test]
fn loss_before_and_after_a_restart_of_the_stream_is_all_counted() {
    let mut sim = Sim::new(Meeting {
        bypass_lobby: true,
        ..Meeting::default()
    });
    let a = sim.organiser(Some(A));
    let b = sim.caller(Some(B));
    sim.bridge.take_counters();
    // Five packets lost, reported in the next RTCP interval.
    sim.jump_stream(b, 5, 5 * 160);
    sim.run(Duration::from_secs(6));
    // The stream restarts far away, then loses three.
    sim.jump_stream(b, 30_000, 900_000_000);
    sim.run(Duration::from_secs(2));
    sim.jump_stream(b, 3, 3 * 160);
    sim.run(Duration::from_secs(2));
    assert!(sim.hears(a, B));
    sim.hang_up(b);
    sim.run(Duration::from_secs(1));
    assert!(sim.phones[&b].released);
    assert_eq!(sim.bridge.take_counters().rtp_packets_lost, 5 + 3);
}
