//! The bridge core in virtual time: calls ring and are answered, caller flows reach the
//! meeting or the lobby, `*21` admits, `*6` mutes, callers leave, flows time out, and
//! the audio each phone hears is the others' and never its own.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Meeting, Sim};
use pinbridge_bridge::{CallId, Channel, Command, Config, LiveUpdate, PinCheck};
use pinbridge_media::analysis::{goertzel_power, locate, locate_looping, mean_power};
use pinbridge_media::{Codec, FRAME_SAMPLES, RtpSender};

/// A meeting whose callers skip the lobby once it has started.
const BYPASS: Meeting = Meeting {
    anonymous_start: false,
    bypass_lobby: true,
    lobby_wait: Duration::from_secs(15 * 60),
    announcements: false,
};

const A: f64 = 600.0;
const B: f64 = 1000.0;
const C: f64 = 1400.0;
const D: f64 = 1800.0;
const E: f64 = 2200.0;

#[test]
fn a_call_rings_for_the_ring_delay_before_it_is_answered() {
    let mut sim = Sim::new(Meeting::default());
    let id = sim.dial(None);
    sim.run(Duration::from_millis(100));
    assert!(!sim.phones[&id].answered, "answered before the ring delay");
    sim.run(Duration::from_millis(100));
    assert!(
        sim.phones[&id].answered,
        "not answered after the ring delay"
    );
    assert!(sim.phones[&id].packets > 0, "nothing sent after the answer");
}

#[test]
fn a_call_cancelled_while_it_rings_is_released_without_answer_or_bye() {
    let mut sim = Sim::new(Meeting::default());
    let id = sim.dial(None);
    sim.run(Duration::from_millis(50));
    sim.hang_up(id);
    sim.run(Duration::from_secs(1));
    let phone = &sim.phones[&id];
    assert!(phone.released);
    assert!(!phone.answered && !phone.hung_up);
    assert_eq!(phone.packets, 0, "media sent to a call never answered");
    assert_eq!(sim.bridge.gauges().calls, 0);
}

#[test]
fn callers_wait_for_the_organiser_and_star_21_admits_them_then_everyone_hears_the_others() {
    let mut sim = Sim::new(Meeting::default());
    let b = sim.caller(Some(B));
    let c = sim.caller(Some(C));
    assert_eq!(
        sim.counts(),
        (0, 2),
        "callers before the start wait in the lobby"
    );
    assert!(!sim.started());

    let a = sim.organiser(Some(A));
    assert!(sim.started(), "the organiser's PIN starts the meeting");
    assert_eq!(
        sim.counts(),
        (1, 2),
        "callers who waited for the start are not admitted by it"
    );
    sim.run(Duration::from_secs(2));
    assert!(!sim.hears(a, B) && !sim.hears(a, C), "the lobby is heard");
    assert!(!sim.hears(b, A), "a lobby caller hears the meeting");

    sim.keys(a, "*21");
    sim.run(Duration::from_secs(6));
    assert_eq!(sim.counts(), (3, 0));
    sim.run(Duration::from_secs(2));
    for (id, own, others) in [(a, A, [B, C]), (b, B, [A, C]), (c, C, [A, B])] {
        for hz in others {
            assert!(sim.hears(id, hz), "{id:?} does not hear {hz} Hz");
        }
        assert!(!sim.hears(id, own), "{id:?} hears itself");
    }
    assert!(sim.misdirected.is_empty());
}

#[test]
fn a_caller_of_a_started_meeting_with_bypass_joins_directly() {
    let mut sim = Sim::new(BYPASS);
    let a = sim.organiser(Some(A));
    let b = sim.caller(Some(B));
    assert_eq!(sim.counts(), (2, 0));
    sim.run(Duration::from_secs(2));
    assert!(sim.hears(a, B) && sim.hears(b, A));
}

#[test]
fn star_21_from_a_caller_who_is_not_the_organiser_admits_nobody() {
    let mut sim = Sim::new(Meeting {
        anonymous_start: true,
        ..Meeting::default()
    });
    let b = sim.caller(Some(B));
    assert_eq!(
        sim.counts(),
        (1, 0),
        "an anonymous start lets the caller in"
    );
    sim.keys(b, "*21");
    sim.run(Duration::from_secs(3));
    assert_eq!(sim.counts(), (1, 0));
}

