//! Acceptance: recorded names. With name recording on, a baresip caller says "Alex
//! Morgan" (the committed `tests/data/name-alex-morgan.wav` as its microphone, switched
//! on when it hears the beep after "say your name"); a SIPp caller already in the
//! meeting hears the name announced, "Alex Morgan has joined" and "... has left" (by
//! correlation with the speech), when the tenant announces names, and the entry and
//! exit tones when it is tone-only. Nothing of the recording is left in `serve`'s data
//! directory after the call: no new audio file, no WAV, none of the audio baresip sent.

use crate::common;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::phone::bridge::{self, Bridge, RTP_PORTS};
use common::phone::*;
use pinbridge_media::RtpPacket;
use pinbridge_media::analysis::{goertzel_power, rms, tone_share};

fn speech() -> Vec<i16> {
    let path = pinbridge_testkit::workspace_root().join("tests/data/name-alex-morgan.wav");
    wav_samples(&std::fs::read(path).expect("the committed name"))
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The audio sent from pinbridge's `port` that was captured from `since` on.
fn after(datagrams: &[Datagram], port: u16, since: f64) -> Vec<i16> {
    let received = received_audio(datagrams, port);
    let skip = received.times.iter().take_while(|&&t| t < since).count();
    let per_packet = received.samples.len() / received.times.len().max(1);
    received.samples[(skip * per_packet).min(received.samples.len())..].to_vec()
}

/// pinbridge's RTP port of the call that is not `known`'s, once it sends.
fn other_call(datagrams: &[Datagram], bridge: &Bridge, known: u16) -> Option<u16> {
    datagrams
        .iter()
        .map(|d| d.src.port())
        .find(|&p| (bridge.rtp_low..=bridge.rtp_high).contains(&p) && p % 2 == 0 && p != known)
}

/// Whether `samples` hold the beep before the recording: 60 ms of 1000 Hz alone.
fn has_beep(samples: &[i16]) -> bool {
    samples
        .windows(480)
        .step_by(160)
        .any(|w| rms(w) > 1000.0 && tone_share(w, 1000.0) > 0.9)
}

/// Whether `samples` hold the two-note tone `first` then `then` (the entry tone is
/// 660 Hz then 880 Hz, the exit tone the reverse).
fn has_tone(samples: &[i16], first: f64, then: f64) -> bool {
    let strong = |w: &[i16], hz: f64| goertzel_power(w, hz) > 9.0e6;
    let windows: Vec<&[i16]> = samples.windows(480).step_by(160).collect();
    let start = windows.iter().position(|w| strong(w, first));
    start.is_some_and(|at| windows[at..].iter().any(|w| strong(w, then)))
}

/// A meeting anyone can start, with name recording on and `announcements` as the
/// announcement type; a SIPp caller in it (silent: its own recording keeps nothing).
fn meeting(announcements: &str) -> (Bridge, String, SippCaller, u16) {
    let bridge = bridge::start_with_tenant(
        &[],
        RTP_PORTS,
        None,
        &[
            "--enable-name-recording",
            "true",
            "--enable-entry-exit-notifications",
            "true",
            "--entry-exit-announcements-type",
            announcements,
        ],
    );
    let conference = bridge.meeting(&["--allow-anonymous-start", "true"]);
    let mut listener = bridge.call("listener", &format!("{conference}#"));
    let port = listener.wait_answered(Duration::from_secs(30)).rtp_port;
    bridge.wait_state(&conference, "the listener joins", |s| s.in_meeting() == 1);
    (bridge, conference, listener, port)
}

/// baresip dials in, types the conference ID, and says the name when it hears the beep.
/// Returns it with pinbridge's RTP port of its call.
fn speaker_joins(
    bridge: &Bridge,
    conference: &str,
    capture: &Capture,
    listener_port: u16,
) -> (Baresip, u16) {
    let mut phone = Baresip::start_with(&BaresipOptions {
        speech: Some(Vec::new()),
        ..BaresipOptions::default()
    });
    phone.dial(&format!("sip:{}@{}", bridge.number, bridge.sip_udp));
    phone.wait_event("CALL_ESTABLISHED", Duration::from_secs(30));
    for key in format!("{conference}#").chars() {
        phone.key(key);
        // A person's pace on the keypad.
        std::thread::sleep(Duration::from_millis(KEY_MS + KEY_GAP_MS));
    }
    let port = Bridge::wait_capture(capture, "the beep after \"say your name\"", |d| {
        let port = other_call(d, bridge, listener_port)?;
        has_beep(&received_audio(d, port).samples).then_some(port)
    });
    // The name, then silence for longer than the call.
    let mut said = speech();
    said.resize(said.len() + 8000 * 120, 0);
    let file = phone.dir.path().join("name.wav");
    std::fs::write(&file, pinbridge_media::Wav::encode(&said)).unwrap();
    phone.command("ausrc", &format!("aufile,{}", file.display()));
    bridge.wait_state(conference, "the speaker joins", |s| s.in_meeting() == 2);
    (phone, port)
}

/// The µ-law payloads of the loud packets baresip sent on the call of pinbridge's
/// `port`: the name as the bridge received and recorded it.
fn sent_name(datagrams: &[Datagram], port: u16) -> Vec<Vec<u8>> {
    datagrams
        .iter()
        .filter(|d| d.dst.port() == port)
        .filter_map(|d| {
            RtpPacket::parse(&d.payload)
                .ok()
                .map(|p| p.payload.to_vec())
        })
        .filter(|payload| {
            let mut pcm = vec![0i16; payload.len()];
            pinbridge_media::Codec::Pcmu.decode(payload, &mut pcm);
            payload.len() == 160 && rms(&pcm) > 1500.0
        })
        .collect()
}

/// Polls `check` every 200 ms until it holds or `limit` passes.
fn wait_until(limit: Duration, check: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn files(bridge: &Bridge) -> BTreeSet<String> {
    bridge
        .store
        .stored_bytes()
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

#[test]
fn the_others_hear_the_recorded_name_and_it_is_never_stored() {
    let (bridge, conference, mut listener, listener_port) = meeting("use-names");
    let before = files(&bridge);
    let dir = common::tempdir();
    let capture = bridge.capture(dir.path());
    let name = speech();
    let (mut phone, speaker_port) = speaker_joins(&bridge, &conference, &capture, listener_port);

    // "Alex Morgan" then "has joined".
    let joined = prompt("joined");
    Bridge::wait_capture(&capture, "the name announced to the listener", |d| {
        let heard = received_audio(d, listener_port).samples;
        (prompt_score(&name, &heard) > 0.8 && prompt_score(&joined, &heard) > 0.8).then_some(())
    });
    let heard = received_audio(&capture.datagrams(), listener_port).samples;
    let said = pinbridge_media::analysis::locate(&name, &heard).unwrap();
    let then = pinbridge_media::analysis::locate(&joined, &heard).unwrap();
    assert!(
        then.offset > said.offset && then.offset < said.offset + name.len() + 1600,
        "\"has joined\" does not follow the name: {said:?} {then:?}"
    );

    let left_at = now();
    phone.hang_up();
    phone.wait_event("CALL_CLOSED", Duration::from_secs(30));
    let left = prompt("left");
    let best = std::cell::Cell::new((0.0f64, 0.0f64, 0usize));
    let found = wait_until(Duration::from_secs(30), || {
        // From half a second before the hang-up: the announcement may follow it within
        // a packet, and the name's correlation needs the silence before it.
        let heard = after(&capture.datagrams(), listener_port, left_at - 0.5);
        let scores = (prompt_score(&name, &heard), prompt_score(&left, &heard));
        let (n, l, _) = best.get();
        best.set((n.max(scores.0), l.max(scores.1), heard.len()));
        scores.0 > 0.8 && scores.1 > 0.8
    });
    assert!(
        found,
        "the leaver's name is not announced: best (name, has left, samples) {:?}",
        best.get()
    );
    phone.stop();
    listener.hang_up();
    assert_eq!(listener.wait_end(Duration::from_secs(30)), Ending::ByCaller);
    bridge.wait_state(&conference, "everyone has left", |s| {
        s.participants.is_empty()
    });
    let datagrams = capture.stop();

    // Nothing of it on disk: no new audio file, no WAV, none of the name's audio.
    let packets = sent_name(&datagrams, speaker_port);
    assert!(
        packets.len() >= 20,
        "only {} loud packets of the name were sent",
        packets.len()
    );
    let needles: Vec<Vec<u8>> = packets
        .iter()
        .step_by(4)
        .flat_map(|payload| {
            let mut pcm = vec![0i16; payload.len()];
            pinbridge_media::Codec::Pcmu.decode(payload, &mut pcm);
            let le: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
            [payload.clone(), le]
        })
        .collect();
    let stored = bridge.store.stored_bytes();
    for (file, bytes) in &stored {
        let new = !before.contains(file);
        assert!(
            !(new
                && [".wav", ".raw", ".pcm", ".ulaw", ".au"]
                    .iter()
                    .any(|ext| file.to_ascii_lowercase().ends_with(ext))),
            "a new audio file after the call: {file}"
        );
        assert!(
            !bytes
                .windows(12)
                .any(|w| &w[..4] == b"RIFF" && &w[8..] == b"WAVE"),
            "{file} holds a WAV"
        );
        for needle in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{file} holds the recorded name's audio"
            );
        }
    }
}

#[test]
fn tone_only_announces_the_caller_by_tone() {
    let (bridge, conference, mut listener, listener_port) = meeting("tone-only");
    let dir = common::tempdir();
    let capture = bridge.capture(dir.path());
    let joined_from = now();
    let (mut phone, _) = speaker_joins(&bridge, &conference, &capture, listener_port);
    Bridge::wait_capture(&capture, "the entry tone", |d| {
        has_tone(&after(d, listener_port, joined_from), 660.0, 880.0).then_some(())
    });
    let left_at = now();
    phone.hang_up();
    phone.wait_event("CALL_CLOSED", Duration::from_secs(30));
    Bridge::wait_capture(&capture, "the exit tone", |d| {
        has_tone(&after(d, listener_port, left_at), 880.0, 660.0).then_some(())
    });
    phone.stop();
    listener.hang_up();
    assert_eq!(listener.wait_end(Duration::from_secs(30)), Ending::ByCaller);
    let heard = received_audio(&capture.stop(), listener_port).samples;
    let score = prompt_score(&speech(), &heard);
    assert!(score < 0.5, "tone-only announced the name ({score:.3})");
    let score = prompt_score(&prompt("joined"), &heard);
    assert!(score < 0.5, "tone-only said \"has joined\" ({score:.3})");
}
