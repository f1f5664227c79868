//! The receive-side jitter buffer: RTP packets in (any order, any packet time), one
//! 20 ms frame out per tick.
//!
//! Code words are kept on arrival in a ring indexed by RTP timestamp, with a presence
//! bit per sample, so reordering, duplicates and packet times other than 20 ms need no
//! special cases; they are decoded when played. A change of codec starts afresh. The
//! playout point trails the newest timestamp by the target delay.
//! When the buffer runs dry the playout point waits (the delay grows by what the network
//! took), and once a second it drops a frame if the delay stayed above target for that
//! whole second, so the delay settles back. A new SSRC, a timestamp jump beyond the
//! ring (about a second), a step back of more than half of it, a pause in arrivals
//! longer than the idle time, or a packet that follows the last one in sequence but
//! whose samples are all before the playout point (the sender's clock stepped back)
//! resynchronises, as does [`JitterBuffer::restart`] when the sequence numbers say the
//! source restarted (RFC 3550 A.1); a smaller jump forward is caught by the maximum
//! delay, which skips the playout point ahead. So a jump never stalls the stream nor
//! turns every later packet into a late one.
//! Memory is fixed at construction: 9 KiB per buffer (a byte and a bit per sample), so
//! thousands of calls' buffers stay small in the cache.

use std::time::{Duration, Instant};

use crate::g711::Codec;
use crate::rtp::RtpPacket;
use crate::{FRAME_SAMPLES, Frame, SAMPLE_RATE, SILENT_FRAME};

/// Samples the ring holds: 1.024 s at 8 kHz.
const RING: usize = 8192;
const MASK: u32 = RING as u32 - 1;
// The presence bits are whole words, and no word spans the ring's end.
const _: () = assert!(RING.is_multiple_of(64) && RING.is_power_of_two());
/// The largest packet accepted, in samples (256 ms).
const MAX_PACKET: usize = RING / 4;
/// Ticks over which the lowest buffer level is watched before shrinking the delay.
const SHRINK_WINDOW: u32 = 50;

/// Settings of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// The delay the buffer aims for between the newest packet and the playout point.
    pub target_delay: Duration,
    /// The delay above which the buffer skips ahead at once (at most 500 ms).
    pub max_delay: Duration,
    /// A pause in arrivals after which the stream starts afresh.
    pub idle_reset: Duration,
}

impl Default for JitterConfig {
    fn default() -> JitterConfig {
        JitterConfig {
            target_delay: Duration::from_millis(60),
            max_delay: Duration::from_millis(200),
            idle_reset: Duration::from_millis(1000),
        }
    }
}

/// What a pushed packet did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// The packet's samples were stored.
    Stored,
    /// The packet started a new stream: new SSRC, timestamp jump or end of a pause.
    Resynchronised,
    /// Every sample of the packet was already stored.
    Duplicate,
    /// The packet came after its samples were played.
    Late,
    /// The payload type is not G.711 (telephone events belong to the DTMF receiver).
    UnsupportedPayload,
    /// The payload is empty or longer than the buffer accepts.
    BadLength,
}

/// What a popped frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayoutKind {
    /// Received audio, every sample present.
    Audio,
    /// Received audio with gaps filled with silence.
    Partial,
    /// Nothing arrived for this frame: a loss or an underrun, concealed.
    Concealed,
    /// No stream is active (nothing received yet, or the sender went quiet).
    Idle,
}

/// One 20 ms frame out of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Playout {
    /// The samples.
    pub frame: Frame,
    /// Where they came from.
    pub kind: PlayoutKind,
}

/// Counters of what the buffer has seen, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JitterCounters {
    /// Packets stored.
    pub stored: u64,
    /// Packets that were duplicates.
    pub duplicates: u64,
    /// Packets that arrived too late to play.
    pub late: u64,
    /// Frames concealed because nothing arrived for them.
    pub concealed: u64,
    /// Frames dropped to bring the delay back down.
    pub dropped: u64,
    /// Times the stream was resynchronised.
    pub resyncs: u64,
}