#[test]
fn star_6_mutes_a_caller_for_everyone_and_again_unmutes() {
    let mut sim = Sim::new(BYPASS);
    let a = sim.organiser(Some(A));
    let b = sim.caller(Some(B));
    sim.run(Duration::from_secs(2));
    assert!(sim.hears(a, B));
    sim.keys(b, "*6");
    sim.run(Duration::from_secs(4));
    assert!(!sim.hears(a, B), "a muted caller is heard");
    assert!(sim.hears(b, A), "a muted caller stops hearing");
    sim.keys(b, "*6");
    sim.run(Duration::from_secs(4));
    assert!(sim.hears(a, B), "an unmuted caller is not heard");
}

#[test]
fn a_caller_who_leaves_is_released_and_the_last_one_closes_the_meeting() {
    let mut sim = Sim::new(BYPASS);
    let a = sim.organiser(Some(A));
    let b = sim.caller(Some(B));
    sim.hang_up(b);
    sim.run(Duration::from_secs(1));
    assert!(sim.phones[&b].released && !sim.phones[&b].hung_up);
    assert_eq!(sim.counts(), (1, 0));
    assert!(
        sim.live
            .iter()
            .any(|u| matches!(u, LiveUpdate::ParticipantLeft { .. })),
        "no live update for the leaver"
    );
    sim.hang_up(a);
    sim.run(Duration::from_secs(1));
    assert!(sim.bridge.meeting(&common_conference()).is_none());
    assert!(matches!(
        sim.live.last(),
        Some(LiveUpdate::MeetingClosed { .. })
    ));
    assert_eq!(sim.bridge.gauges().calls, 0);
}

#[test]
fn a_caller_who_types_nothing_is_told_goodbye_and_hung_up() {
    let mut sim = Sim::new(Meeting::default());
    let id = sim.dial(None);
    sim.run(Duration::from_secs(60));
    assert!(
        sim.phones[&id].hung_up,
        "the entry timeout never ended the call"
    );
    assert!(sim.phones[&id].released);
    assert_eq!(sim.bridge.gauges().calls, 0);
}

#[test]
fn a_lobby_wait_that_runs_out_hangs_the_caller_up() {
    let mut sim = Sim::new(Meeting {
        lobby_wait: Duration::from_secs(60),
        ..Meeting::default()
    });
    let b = sim.caller(None);
    assert_eq!(sim.counts(), (0, 1));
    sim.run(Duration::from_secs(45));
    assert!(
        !sim.phones[&b].hung_up,
        "released before the lobby wait ran out"
    );
    sim.run(Duration::from_secs(30));
    assert!(sim.phones[&b].hung_up, "still waiting after the lobby wait");
}

#[test]
fn a_wrong_pin_three_times_says_goodbye() {
    let mut sim = Sim::new(Meeting::default());
    let id = sim.dial(None);
    sim.run(Duration::from_millis(400));
    sim.keys(id, &format!("{}#*", common::CONFERENCE));
    for _ in 0..3 {
        sim.run(Duration::from_secs(3));
        sim.keys(id, "11111#");
    }
    sim.run(Duration::from_secs(15));
    assert_eq!(sim.pin_checks, 3);
    assert!(sim.phones[&id].hung_up);
    assert_eq!(sim.bridge.take_counters().pin_failures, 3);
}

#[test]
fn a_pin_check_refused_as_busy_ends_the_call_politely() {
    let mut sim = Sim::new(Meeting::default());
    sim.pin_answer = Some(PinCheck::Busy);
    let id = sim.dial(None);
    sim.run(Duration::from_millis(400));
    sim.keys(id, &format!("{}#*{}#", common::CONFERENCE, common::PIN));
    sim.run(Duration::from_secs(10));
    assert_eq!(sim.pin_checks, 1);
    assert!(sim.phones[&id].hung_up);
    assert!(!sim.started());
    assert_eq!(sim.bridge.take_counters().pin_checks_refused, 1);
}

