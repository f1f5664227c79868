//! The media path of a room, end to end through RTP bytes and G.711, as the acceptance
//! tests check it with real phones: three callers each send a distinct tone; over five
//! seconds, in every 200 ms window, each receives both other tones and not its own; a
//! keypress (RFC 4733 or in-band) is not heard by the others; the greeting and the hold
//! music a caller receives correlate with the committed assets.

use std::time::{Duration, Instant};

use pinbridge_media::analysis::{goertzel_power, locate, locate_looping, mean_power};
use pinbridge_media::dtmf::TelephoneEvent;
use pinbridge_media::player::{ToneGenerator, ToneSegment};
use pinbridge_media::{
    Clip, Codec, DtmfDigit, FRAME_SAMPLES, Frame, InbandDetector, JitterBuffer, Mixer, MusicOnHold,
    ParticipantId, PlayerState, PromptPlayer, RtpPacket, RtpSender, SILENT_FRAME,
    TelephoneEventReceiver, Wav,
};

const TELEPHONE_EVENT: u8 = 101;

fn asset(path: &str) -> Wav {
    let full = format!("{}/../../assets/{path}", env!("CARGO_MANIFEST_DIR"));
    Wav::decode(&std::fs::read(full).unwrap()).unwrap()
}

/// The bridge's side of one call.
struct CallLeg {
    id: ParticipantId,
    codec: Codec,
    buffer: JitterBuffer,
    events: TelephoneEventReceiver,
    inband: InbandDetector,
    to_phone: RtpSender,
    digits: Vec<DtmfDigit>,
}

/// The phone's side: what it sends and what it decodes from what it receives.
struct Phone {
    codec: Codec,
    sender: RtpSender,
    received: Vec<i16>,
}

impl Phone {
    fn new(codec: Codec, ssrc: u32) -> Phone {
        Phone {
            codec,
            sender: RtpSender::new(ssrc, codec.payload_type(), 1000, 50_000),
            received: Vec::new(),
        }
    }

    fn audio_datagram(&mut self, frame: &Frame) -> Vec<u8> {
        let mut payload = [0u8; FRAME_SAMPLES];
        self.codec.encode(frame, &mut payload);
        let mut buf = [0u8; 200];
        let len = self
            .sender
            .write_packet(&payload, FRAME_SAMPLES as u32, &mut buf)
            .unwrap();
        buf[..len].to_vec()
    }

    fn receive(&mut self, datagram: &[u8]) {
        let packet = RtpPacket::parse(datagram).unwrap();
        let mut pcm = [0i16; FRAME_SAMPLES];
        Codec::from_payload_type(packet.payload_type)
            .unwrap()
            .decode(packet.payload, &mut pcm);
        self.received.extend_from_slice(&pcm);
    }
}

impl CallLeg {
    fn new(mixer: &mut Mixer, codec: Codec, ssrc: u32) -> CallLeg {
        CallLeg {
            id: mixer.add(codec),
            codec,
            buffer: JitterBuffer::default(),
            events: TelephoneEventReceiver::new(),
            inband: InbandDetector::default(),
            to_phone: RtpSender::new(ssrc, codec.payload_type(), 7, 9),
            digits: Vec::new(),
        }
    }

    /// What the driver does with a datagram from this call's phone.
    fn on_datagram(&mut self, datagram: &[u8], now: Instant) {
        let Ok(packet) = RtpPacket::parse(datagram) else {
            return;
        };
        if packet.payload_type == TELEPHONE_EVENT {
            if let Ok(Some(digit)) = self.events.push(&packet, now) {
                self.digits.push(digit);
            }
        } else {
            self.buffer.push(&packet, now);
        }
    }

    /// What the driver does for this call every 20 ms before the room mixes.
    fn frame_for_mixer(&mut self, now: Instant) -> Frame {
        let playout = self.buffer.pop(now);
        if let Some(digit) = self.inband.process(&playout.frame) {
            self.digits.push(digit);
        }
        if self.inband.suppress() {
            SILENT_FRAME
        } else {
            playout.frame
        }
    }
}