#[derive(Debug, Clone, Copy)]
struct Stream {
    ssrc: u32,
    /// The codec of the code words in the ring.
    codec: Codec,
    /// The timestamp of the next sample to play.
    cursor: u32,
    /// One past the newest timestamp received.
    newest_end: u32,
    /// The sequence number of the last packet pushed.
    last_sequence: u16,
    last_arrival: Instant,
    lowest_level: i32,
    ticks_in_window: u32,
    concealing: bool,
}

/// A jitter buffer for one incoming G.711 stream; see the module documentation.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    config: JitterConfig,
    target: i32,
    max: i32,
    /// Code words by timestamp.
    ring: Box<[u8]>,
    /// One bit per ring slot: whether it holds a code word not played yet.
    present: Box<[u64]>,
    stream: Option<Stream>,
    last_frame: Frame,
    counters: JitterCounters,
}

fn samples_of(duration: Duration) -> i32 {
    (duration.as_micros() * SAMPLE_RATE as u128 / 1_000_000).min(i32::MAX as u128) as i32
}

impl JitterBuffer {
    /// A buffer with the given settings.
    pub fn new(config: JitterConfig) -> JitterBuffer {
        let max = samples_of(config.max_delay).clamp(2 * FRAME_SAMPLES as i32, (RING / 2) as i32);
        let target = samples_of(config.target_delay).clamp(0, max - FRAME_SAMPLES as i32);
        JitterBuffer {
            config,
            target,
            max,
            ring: vec![0; RING].into_boxed_slice(),
            present: vec![0; RING / 64].into_boxed_slice(),
            stream: None,
            last_frame: SILENT_FRAME,
            counters: JitterCounters::default(),
        }
    }

    /// What the buffer has seen so far.
    pub fn counters(&self) -> JitterCounters {
        self.counters
    }

    /// The current delay between the newest sample received and the playout point.
    pub fn delay(&self) -> Duration {
        self.stream.map_or(Duration::ZERO, |s| {
            let level = s.newest_end.wrapping_sub(s.cursor) as i32;
            Duration::from_micros(level.max(0) as u64 * 1_000_000 / SAMPLE_RATE as u64)
        })
    }

    /// Forgets the stream: the next packet starts it afresh (counted as a
    /// resynchronisation). For a source whose sequence numbers restarted, whose
    /// timestamps may have jumped anywhere with them.
    pub fn restart(&mut self) {
        self.stream = None;
    }

    fn resynchronise(&mut self, packet: &RtpPacket<'_>, codec: Codec, now: Instant) {
        self.present.fill(0);
        self.stream = Some(Stream {
            ssrc: packet.ssrc,
            codec,
            cursor: packet.timestamp.wrapping_sub(self.target as u32),
            newest_end: packet.timestamp,
            last_sequence: packet.sequence_number.wrapping_sub(1),
            last_arrival: now,
            lowest_level: i32::MAX,
            ticks_in_window: 0,
            concealing: false,
        });
        self.counters.resyncs += 1;
    }

