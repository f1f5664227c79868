//! Cost of one 20 ms room tick through the media path, reported per participant:
//! RTP parse, jitter buffer push and pop (G.711 decode), mixer (activity detection, one
//! sum, sum minus own for talkers, limiter, G.711 encode of the shared and own payloads)
//! and the RTP header write for every listener; with in-band key detection (callers
//! that negotiated no telephone-event), the DTMF detector on every frame as well.
//!
//! Divide a figure by 20 ms to get the share of one core per participant:
//! 8 µs per participant per frame is 0.04 %.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pinbridge_media::player::{ToneGenerator, ToneSegment};
use pinbridge_media::{
    Codec, FRAME_SAMPLES, InbandDetector, JitterBuffer, Mixer, MixerConfig, ParticipantId,
    RtpPacket, RtpSender,
};

/// One caller: its incoming datagrams (pre-encoded), its jitter buffer and its sender.
struct Caller {
    id: ParticipantId,
    codec: Codec,
    datagrams: Vec<Vec<u8>>,
    buffer: JitterBuffer,
    sender: RtpSender,
    /// In-band key detection, as for a caller without telephone-event.
    inband: Option<InbandDetector>,
}

struct Room {
    mixer: Mixer,
    callers: Vec<Caller>,
    tick: usize,
    now: Instant,
    out: [u8; 1500],
}

const TICKS: usize = 50;

fn room(size: usize, talkers: usize, max_talkers: usize, inband: bool) -> Room {
    let mut mixer = Mixer::new(MixerConfig {
        capacity: size,
        max_talkers,
        ..MixerConfig::default()
    });
    let silence = vec![0i16; TICKS * FRAME_SAMPLES];
    let callers = (0..size)
        .map(|i| {
            let codec = if i % 2 == 0 { Codec::Pcmu } else { Codec::Pcma };
            let id = mixer.add(codec);
            let pcm = if i < talkers {
                let hz = 300.0 + 37.0 * i as f32;
                ToneGenerator::new(vec![ToneSegment::tone(hz, 3000.0, (TICKS * 20) as u32)])
                    .render()
            } else {
                silence.clone()
            };
            let datagrams = pcm
                .chunks_exact(FRAME_SAMPLES)
                .enumerate()
                .map(|(k, frame)| {
                    let mut payload = [0u8; FRAME_SAMPLES];
                    codec.encode(frame, &mut payload);
                    RtpPacket::new(
                        codec.payload_type(),
                        k as u16,
                        (k * FRAME_SAMPLES) as u32,
                        i as u32,
                        &payload,
                    )
                    .to_vec()
                    .unwrap()
                })
                .collect();
            Caller {
                id,
                codec,
                datagrams,
                buffer: JitterBuffer::default(),
                sender: RtpSender::new(0x5000 + i as u32, codec.payload_type(), 0, 0),
                inband: inband.then(|| InbandDetector::new(Default::default())),
            }
        })
        .collect();
    Room {
        mixer,
        callers,
        tick: 0,
        now: Instant::now(),
        out: [0; 1500],
    }
}

impl Room {
    /// One 20 ms tick: every caller's packet in, one mix, every caller's packet out.
    fn tick(&mut self) {
        let k = self.tick % TICKS;
        self.now += Duration::from_millis(20);
        for caller in &mut self.callers {
            let datagram = &caller.datagrams[k];
            if let Ok(packet) = RtpPacket::parse(datagram) {
                caller.buffer.push(&packet, self.now);
            }
            let mut playout = caller.buffer.pop(self.now);
            if let Some(detector) = caller.inband.as_mut() {
                black_box(detector.process(&playout.frame));
                if detector.suppress() {
                    playout.frame = [0; FRAME_SAMPLES];
                }
            }
            self.mixer.set_input(caller.id, &playout.frame);
        }
        self.mixer.mix();
        for caller in &mut self.callers {
            if let Some(output) = self.mixer.output(caller.id) {
                let len = caller
                    .sender
                    .write_packet(output.payload(), FRAME_SAMPLES as u32, &mut self.out)
                    .unwrap();
                black_box(&self.out[..len]);
            }
            black_box(caller.codec);
        }
        self.tick += 1;
        if self.tick.is_multiple_of(TICKS) {
            // The recorded streams restart at timestamp 0: begin afresh, as after a pause.
            self.now += Duration::from_secs(2);
        }
    }
}

fn bench_rooms(c: &mut Criterion) {
    let mut group = c.benchmark_group("room tick per participant");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);
    let cases = [
        ("5 all talking", 5, 5, 8, false),
        ("5 with 3 talking", 5, 3, 8, false),
        ("200 all talking, 8 mixed", 200, 200, 8, false),
        ("200 all talking, all mixed", 200, 200, 200, false),
        ("200 with 3 talking", 200, 3, 8, false),
        ("5 all talking, in-band keys detected", 5, 5, 8, true),
        (
            "200 all talking, 8 mixed, in-band keys detected",
            200,
            200,
            8,
            true,
        ),
        ("200 with 3 talking, in-band keys detected", 200, 3, 8, true),
    ];
    for (name, size, talkers, max_talkers, inband) in cases {
        let mut room = room(size, talkers, max_talkers, inband);
        // Prime the jitter buffers so the measured ticks mix real audio.
        for _ in 0..5 {
            room.tick();
        }
        // Throughput counts participants, so criterion also reports time per participant.
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| room.tick())
        });
    }
    group.finish();
}

/// µ-law by bit manipulation (leading-zero count instead of a table), to compare with
/// the 16 KiB table the crate uses. Exact against the table for every sample.
fn ulaw_encode_bits(sample: i16) -> u8 {
    let s = sample as i32;
    let (magnitude, sign) = if s < 0 {
        ((!s) >> 2, 0x00)
    } else {
        (s >> 2, 0x80)
    };
    let magnitude = (magnitude + 33).min(0x1FFF);
    let segment = 1 + (32 - ((magnitude >> 6) as u32).leading_zeros()) as i32;
    let high = 8 - segment;
    let low = 0x0F - ((magnitude >> segment) & 0x0F);
    (((high << 4) | low) | sign) as u8
}

fn bench_codec(c: &mut Criterion) {
    for sample in i16::MIN..=i16::MAX {
        assert_eq!(ulaw_encode_bits(sample), Codec::Pcmu.encode_sample(sample));
    }
    let mut group = c.benchmark_group("g711 per 20 ms frame");
    let pcm = ToneGenerator::new(vec![ToneSegment::tone(1000.0, 8000.0, 20)]).render();
    let mut payload = [0u8; FRAME_SAMPLES];
    let mut decoded = [0i16; FRAME_SAMPLES];
    group.bench_function("Pcmu encode, bit method", |b| {
        b.iter(|| {
            for (code, &sample) in payload.iter_mut().zip(black_box(&pcm).iter()) {
                *code = ulaw_encode_bits(sample);
            }
        })
    });
    for codec in Codec::ALL {
        group.bench_function(format!("{codec:?} encode"), |b| {
            b.iter(|| codec.encode(black_box(&pcm), &mut payload))
        });
        group.bench_function(format!("{codec:?} decode"), |b| {
            b.iter(|| codec.decode(black_box(&payload), &mut decoded))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_rooms, bench_codec);
criterion_main!(benches);