#[test]
fn locked_pin_entry_is_announced_and_the_call_ends() {
    let assets = pinbridge_bridge::Assets::load().unwrap();
    let locked = assets
        .prompts(pinbridge_bridge::DEFAULT_LANGUAGE)
        .clip(pinbridge_ivr::PromptId::PinEntryLocked);
    let mut sim = Sim::new(Meeting::default());
    sim.pin_answer = Some(PinCheck::Locked);
    let id = sim.dial(None);
    sim.run(Duration::from_millis(400));
    sim.keys(id, &format!("{}#*{}#", common::CONFERENCE, common::PIN));
    sim.run(Duration::from_secs(20));
    assert_eq!(sim.pin_checks, 1);
    assert!(sim.phones[&id].hung_up);
    assert!(!sim.started());
    let found = locate(locked.samples(), &sim.heard(id)).expect("audio heard");
    assert!(found.score > 0.95, "the lock announcement: {found:?}");
}

#[test]
fn keys_sent_as_rfc_4733_events_start_the_meeting() {
    let mut sim = Sim::new(Meeting::default());
    let id = sim.dial(None);
    sim.run(Duration::from_millis(400));
    sim.rfc4733_keys(id, &format!("{}#*{}#", common::CONFERENCE, common::PIN));
    sim.run(Duration::from_secs(6));
    assert!(sim.started());
    assert_eq!(sim.counts(), (1, 0));
}

#[test]
fn a_call_whose_rtp_stops_is_hung_up_after_the_rtp_timeout() {
    let config = Config {
        rtp_timeout: Duration::from_secs(20),
        ..Config::default()
    };
    let mut sim = Sim::with_config(BYPASS, config);
    let a = sim.organiser(Some(A));
    sim.phones.get_mut(&a).unwrap().quiet = true;
    sim.run(Duration::from_secs(15));
    assert!(!sim.phones[&a].hung_up, "hung up before the RTP timeout");
    sim.run(Duration::from_secs(10));
    assert!(sim.phones[&a].hung_up);
    assert_eq!(sim.bridge.take_counters().rtp_timeouts, 1);
}

#[test]
fn rtp_from_another_source_neither_redirects_a_call_nor_is_heard() {
    let mut sim = Sim::new(BYPASS);
    let a = sim.organiser(Some(A));
    let b = sim.caller(None);
    let caller = sim.phones[&b].address;
    assert_eq!(sim.bridge.rtp_destination(b), Some(caller));
    let attacker: SocketAddr = "198.51.100.7:4444".parse().unwrap();
    // The attacker streams a loud tone to the caller's port, with the caller's SSRC
    // guessed wrong and then right, for ten seconds.
    let mut senders = [
        RtpSender::new(0xdead, 0, 7, 0),
        RtpSender::new(0x1000 + b.0 as u32, 0, 9000, 0),
    ];
    stream_from(&mut sim, b, attacker, &mut senders, E, 500);
    assert_eq!(
        sim.bridge.rtp_destination(b),
        Some(caller),
        "the call moved"
    );
    assert!(!sim.hears(a, E), "the attacker's audio is mixed");
    assert!(sim.hears(b, A), "the caller stopped hearing the meeting");
    assert!(sim.misdirected.is_empty(), "audio went to the attacker");
    let counters = sim.bridge.take_counters();
    assert!(counters.rtp_packets_foreign >= 1000, "{counters:?}");
    assert_eq!(counters.rtp_source_moves, 0);
}

#[test]
fn a_new_ssrc_from_a_new_source_takes_over_after_probation_and_is_heard() {
    let mut sim = Sim::new(BYPASS);
    let a = sim.organiser(Some(A));
    let b = sim.caller(None);
    // The caller's gateway moves: the old stream stops, a new one starts elsewhere.
    sim.phones.get_mut(&b).unwrap().quiet = true;
    let moved: SocketAddr = "192.0.2.99:30000".parse().unwrap();
    let mut senders = [RtpSender::new(0xbeef, 0, 1, 0)];
    stream_from(&mut sim, b, moved, &mut senders, E, 150);
    assert_eq!(sim.bridge.rtp_destination(b), Some(moved));
    assert!(sim.hears(a, E), "the moved stream is not mixed");
    assert_eq!(sim.bridge.take_counters().rtp_source_moves, 1);
}