    /// Stores one RTP packet that arrived at `now`.
    pub fn push(&mut self, packet: &RtpPacket<'_>, now: Instant) -> PushOutcome {
        let Some(codec) = Codec::from_payload_type(packet.payload_type) else {
            return PushOutcome::UnsupportedPayload;
        };
        let len = packet.payload.len();
        if len == 0 || len > MAX_PACKET {
            return PushOutcome::BadLength;
        }
        let mut outcome = PushOutcome::Stored;
        let needs_resync = match self.stream {
            None => true,
            Some(stream) => {
                // Widened so that adding the length cannot overflow, whatever the timestamp.
                let offset = packet.timestamp.wrapping_sub(stream.cursor) as i32 as i64;
                let in_sequence = packet.sequence_number == stream.last_sequence.wrapping_add(1);
                stream.ssrc != packet.ssrc
                    || stream.codec != codec
                    || now.saturating_duration_since(stream.last_arrival) >= self.config.idle_reset
                    || offset + len as i64 > RING as i64
                    || offset < -(RING as i64 / 2)
                    || (in_sequence && offset + len as i64 <= 0)
            }
        };
        if needs_resync {
            self.resynchronise(packet, codec, now);
            outcome = PushOutcome::Resynchronised;
        }
        let Some(stream) = self.stream.as_mut() else {
            return PushOutcome::BadLength;
        };
        stream.last_arrival = now;
        stream.last_sequence = packet.sequence_number;
        let offset = packet.timestamp.wrapping_sub(stream.cursor) as i32 as i64;
        if offset + len as i64 <= 0 {
            self.counters.late += 1;
            return PushOutcome::Late;
        }
        // Samples before the playout point are too late; the rest go into the ring, in
        // at most two runs (the second after the ring wraps).
        let skip = (-offset).max(0) as usize;
        let codes = &packet.payload[skip..];
        let first = packet.timestamp.wrapping_add(skip as u32);
        let mut new_samples = 0;
        for run in Runs::new(first, codes.len()) {
            let word = &mut self.present[run.word];
            let empty = run.mask & !*word;
            let from = &codes[run.offset..run.offset + run.len];
            let to = &mut self.ring[run.index..run.index + run.len];
            if empty == run.mask {
                to.copy_from_slice(from);
            } else {
                // A sample already present (a duplicate) keeps its first value.
                for (j, (slot, &code)) in to.iter_mut().zip(from).enumerate() {
                    if empty & (1 << (run.bit + j)) != 0 {
                        *slot = code;
                    }
                }
            }
            *word |= run.mask;
            new_samples += empty.count_ones();
        }
        let end = packet.timestamp.wrapping_add(len as u32);
        if end.wrapping_sub(stream.newest_end) as i32 > 0 {
            stream.newest_end = end;
        }
        if new_samples == 0 {
            self.counters.duplicates += 1;
            return PushOutcome::Duplicate;
        }
        self.counters.stored += 1;
        outcome
    }

    /// Takes the next 20 ms frame to play at `now`.
    pub fn pop(&mut self, now: Instant) -> Playout {
        let idle = Playout {
            frame: SILENT_FRAME,
            kind: PlayoutKind::Idle,
        };
        let Some(mut stream) = self.stream else {
            return idle;
        };
        if now.saturating_duration_since(stream.last_arrival) >= self.config.idle_reset {
            self.stream = None;
            return idle;
        }
        let frame_len = FRAME_SAMPLES as i32;
        let mut level = stream.newest_end.wrapping_sub(stream.cursor) as i32;
        if level > self.max {
            let skip = level - self.target;
            self.discard(stream.cursor, skip);
            stream.cursor = stream.cursor.wrapping_add(skip as u32);
            self.counters.dropped += (skip / frame_len).max(1) as u64;
            level = self.target;
        }
        // Shrink the delay by one frame when it stayed above target for a whole window.
        stream.lowest_level = stream.lowest_level.min(level);
        stream.ticks_in_window += 1;
        if stream.ticks_in_window >= SHRINK_WINDOW {
            if stream.lowest_level > self.target + frame_len && level > frame_len {
                self.discard(stream.cursor, frame_len);
                stream.cursor = stream.cursor.wrapping_add(FRAME_SAMPLES as u32);
                self.counters.dropped += 1;
                level -= frame_len;
            }
            stream.lowest_level = i32::MAX;
            stream.ticks_in_window = 0;
        }
        if level <= 0 {
            // Underrun: nothing at or after the playout point. Wait for the network.
            self.counters.concealed += 1;
            let frame = self.conceal(&mut stream);
            self.stream = Some(stream);
            return Playout {
                frame,
                kind: PlayoutKind::Concealed,
            };
        }
        // The frame is at most two runs of the ring (the second after it wraps); a
        // missing sample plays as silence.
        // A missing sample plays as silence.
        let table = stream.codec.decode_table();
        let mut frame = SILENT_FRAME;
        let mut found = 0;
        for run in Runs::new(stream.cursor, FRAME_SAMPLES) {
            let word = &mut self.present[run.word];
            let have = *word & run.mask;
            let codes = &self.ring[run.index..run.index + run.len];
            let out = &mut frame[run.offset..run.offset + run.len];
            if have == run.mask {
                for (sample, &code) in out.iter_mut().zip(codes) {
                    *sample = table[code as usize];
                }
            } else if have != 0 {
                for (j, (sample, &code)) in out.iter_mut().zip(codes).enumerate() {
                    if have & (1 << (run.bit + j)) != 0 {
                        *sample = table[code as usize];
                    }
                }
            }
            *word &= !run.mask;
            found += have.count_ones() as usize;
        }
        stream.cursor = stream.cursor.wrapping_add(FRAME_SAMPLES as u32);
        let playout = if found == 0 {
            self.counters.concealed += 1;
            let frame = self.conceal(&mut stream);
            Playout {
                frame,
                kind: PlayoutKind::Concealed,
            }
        } else {
            stream.concealing = false;
            self.last_frame = frame;
            let kind = if found == FRAME_SAMPLES {
                PlayoutKind::Audio
            } else {
                PlayoutKind::Partial
            };
            Playout { frame, kind }
        };
        self.stream = Some(stream);
        playout
    }