#[test]
fn three_callers_hear_each_other_but_not_themselves_nor_keypresses() {
    let base = Instant::now();
    let tones = [500.0f32, 1100.0, 1700.0];
    let codecs = [Codec::Pcmu, Codec::Pcma, Codec::Pcmu];
    let mut mixer = Mixer::default();
    let mut legs: Vec<CallLeg> = codecs
        .iter()
        .enumerate()
        .map(|(i, &c)| CallLeg::new(&mut mixer, c, 100 + i as u32))
        .collect();
    let mut phones: Vec<Phone> = codecs
        .iter()
        .enumerate()
        .map(|(i, &c)| Phone::new(c, 200 + i as u32))
        .collect();
    let tone_pcm: Vec<Vec<i16>> = tones
        .iter()
        .map(|&hz| ToneGenerator::new(vec![ToneSegment::tone(hz, 5000.0, 5200)]).render())
        .collect();
    // Caller 0 presses 5 with RFC 4733 from tick 100 to 110 (audio keeps flowing); caller
    // 1 sends an in-band 9 instead of its tone from tick 150 to 160.
    let inband_nine = ToneGenerator::new(vec![ToneSegment::dtmf(DtmfDigit::D9, 200)]).render();
    let ticks = 260;
    for tick in 0..ticks {
        let now = base + Duration::from_millis(tick as u64 * 20);
        for (i, phone) in phones.iter_mut().enumerate() {
            let frame = if i == 1 && (150..160).contains(&tick) {
                let k = tick - 150;
                inband_nine[k * FRAME_SAMPLES..(k + 1) * FRAME_SAMPLES]
                    .try_into()
                    .unwrap()
            } else {
                tone_pcm[i][tick * FRAME_SAMPLES..(tick + 1) * FRAME_SAMPLES]
                    .try_into()
                    .unwrap()
            };
            let datagram = phone.audio_datagram(&frame);
            legs[i].on_datagram(&datagram, now);
            if i == 0 && (100..110).contains(&tick) {
                let event = TelephoneEvent {
                    event: DtmfDigit::D5.event_code(),
                    end: tick == 109,
                    volume: 10,
                    duration: ((tick - 99) * 160) as u16,
                };
                let payload = event.to_bytes();
                let mut packet =
                    RtpPacket::new(TELEPHONE_EVENT, 5000 + tick as u16, 777_000, 200, &payload);
                packet.marker = tick == 100;
                legs[0].on_datagram(&packet.to_vec().unwrap(), now);
            }
        }
        for leg in legs.iter_mut() {
            let frame = leg.frame_for_mixer(now);
            mixer.set_input(leg.id, &frame);
        }
        mixer.mix();
        for (leg, phone) in legs.iter_mut().zip(phones.iter_mut()) {
            let output = mixer.output(leg.id).unwrap();
            let mut buf = [0u8; 200];
            let len = leg
                .to_phone
                .write_packet(output.payload(), FRAME_SAMPLES as u32, &mut buf)
                .unwrap();
            phone.receive(&buf[..len]);
            assert_eq!(leg.codec, phone.codec);
        }
    }
    assert_eq!(legs[0].digits, vec![DtmfDigit::D5]);
    assert_eq!(legs[1].digits, vec![DtmfDigit::D9]);
    assert!(legs[2].digits.is_empty());

    // Skip the jitter buffer's start-up, then check 5 s in 200 ms windows.
    let window = 1600;
    let tone_level = 5000.0f64 * 5000.0 / 2.0;
    let (row, column) = DtmfDigit::D9.frequencies();
    for (i, phone) in phones.iter().enumerate() {
        for w in 0..25 {
            let start = 8 * FRAME_SAMPLES + w * window;
            let stretch = &phone.received[start..start + window];
            let first_tick = start / FRAME_SAMPLES;
            for (j, &hz) in tones.iter().enumerate() {
                let power = goertzel_power(stretch, hz as f64);
                // The jitter buffer delays by three frames: caller 1's tone is replaced by
                // the keypress (and suppressed) for ticks 150–160 of its own stream.
                let silenced =
                    j == 1 && (150 + 3..160 + 3).any(|t| t >= first_tick && t < first_tick + 10);
                if i == j {
                    assert!(
                        power < tone_level * 1e-3,
                        "caller {i} hears itself in window {w}"
                    );
                } else if !silenced {
                    assert!(
                        power > tone_level * 0.5,
                        "caller {i} misses caller {j} in window {w}: {power}"
                    );
                }
            }
            // Nobody hears the in-band keypress.
            let dtmf = goertzel_power(stretch, row as f64) + goertzel_power(stretch, column as f64);
            assert!(
                dtmf < tone_level * 1e-2,
                "caller {i} hears the keypress in window {w}: {dtmf}"
            );
        }
    }
}

#[test]
fn the_greeting_and_the_hold_music_reach_the_caller() {
    let welcome = asset("prompts/en-US/welcome.wav").into_clip();
    let music = asset("music/hold.wav").into_clip();
    let mut player = PromptPlayer::new();
    let mut hold = MusicOnHold::new(music.clone());
    // Two lobby callers, one per codec, after one caller hears the greeting.
    let mut greeted = Phone::new(Codec::Pcma, 1);
    let mut lobby = [Phone::new(Codec::Pcmu, 2), Phone::new(Codec::Pcma, 3)];
    let mut to_phone = RtpSender::new(9, Codec::Pcma.payload_type(), 0, 0);
    let mut buf = [0u8; 200];
    // A little silence first, as a call's media starts before the prompt.
    player.play(Clip::new(vec![0; 1234]));
    player.enqueue(welcome.clone());
    let mut frame = SILENT_FRAME;
    while player.next_frame(&mut frame) == PlayerState::Playing {
        let mut payload = [0u8; FRAME_SAMPLES];
        Codec::Pcma.encode(&frame, &mut payload);
        let len = to_phone
            .write_packet(&payload, FRAME_SAMPLES as u32, &mut buf)
            .unwrap();
        greeted.receive(&buf[..len]);
    }
    let found = locate(welcome.samples(), &greeted.received).unwrap();
    assert_eq!(found.offset, 1234);
    assert!(found.score > 0.99, "{found:?}");

    // Three seconds of hold music, one shared payload per codec per tick.
    let mut senders = [RtpSender::new(20, 0, 0, 0), RtpSender::new(21, 8, 0, 0)];
    for _ in 0..150 {
        hold.tick();
        for (phone, sender) in lobby.iter_mut().zip(senders.iter_mut()) {
            let len = sender
                .write_packet(hold.payload(phone.codec), FRAME_SAMPLES as u32, &mut buf)
                .unwrap();
            phone.receive(&buf[..len]);
        }
    }
    for phone in &lobby {
        assert!(mean_power(&phone.received) > 1000.0);
        // Any two seconds of what the caller heard sit in the music asset.
        let heard = &phone.received[4000..20_000];
        let found = locate_looping(heard, music.samples()).unwrap();
        assert_eq!(found.offset, 4000);
        assert!(found.score > 0.99, "{found:?}");
        // The greeting is not the hold music.
        let not_music = locate(welcome.samples(), &phone.received).unwrap();
        assert!(not_music.score < 0.5, "{not_music:?}");
    }
}