#[test]
fn rtcp_from_another_source_is_ignored() {
    let mut sim = Sim::new(Meeting::default());
    let id = sim.dial(None);
    sim.run(Duration::from_secs(1));
    let mut builder = pinbridge_media::rtcp::CompoundBuilder::new();
    let _ = builder.sender_report(&pinbridge_media::rtcp::SenderReport {
        ssrc: 5,
        ntp_time: pinbridge_media::rtcp::NtpTime::from_unix(Duration::from_secs(1)),
        rtp_timestamp: 0,
        packet_count: 0,
        octet_count: 0,
        reports: Vec::new(),
    });
    let bytes = builder.finish().unwrap();
    let own: SocketAddr = "192.0.2.10:20003".parse().unwrap();
    let other: SocketAddr = "198.51.100.7:4445".parse().unwrap();
    sim.inject(id, Channel::Rtcp, own, &bytes);
    sim.inject(id, Channel::Rtcp, other, &bytes);
    sim.inject(id, Channel::Rtcp, other, &bytes);
    assert_eq!(sim.bridge.take_counters().rtcp_packets_foreign, 2);
}

#[test]
fn a_meeting_of_five_runs_ten_minutes_in_virtual_time() {
    let mut sim = Sim::new(BYPASS);
    let a = sim.organiser(Some(A));
    let others: Vec<_> = [B, C, D, E]
        .iter()
        .map(|&hz| (sim.caller(Some(hz)), hz))
        .collect();
    assert_eq!(sim.counts(), (5, 0));
    sim.run(Duration::from_secs(600));
    for &(id, own) in &others {
        assert!(sim.hears(id, A), "{id:?} lost the organiser");
        assert!(!sim.hears(id, own), "{id:?} hears itself");
        assert!(sim.hears(a, own), "the organiser lost {id:?}");
    }
    let counters = sim.bridge.take_counters();
    assert!(counters.ticks >= 30_000, "{counters:?}");
    assert_eq!(counters.rtp_packets_late, 0, "{counters:?}");
    assert_eq!(counters.late_ticks, 0, "{counters:?}");
    assert!(sim.misdirected.is_empty());
}

#[test]
fn a_reinvite_to_another_codec_is_sent_and_mixed_in_it() {
    let mut sim = Sim::new(BYPASS);
    let a = sim.organiser(Some(A));
    let b = sim.caller(Some(B));
    sim.run(Duration::from_secs(2));
    assert!(sim.hears(a, B) && sim.hears(b, A));
    let address = sim.phones[&b].address;
    sim.phones.get_mut(&b).unwrap().codec = Codec::Pcma;
    sim.command(Command::Remote(
        b,
        pinbridge_bridge::RemoteMedia {
            address: Some(address),
            codec: Codec::Pcma,
            payload_type: 8,
            telephone_event: Some(common::TELEPHONE_EVENT),
            srtp: None,
        },
    ));
    sim.run(Duration::from_secs(2));
    assert_eq!(sim.phones[&b].payload_type, Some(8), "still sent in PCMU");
    assert!(sim.hears(b, A), "the PCMA leg does not hear the meeting");
    assert!(sim.hears(a, B), "the PCMA leg is not mixed");
}

#[test]
fn the_greeting_and_the_hold_music_reach_the_caller_as_recorded() {
    let assets = pinbridge_bridge::Assets::load().unwrap();
    let welcome = assets
        .prompts(pinbridge_bridge::DEFAULT_LANGUAGE)
        .clip(pinbridge_ivr::PromptId::Welcome);
    let music = assets.music();
    let mut sim = Sim::new(Meeting::default());
    let id = sim.dial(None);
    let greeting = Duration::from_millis(welcome.samples().len() as u64 / 8);
    sim.run(greeting + Duration::from_secs(1));
    let found = locate(welcome.samples(), &sim.heard(id)).expect("audio heard");
    assert!(found.score > 0.95, "the greeting: {found:?}");

    let b = sim.caller(None);
    assert_eq!(sim.counts(), (0, 1));
    sim.run(Duration::from_secs(4));
    let heard = sim.heard(b);
    let last = &heard[heard.len() - 16_000..];
    assert!(mean_power(last) > 1000.0, "the lobby is silent");
    let found = locate_looping(last, music.samples()).expect("audio heard");
    assert!(found.score > 0.95, "the hold music: {found:?}");
    let not_music = locate(welcome.samples(), last).map_or(0.0, |m| m.score);
    assert!(
        not_music < 0.5,
        "the lobby hears the greeting ({not_music})"
    );
}