    /// The first lost frame repeats the last good one at half level; later ones are silence.
    fn conceal(&mut self, stream: &mut Stream) -> Frame {
        if stream.concealing {
            return SILENT_FRAME;
        }
        stream.concealing = true;
        let mut frame = self.last_frame;
        for sample in frame.iter_mut() {
            *sample /= 2;
        }
        self.last_frame = SILENT_FRAME;
        frame
    }

    fn discard(&mut self, from: u32, count: i32) {
        for run in Runs::new(from, count.clamp(0, RING as i32) as usize) {
            self.present[run.word] &= !run.mask;
        }
    }
}

/// A stretch of ring slots inside one word of the presence bits.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// The first ring slot.
    index: usize,
    /// How many slots.
    len: usize,
    /// Slots of the whole stretch before this run.
    offset: usize,
    /// The word of presence bits, and the bit of the first slot in it.
    word: usize,
    bit: usize,
    /// The run's bits in that word.
    mask: u64,
}

/// The runs covering `count` ring slots from the one of `timestamp`, in order.
struct Runs {
    index: usize,
    offset: usize,
    count: usize,
}

impl Runs {
    fn new(timestamp: u32, count: usize) -> Runs {
        Runs {
            index: (timestamp & MASK) as usize,
            offset: 0,
            count,
        }
    }
}

impl Iterator for Runs {
    type Item = Run;

    fn next(&mut self) -> Option<Run> {
        if self.offset >= self.count {
            return None;
        }
        let bit = self.index % 64;
        let len = (64 - bit).min(self.count - self.offset);
        let mask = if len == 64 {
            u64::MAX
        } else {
            ((1u64 << len) - 1) << bit
        };
        let run = Run {
            index: self.index,
            len,
            offset: self.offset,
            word: self.index / 64,
            bit,
            mask,
        };
        self.offset += len;
        // A word never spans the ring's end (RING is a multiple of 64).
        self.index = (self.index + len) % RING;
        Some(run)
    }
}