#[test]
fn keys_pressed_in_band_act_and_nobody_hears_them() {
    let mut sim = Sim::new(BYPASS);
    let a = sim.organiser(None);
    let b = sim.dial_with(None, None);
    sim.run(Duration::from_millis(400));
    sim.inband_keys(b, &format!("{}#", common::CONFERENCE));
    sim.until_placed(b);
    assert_eq!(
        sim.counts(),
        (2, 0),
        "the in-band conference ID was not taken"
    );
    sim.run(Duration::from_secs(3));
    let participant = sim.bridge.participant_of(b).unwrap();
    sim.inband_keys(b, "*6");
    sim.run(Duration::from_secs(3));
    let muted = sim
        .bridge
        .meeting(&common_conference())
        .and_then(|m| m.participant(participant))
        .is_some_and(|p| p.muted);
    assert!(muted, "*6 in-band did not mute");
    // What the organiser heard while the keys were pressed (the 400 ms of keys were
    // 3.4 s ago) holds none of their tones.
    let heard = sim.heard(a);
    let window = &heard[heard.len() - 8000 * 36 / 10..heard.len() - 8000 * 28 / 10];
    for hz in [941.0, 1209.0, 770.0, 1477.0] {
        let power = goertzel_power(window, hz);
        assert!(power < 5.0e3, "the organiser heard {hz} Hz ({power:.0})");
    }
}

/// `packets` RTP packets of a tone at `hz` from `source` to a call's RTP port, one per
/// 20 ms of virtual time, from each of `senders` in turn.
fn stream_from(
    sim: &mut Sim,
    call: CallId,
    source: SocketAddr,
    senders: &mut [RtpSender],
    hz: f64,
    packets: usize,
) {
    let tone = tone_payload(hz);
    for _ in 0..packets {
        for sender in senders.iter_mut() {
            let mut buf = [0u8; 256];
            let len = sender
                .write_packet(&tone, FRAME_SAMPLES as u32, &mut buf)
                .unwrap();
            sim.inject(call, Channel::Rtp, source, &buf[..len]);
        }
        sim.run(Duration::from_millis(20));
    }
}

fn tone_payload(hz: f64) -> [u8; FRAME_SAMPLES] {
    let mut pcm = [0i16; FRAME_SAMPLES];
    for (i, s) in pcm.iter_mut().enumerate() {
        *s = (12_000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0).sin()) as i16;
    }
    let mut payload = [0u8; FRAME_SAMPLES];
    Codec::Pcmu.encode(&pcm, &mut payload);
    payload
}

fn common_conference() -> pinbridge_domain::ConferenceId {
    pinbridge_domain::ConferenceId::parse(common::CONFERENCE).unwrap()
}

#[test]
fn srtp_calls_take_only_authentic_packets_and_are_mixed_with_plain_ones() {
    let mut sim = Sim::new(BYPASS);
    // The organiser's call is SRTP, its PIN typed as encrypted telephone-events.
    let a = sim.dial_srtp(Some(A));
    sim.run(Duration::from_millis(400));
    sim.rfc4733_keys(a, &format!("{}#*{}#", common::CONFERENCE, common::PIN));
    sim.until_placed(a);
    assert!(sim.started(), "encrypted keys did not start the meeting");
    let b = sim.dial_srtp(Some(B));
    sim.run(Duration::from_millis(400));
    sim.rfc4733_keys(b, &format!("{}#", common::CONFERENCE));
    sim.until_placed(b);
    let c = sim.caller(Some(C));
    sim.run(Duration::from_secs(6));
    assert_eq!(sim.counts(), (3, 0));
    for (id, own, others) in [(a, A, [B, C]), (b, B, [A, C]), (c, C, [A, B])] {
        for hz in others {
            assert!(sim.hears(id, hz), "{id:?} does not hear {hz} Hz");
        }
        assert!(!sim.hears(id, own), "{id:?} hears itself");
    }
    for id in [a, b] {
        let phone = &sim.phones[&id];
        assert_eq!(phone.srtp_refused, 0, "{id:?} got packets it cannot open");
        assert!(phone.rtcp_packets > 0, "{id:?} got no SRTCP it can open");
    }
    assert!(
        sim.phones[&c].rtcp_packets > 0,
        "the plain call got no RTCP"
    );
    assert_eq!(sim.bridge.take_counters().srtp_packets_refused, 0);

    // Plain RTP from the SRTP caller's own address, and SRTP under another key: neither
    // is heard, both are counted. The caller's real stream goes quiet meanwhile.
    sim.phones.get_mut(&b).unwrap().quiet = true;
    let source = sim.phones[&b].address;
    let mut plain = RtpSender::new(0x1002, 0, 5000, 0);
    let mut forged = pinbridge_media::srtp::CallSrtp::new(pinbridge_media::srtp::CallKeys {
        remote: pinbridge_media::srtp::MasterKey::from_array(&[7; 30]),
        local: pinbridge_media::srtp::MasterKey::from_array(&[9; 30]),
    })
    .unwrap();
    const INJECTED: f64 = 2600.0;
    for i in 0..100 {
        let mut pcm = [0i16; FRAME_SAMPLES];
        for (n, sample) in pcm.iter_mut().enumerate() {
            let t = (i * FRAME_SAMPLES + n) as f64 / 8000.0;
            *sample = (8000.0 * (2.0 * std::f64::consts::PI * INJECTED * t).sin()) as i16;
        }
        let mut payload = [0u8; FRAME_SAMPLES];
        Codec::Pcmu.encode(&pcm, &mut payload);
        let mut buf = [0u8; 256];
        let len = plain
            .write_packet(&payload, FRAME_SAMPLES as u32, &mut buf)
            .unwrap();
        let bytes = if i % 2 == 0 {
            buf[..len].to_vec()
        } else {
            forged.protect_rtp(&buf[..len]).unwrap()
        };
        sim.inject(b, Channel::Rtp, source, &bytes);
        sim.run(Duration::from_millis(20));
    }
    let counters = sim.bridge.take_counters();
    assert_eq!(counters.srtp_packets_refused, 100);
    assert!(!sim.hears(a, B), "the quiet SRTP caller is still heard");
    assert!(
        !sim.hears(a, INJECTED) && !sim.hears(c, INJECTED),
        "the injected packets were played"
    );
    assert!(sim.hears(a, C), "the meeting stopped");
}

#[test]
fn a_replayed_srtp_packet_is_refused() {
    let mut sim = Sim::new(BYPASS);
    let a = sim.dial_srtp(Some(A));
    sim.run(Duration::from_secs(1));
    sim.phones.get_mut(&a).unwrap().quiet = true;
    let source = sim.phones[&a].address;
    // Far ahead of what the phone's own stream has sent under the same key.
    let mut sender = RtpSender::new(0x5005, 0, 20_000, 0);
    let payload = [Codec::Pcmu.silence_code(); FRAME_SAMPLES];
    let mut buf = [0u8; 256];
    let len = sender
        .write_packet(&payload, FRAME_SAMPLES as u32, &mut buf)
        .unwrap();
    // The phone's own context seals the packet; the first copy is taken, the second not.
    let sealed = {
        let phone = sim.phones.get_mut(&a).unwrap();
        phone
            .srtp
            .as_mut()
            .unwrap()
            .protect_rtp(&buf[..len])
            .unwrap()
    };
    let _ = sim.bridge.take_counters();
    sim.inject(a, Channel::Rtp, source, &sealed);
    sim.inject(a, Channel::Rtp, source, &sealed);
    let counters = sim.bridge.take_counters();
    assert_eq!(counters.srtp_packets_refused, 1, "the replay was taken");
    assert_eq!(counters.rtp_packets_received, 1);
}