impl Default for JitterBuffer {
    fn default() -> JitterBuffer {
        JitterBuffer::new(JitterConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSRC: u32 = 0xA1B2;

    /// Frame `k` of the test stream: every byte is the same µ-law code, distinct per frame.
    fn code_for(k: u32) -> u8 {
        (0x80 + (k % 100)) as u8
    }

    fn value_for(k: u32) -> i16 {
        Codec::Pcmu.decode_sample(code_for(k))
    }

    struct Harness {
        base: Instant,
        buffer: JitterBuffer,
        seq0: u16,
        ts0: u32,
    }

    impl Harness {
        fn new(seq0: u16, ts0: u32) -> Harness {
            Harness {
                base: Instant::now(),
                buffer: JitterBuffer::default(),
                seq0,
                ts0,
            }
        }

        fn at(&self, ms: u64) -> Instant {
            self.base + Duration::from_millis(ms)
        }

        fn push_frame(&mut self, k: u32, at_ms: u64) -> PushOutcome {
            self.push_with(k, at_ms, SSRC, self.ts0)
        }

        fn push_with(&mut self, k: u32, at_ms: u64, ssrc: u32, ts0: u32) -> PushOutcome {
            let payload = [code_for(k); FRAME_SAMPLES];
            let packet = RtpPacket::new(
                0,
                self.seq0.wrapping_add(k as u16),
                ts0.wrapping_add(k * FRAME_SAMPLES as u32),
                ssrc,
                &payload,
            );
            let now = self.at(at_ms);
            self.buffer.push(&packet, now)
        }

        fn pop(&mut self, at_ms: u64) -> Playout {
            let now = self.at(at_ms);
            self.buffer.pop(now)
        }
    }

    /// The frame numbers heard, `None` for concealment or idle, popping every 20 ms.
    fn heard(playouts: &[Playout]) -> Vec<Option<u32>> {
        playouts
            .iter()
            .map(|p| match p.kind {
                PlayoutKind::Audio => (0..100).find(|&k| p.frame == [value_for(k); FRAME_SAMPLES]),
                _ => None,
            })
            .collect()
    }

    /// Pushes frames in `order` (frame k arrives at tick position i), popping once per tick.
    fn run(harness: &mut Harness, order: &[Option<u32>], ticks: usize) -> Vec<Playout> {
        let mut out = Vec::new();
        for tick in 0..ticks {
            if let Some(Some(k)) = order.get(tick) {
                harness.push_frame(*k, tick as u64 * 20);
            }
            out.push(harness.pop(tick as u64 * 20 + 10));
        }
        out
    }

    fn in_order(n: u32) -> Vec<Option<u32>> {
        (0..n).map(Some).collect()
    }

    #[test]
    fn plays_an_in_order_stream_after_the_target_delay() {
        let mut harness = Harness::new(100, 5000);
        let out = run(&mut harness, &in_order(10), 13);
        let expected: Vec<Option<u32>> =
            [None, None, None].into_iter().chain(in_order(10)).collect();
        assert_eq!(heard(&out), expected);
        assert_eq!(out[0].kind, PlayoutKind::Concealed);
        assert_eq!(harness.buffer.counters().stored, 10);
    }

    #[test]
    fn restores_order_of_reordered_packets() {
        let mut harness = Harness::new(0, 0);
        let order = [
            Some(0),
            Some(2),
            Some(1),
            Some(3),
            Some(5),
            Some(4),
            Some(6),
            Some(7),
        ];
        let out = run(&mut harness, &order, 11);
        assert_eq!(heard(&out)[3..], in_order(8)[..]);
    }

    #[test]
    fn duplicates_are_played_once() {
        let mut harness = Harness::new(0, 0);
        for k in 0..6 {
            assert_ne!(harness.push_frame(k, k as u64 * 20), PushOutcome::Duplicate);
            assert_eq!(
                harness.push_frame(k, k as u64 * 20 + 1),
                PushOutcome::Duplicate
            );
        }
        let out: Vec<Playout> = (0..9).map(|i| harness.pop(120 + i * 20)).collect();
        assert_eq!(heard(&out)[3..], in_order(6)[..]);
        assert_eq!(harness.buffer.counters().duplicates, 6);
    }

    #[test]
    fn a_lost_packet_is_concealed_and_the_rest_plays_on_time() {
        let mut harness = Harness::new(0, 0);
        let mut order = in_order(8);
        order[4] = None;
        let out = run(&mut harness, &order, 11);
        let mut expected = in_order(8);
        expected[4] = None;
        assert_eq!(heard(&out)[3..], expected[..]);
        assert_eq!(out[7].kind, PlayoutKind::Concealed);
        // The first concealed frame repeats the previous one at half level.
        assert_eq!(out[7].frame[0], value_for(3) / 2);
    }

    #[test]
    fn sequence_and_timestamp_wrap_around() {
        let mut harness = Harness::new(65530, u32::MAX - 3 * FRAME_SAMPLES as u32);
        let out = run(&mut harness, &in_order(10), 13);
        assert_eq!(heard(&out)[3..], in_order(10)[..]);
    }

    #[test]
    fn late_packets_are_dropped() {
        let mut harness = Harness::new(0, 0);
        let mut order = in_order(8);
        order[2] = None;
        let mut out = run(&mut harness, &order, 7);
        // Frame 2 played (concealed) at tick 5; it arrives at tick 7.
        assert_eq!(harness.push_frame(2, 140), PushOutcome::Late);
        harness.push_frame(7, 140);
        out.extend((7..11).map(|t| harness.pop(t * 20 + 10)));
        let mut expected = in_order(8);
        expected[2] = None;
        assert_eq!(heard(&out)[3..], expected[..]);
        assert_eq!(harness.buffer.counters().late, 1);
    }

    #[test]
    fn an_underrun_waits_for_the_late_packets_instead_of_dropping_them() {
        let mut harness = Harness::new(0, 0);
        let mut out = run(&mut harness, &in_order(4), 6);
        // A 100 ms delay spike: frames 4 to 8 arrive together.
        for tick in 6..11 {
            out.push(harness.pop(tick * 20 + 10));
        }
        for k in 4..9 {
            harness.push_frame(k, 215);
        }
        for tick in 11..20 {
            out.push(harness.pop(tick * 20 + 10));
        }
        let got: Vec<u32> = heard(&out).into_iter().flatten().collect();
        assert_eq!(got, (0..9).collect::<Vec<u32>>());
    }

    #[test]
    fn ssrc_change_and_timestamp_jump_resynchronise() {
        let mut harness = Harness::new(0, 0);
        run(&mut harness, &in_order(5), 8);
        assert_eq!(
            harness.push_with(20, 160, 0xBEEF, 0),
            PushOutcome::Resynchronised
        );
        assert_eq!(harness.push_with(21, 180, 0xBEEF, 0), PushOutcome::Stored);
        let out: Vec<Playout> = (0..5).map(|i| harness.pop(190 + i * 20)).collect();
        assert_eq!(heard(&out), vec![None, None, None, Some(20), Some(21)]);
        // A jump of ten seconds in the same stream.
        assert_eq!(
            harness.push_with(30, 300, 0xBEEF, 80_000),
            PushOutcome::Resynchronised
        );
        let out: Vec<Playout> = (0..4).map(|i| harness.pop(310 + i * 20)).collect();
        assert_eq!(heard(&out), vec![None, None, None, Some(30)]);
        assert_eq!(harness.buffer.counters().resyncs, 3);
    }

    #[test]
    fn a_clock_stepping_back_with_the_sequence_going_on_resynchronises_at_once() {
        let mut harness = Harness::new(0, 0);
        let mut out = run(&mut harness, &in_order(10), 10);
        // From frame 10 on the timestamps are 300 ms earlier; the sequence goes on.
        let back = 0u32.wrapping_sub(2_400);
        for tick in 10..20u32 {
            let at = tick as u64 * 20;
            let outcome = harness.push_with(tick, at, SSRC, back);
            let expected = if tick == 10 {
                PushOutcome::Resynchronised
            } else {
                PushOutcome::Stored
            };
            assert_eq!(outcome, expected, "frame {tick}");
            out.push(harness.pop(at + 10));
        }
        assert_eq!(harness.buffer.counters().late, 0);
        // The frames still buffered (the target delay's worth, 7 to 9) go with the old
        // clock; the new one plays after the target delay.
        let got: Vec<u32> = heard(&out).into_iter().flatten().collect();
        assert_eq!(
            got,
            [(0..7).collect::<Vec<u32>>(), (10..17).collect()].concat()
        );
    }

    #[test]
    fn a_restart_takes_the_next_packet_as_a_new_start() {
        let mut harness = Harness::new(0, 0);
        run(&mut harness, &in_order(10), 10);
        // A packet numbered far off and timed 200 ms back would be late...
        let back = 0u32.wrapping_sub(1_600);
        harness.seq0 = 40_000;
        assert_eq!(harness.push_with(10, 200, SSRC, back), PushOutcome::Late);
        // ...but once the sequence numbers say the source restarted, it starts afresh.
        harness.buffer.restart();
        assert_eq!(
            harness.push_with(11, 220, SSRC, back),
            PushOutcome::Resynchronised
        );
        assert_eq!(harness.push_with(12, 240, SSRC, back), PushOutcome::Stored);
        let out: Vec<Playout> = (0..5).map(|i| harness.pop(230 + i * 20)).collect();
        assert_eq!(heard(&out), vec![None, None, None, Some(11), Some(12)]);
    }

    #[test]
    fn a_codec_change_starts_afresh_and_plays_in_the_new_codec() {
        let mut buffer = JitterBuffer::default();
        let base = Instant::now();
        let ulaw = [Codec::Pcmu.encode_sample(1000); FRAME_SAMPLES];
        let alaw = [Codec::Pcma.encode_sample(-2000); FRAME_SAMPLES];
        let mut played = Vec::new();
        for k in 0..20u32 {
            let (payload_type, payload) = if k < 10 { (0, &ulaw) } else { (8, &alaw) };
            let packet = RtpPacket::new(payload_type, k as u16, k * 160, SSRC, payload);
            let now = base + Duration::from_millis(u64::from(k) * 20);
            let outcome = buffer.push(&packet, now);
            if k == 10 {
                assert_eq!(outcome, PushOutcome::Resynchronised);
            }
            played.push(buffer.pop(now + Duration::from_millis(10)));
        }
        let level = |p: &Playout| p.frame[0];
        let audio: Vec<i16> = played
            .iter()
            .filter(|p| p.kind == PlayoutKind::Audio)
            .map(level)
            .collect();
        let ulaw_level = Codec::Pcmu.decode_sample(ulaw[0]);
        let alaw_level = Codec::Pcma.decode_sample(alaw[0]);
        assert!(
            audio.contains(&ulaw_level) && audio.contains(&alaw_level),
            "{audio:?}"
        );
        // Nothing is played in the wrong codec: every sample is one of the two levels.
        assert!(audio.iter().all(|&v| v == ulaw_level || v == alaw_level));
        assert_eq!(buffer.counters().resyncs, 2);
    }

    #[test]
    fn overlapping_packets_keep_the_first_copy_of_each_sample() {
        let mut buffer = JitterBuffer::default();
        let now = Instant::now();
        // Three packets: 0..160, 100..260 (overlapping by 60), then 40..120 (all seen).
        // Timestamps start a little before a ring word so runs split across words.
        let t0 = 8192 * 3 - 30;
        let a = [Codec::Pcmu.encode_sample(500); FRAME_SAMPLES];
        let b = [Codec::Pcmu.encode_sample(-700); FRAME_SAMPLES];
        let c = [Codec::Pcmu.encode_sample(9000); 80];
        assert_eq!(
            buffer.push(&RtpPacket::new(0, 1, t0, SSRC, &a), now),
            PushOutcome::Resynchronised
        );
        assert_eq!(
            buffer.push(&RtpPacket::new(0, 2, t0 + 100, SSRC, &b), now),
            PushOutcome::Stored
        );
        assert_eq!(
            buffer.push(&RtpPacket::new(0, 3, t0 + 40, SSRC, &c), now),
            PushOutcome::Duplicate
        );
        let (va, vb) = (
            Codec::Pcmu.decode_sample(a[0]),
            Codec::Pcmu.decode_sample(b[0]),
        );
        let mut heard = Vec::new();
        let mut at = now;
        while heard.len() < 400 {
            at += Duration::from_millis(20);
            let playout = buffer.pop(at);
            if playout.kind != PlayoutKind::Idle && playout.kind != PlayoutKind::Concealed {
                heard.extend_from_slice(&playout.frame);
            }
            if playout.kind == PlayoutKind::Concealed && !heard.is_empty() {
                break;
            }
        }
        let start = heard
            .iter()
            .position(|&v| v == va)
            .expect("packet a is played");
        let expected: Vec<i16> = (0..260).map(|i| if i < 160 { va } else { vb }).collect();
        assert_eq!(&heard[start..start + 260], &expected[..]);
    }

    #[test]
    fn a_flood_keeps_the_delay_bounded() {
        let mut harness = Harness::new(0, 0);
        // Two seconds of packets at once, then popping resumes.
        for k in 0..100 {
            harness.push_frame(k, 0);
            assert!(harness.buffer.delay() <= Duration::from_millis(1024), "{k}");
        }
        // The ring holds about a second: the flood resynchronised twice, and what is
        // left plays in order after the target delay.
        let out: Vec<Playout> = (0..7).map(|i| harness.pop(10 + i * 20)).collect();
        assert_eq!(
            heard(&out),
            vec![None, None, None, Some(96), Some(97), Some(98), Some(99)]
        );
        assert_eq!(harness.buffer.counters().resyncs, 3);
    }

    #[test]
    fn a_quiet_sender_goes_idle_and_restarts_cleanly() {
        let mut harness = Harness::new(0, 0);
        run(&mut harness, &in_order(3), 6);
        assert_eq!(harness.pop(2000).kind, PlayoutKind::Idle);
        assert_eq!(harness.push_frame(3, 2010), PushOutcome::Resynchronised);
    }

    #[test]
    fn extreme_timestamps_neither_overflow_nor_corrupt() {
        let mut harness = Harness::new(0, 0);
        run(&mut harness, &in_order(3), 3);
        // Offsets from the playout point at the edges of the signed 32-bit range.
        for ts0 in [i32::MAX as u32 - 100, i32::MAX as u32 + 1, u32::MAX - 50] {
            let outcome = harness.push_with(0, 60, SSRC, ts0);
            assert!(
                matches!(outcome, PushOutcome::Resynchronised | PushOutcome::Stored),
                "{ts0}"
            );
        }
        assert!(harness.buffer.delay() <= Duration::from_millis(1024));
    }

    #[test]
    fn rejects_what_it_cannot_play() {
        let mut buffer = JitterBuffer::default();
        let now = Instant::now();
        assert_eq!(
            buffer.push(&RtpPacket::new(101, 0, 0, 1, &[0; 4]), now),
            PushOutcome::UnsupportedPayload
        );
        assert_eq!(
            buffer.push(&RtpPacket::new(0, 0, 0, 1, &[]), now),
            PushOutcome::BadLength
        );
        assert_eq!(buffer.pop(now).kind, PlayoutKind::Idle);
    }

    #[test]
    fn a_shrinking_delay_settles_after_a_spike() {
        let mut harness = Harness::new(0, 0);
        let mut playouts = run(&mut harness, &in_order(3), 3);
        // Spike: frames 3..8 arrive at once, 100 ms late; then a steady stream.
        for tick in 3..8 {
            playouts.push(harness.pop(tick * 20 + 10));
        }
        for k in 3..8 {
            harness.push_frame(k, 160);
        }
        for k in 8..300u32 {
            harness.push_frame(k, k as u64 * 20);
            playouts.push(harness.pop(k as u64 * 20 + 10));
        }
        assert!(
            harness.buffer.delay() <= Duration::from_millis(80),
            "{:?}",
            harness.buffer.delay()
        );
    }
}
