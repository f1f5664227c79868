//! The conference mixer: each participant hears everyone but themselves.
//!
//! Once per 20 ms the room computes one `i32` sum of the frames of its talkers (the
//! loudest active, unmuted participants, at most [`MixerConfig::max_talkers`]). Everyone
//! who is not a talker hears that whole sum, so they all share one PCM mix and one
//! encoded payload per codec: [`MixOutput::Shared`]. Each talker hears the sum minus
//! their own frame, encoded for them alone: [`MixOutput::Own`]. A soft limiter keeps
//! every output inside the 16-bit range, so many loud talkers never wrap.
//!
//! Lobby callers are not in the room's mixer (they hear music on hold), and muted
//! participants contribute nothing. After construction with enough capacity, a tick
//! allocates nothing.

use crate::g711::Codec;
use crate::{FRAME_SAMPLES, Frame, SILENT_FRAME};

/// Settings of a [`Mixer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MixerConfig {
    /// Participants the mixer reserves room for (it grows beyond, with an allocation).
    pub capacity: usize,
    /// The most participants mixed at once; the loudest active ones win. Capping the
    /// talkers keeps the noise of many open lines out of the mix and bounds the encoding
    /// work per tick.
    pub max_talkers: usize,
    /// The RMS level (in sample units) above which a frame counts as speech.
    pub activity_rms: u16,
    /// Frames a participant stays a talker after falling below the level, so the ends of
    /// words are not cut.
    pub hangover_frames: u8,
    /// The level above which the limiter starts to compress (the knee).
    pub limiter_knee: i16,
}

impl Default for MixerConfig {
    fn default() -> MixerConfig {
        MixerConfig {
            capacity: 16,
            max_talkers: 8,
            activity_rms: 64,
            hangover_frames: 15,
            limiter_knee: 24_576,
        }
    }
}

/// A participant's place in a [`Mixer`]; stale after [`Mixer::remove`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId {
    index: u32,
    generation: u32,
}

/// What one participant should be sent this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixOutput<'a> {
    /// The room's shared payload for this codec: the same bytes for every participant
    /// with this codec who is not talking. Send it without re-encoding.
    Shared {
        /// The codec, which names the shared payload.
        codec: Codec,
        /// The encoded payload.
        payload: &'a [u8],
    },
    /// A payload for this participant alone: the mix without their own voice.
    Own {
        /// The encoded payload.
        payload: &'a [u8],
    },
}

impl<'a> MixOutput<'a> {
    /// The bytes to send, whichever kind they are.
    pub fn payload(&self) -> &'a [u8] {
        match *self {
            MixOutput::Shared { payload, .. } | MixOutput::Own { payload } => payload,
        }
    }
}

#[derive(Debug, Clone)]
struct Slot {
    generation: u32,
    occupied: bool,
    codec: Codec,
    muted: bool,
    input: Frame,
    has_input: bool,
    hangover: u8,
    talking: bool,
    own_pcm: Frame,
    own_payload: [u8; FRAME_SAMPLES],
}

impl Slot {
    fn vacant() -> Slot {
        Slot {
            generation: 0,
            occupied: false,
            codec: Codec::Pcmu,
            muted: false,
            input: SILENT_FRAME,
            has_input: false,
            hangover: 0,
            talking: false,
            own_pcm: SILENT_FRAME,
            own_payload: [0; FRAME_SAMPLES],
        }
    }
}

/// The mixer of one room; see the module documentation.
#[derive(Debug, Clone)]
pub struct Mixer {
    config: MixerConfig,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Candidates of this tick: slot index and frame energy.
    candidates: Vec<(u32, u64)>,
    talkers: Vec<u32>,
    sum: [i32; FRAME_SAMPLES],
    shared_pcm: Frame,
    shared_payloads: [[u8; FRAME_SAMPLES]; 2],
    len: usize,
}

impl Default for Mixer {
    fn default() -> Mixer {
        Mixer::new(MixerConfig::default())
    }
}

impl Mixer {
    /// An empty room.
    pub fn new(config: MixerConfig) -> Mixer {
        Mixer {
            config,
            slots: Vec::with_capacity(config.capacity),
            free: Vec::with_capacity(config.capacity),
            candidates: Vec::with_capacity(config.capacity),
            talkers: Vec::with_capacity(config.capacity),
            sum: [0; FRAME_SAMPLES],
            shared_pcm: SILENT_FRAME,
            shared_payloads: [
                [Codec::Pcmu.silence_code(); FRAME_SAMPLES],
                [Codec::Pcma.silence_code(); FRAME_SAMPLES],
            ],
            len: 0,
        }
    }

    /// Adds a participant who will be sent `codec`.
    pub fn add(&mut self, codec: Codec) -> ParticipantId {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot::vacant());
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        let generation = slot.generation;
        *slot = Slot {
            generation,
            occupied: true,
            codec,
            ..Slot::vacant()
        };
        self.len += 1;
        if self.candidates.capacity() < self.slots.len() {
            self.candidates
                .reserve(self.slots.len() - self.candidates.len());
            self.talkers.reserve(self.slots.len() - self.talkers.len());
        }
        ParticipantId { index, generation }
    }

    /// Removes a participant; returns false if the id was already stale.
    pub fn remove(&mut self, id: ParticipantId) -> bool {
        match self.slot_mut(id) {
            Some(slot) => {
                slot.occupied = false;
                slot.generation = slot.generation.wrapping_add(1);
                self.free.push(id.index);
                self.len -= 1;
                self.talkers.retain(|&t| t != id.index);
                true
            }
            None => false,
        }
    }

    /// The number of participants.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the room is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn slot(&self, id: ParticipantId) -> Option<&Slot> {
        self.slots
            .get(id.index as usize)
            .filter(|s| s.occupied && s.generation == id.generation)
    }

    fn slot_mut(&mut self, id: ParticipantId) -> Option<&mut Slot> {
        self.slots
            .get_mut(id.index as usize)
            .filter(|s| s.occupied && s.generation == id.generation)
    }

    /// Mutes or unmutes a participant; a muted participant is never mixed.
    pub fn set_muted(&mut self, id: ParticipantId, muted: bool) {
        if let Some(slot) = self.slot_mut(id) {
            slot.muted = muted;
        }
    }

    /// Whether a participant is muted.
    pub fn is_muted(&self, id: ParticipantId) -> bool {
        self.slot(id).is_some_and(|s| s.muted)
    }

    /// Changes the codec a participant is sent (after a re-INVITE).
    pub fn set_codec(&mut self, id: ParticipantId, codec: Codec) {
        if let Some(slot) = self.slot_mut(id) {
            slot.codec = codec;
        }
    }

    /// Gives the participant's frame for this tick. A participant with no input this
    /// tick (no packet, or a suppressed keypress) contributes nothing.
    pub fn set_input(&mut self, id: ParticipantId, frame: &Frame) {
        if let Some(slot) = self.slot_mut(id) {
            slot.input = *frame;
            slot.has_input = true;
        }
    }

    /// Whether the participant was mixed in the last tick (for "who is speaking").
    pub fn is_talking(&self, id: ParticipantId) -> bool {
        self.slot(id).is_some_and(|s| s.talking)
    }

    /// The ids of every participant.
    pub fn participants(&self) -> impl Iterator<Item = ParticipantId> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.occupied)
            .map(|(index, s)| ParticipantId {
                index: index as u32,
                generation: s.generation,
            })
    }

    /// Mixes one tick. Afterwards [`Mixer::output`] tells what to send to each participant.
    pub fn mix(&mut self) {
        self.select_talkers();
        self.sum = [0; FRAME_SAMPLES];
        for &index in &self.talkers {
            let input = &self.slots[index as usize].input;
            for (acc, &sample) in self.sum.iter_mut().zip(input.iter()) {
                *acc += sample as i32;
            }
        }
        let knee = self.config.limiter_knee;
        for (out, &acc) in self.shared_pcm.iter_mut().zip(self.sum.iter()) {
            *out = limit(acc, knee);
        }
        // Encode the shared mix only for codecs that some listener uses.
        let mut needed = [false; 2];
        for slot in self.slots.iter().filter(|s| s.occupied && !s.talking) {
            needed[slot.codec.index()] = true;
        }
        for codec in Codec::ALL {
            if needed[codec.index()] {
                codec.encode(&self.shared_pcm, &mut self.shared_payloads[codec.index()]);
            }
        }
        for &index in &self.talkers {
            let slot = &mut self.slots[index as usize];
            for ((out, &acc), &own) in slot
                .own_pcm
                .iter_mut()
                .zip(self.sum.iter())
                .zip(slot.input.iter())
            {
                *out = limit(acc - own as i32, knee);
            }
            slot.codec.encode(&slot.own_pcm, &mut slot.own_payload);
        }
        for slot in self.slots.iter_mut() {
            slot.has_input = false;
        }
    }

    fn select_talkers(&mut self) {
        let threshold = {
            let rms = self.config.activity_rms as u64;
            rms * rms * FRAME_SAMPLES as u64
        };
        self.candidates.clear();
        for (index, slot) in self.slots.iter_mut().enumerate() {
            slot.talking = false;
            if !slot.occupied || slot.muted || !slot.has_input {
                slot.hangover = 0;
                continue;
            }
            let energy: u64 = slot
                .input
                .iter()
                .map(|&s| (s as i32 * s as i32) as u64)
                .sum();
            if energy >= threshold {
                slot.hangover = self.config.hangover_frames;
            } else if slot.hangover > 0 {
                slot.hangover -= 1;
            } else {
                continue;
            }
            self.candidates.push((index as u32, energy));
        }
        let max = self.config.max_talkers.max(1);
        if self.candidates.len() > max {
            self.candidates
                .select_nth_unstable_by(max - 1, |a, b| b.1.cmp(&a.1));
            self.candidates.truncate(max);
        }
        self.talkers.clear();
        for &(index, _) in &self.candidates {
            self.talkers.push(index);
            self.slots[index as usize].talking = true;
        }
    }

    /// What to send to a participant after [`Mixer::mix`]; `None` for a stale id.
    pub fn output(&self, id: ParticipantId) -> Option<MixOutput<'_>> {
        let slot = self.slot(id)?;
        Some(if slot.talking {
            MixOutput::Own {
                payload: &slot.own_payload,
            }
        } else {
            MixOutput::Shared {
                codec: slot.codec,
                payload: &self.shared_payloads[slot.codec.index()],
            }
        })
    }

    /// What a participant hears this tick, as PCM (for recording or overlaying a prompt).
    pub fn output_pcm(&self, id: ParticipantId) -> Option<&Frame> {
        let slot = self.slot(id)?;
        Some(if slot.talking {
            &slot.own_pcm
        } else {
            &self.shared_pcm
        })
    }

    /// The shared mix of this tick, as PCM.
    pub fn shared_pcm(&self) -> &Frame {
        &self.shared_pcm
    }

    /// The number of participants mixed in the last tick.
    pub fn talker_count(&self) -> usize {
        self.talkers.len()
    }
}

/// A soft limiter: linear up to `knee`, then compressing smoothly towards full scale,
/// which it never reaches; the slope is continuous at the knee.
#[inline]
pub fn limit(sample: i32, knee: i16) -> i16 {
    let knee = knee.max(0) as i32;
    if sample.abs() <= knee {
        return sample as i16;
    }
    let headroom = i16::MAX as i64 - knee as i64;
    let over = (sample.unsigned_abs() as i64) - knee as i64;
    let compressed = knee as i64 + over * headroom / (over + headroom);
    let magnitude = compressed.min(i16::MAX as i64) as i16;
    if sample < 0 { -magnitude } else { magnitude }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::goertzel_power;
    use crate::player::{ToneGenerator, ToneSegment};

    fn tone_frames(hz: f32, amplitude: f32, frames: usize) -> Vec<Frame> {
        let samples =
            ToneGenerator::new(vec![ToneSegment::tone(hz, amplitude, (frames * 20) as u32)])
                .render();
        samples
            .chunks_exact(FRAME_SAMPLES)
            .map(|c| {
                let mut f = SILENT_FRAME;
                f.copy_from_slice(c);
                f
            })
            .collect()
    }

    fn decoded(output: MixOutput<'_>, codec: Codec) -> Vec<i16> {
        let mut pcm = vec![0; FRAME_SAMPLES];
        codec.decode(output.payload(), &mut pcm);
        pcm
    }

    #[test]
    fn each_participant_hears_everyone_but_themselves() {
        let tones = [600.0, 1000.0, 1400.0, 1800.0];
        let codecs = [Codec::Pcmu, Codec::Pcma, Codec::Pcmu, Codec::Pcma];
        let mut mixer = Mixer::default();
        let ids: Vec<ParticipantId> = codecs.iter().map(|&c| mixer.add(c)).collect();
        let inputs: Vec<Vec<Frame>> = tones
            .iter()
            .map(|&hz| tone_frames(hz, 6000.0, 10))
            .collect();
        let mut heard: Vec<Vec<i16>> = vec![Vec::new(); 4];
        for tick in 0..10 {
            for (id, input) in ids.iter().zip(&inputs) {
                mixer.set_input(*id, &input[tick]);
            }
            mixer.mix();
            for (i, id) in ids.iter().enumerate() {
                let output = mixer.output(*id).unwrap();
                assert!(matches!(output, MixOutput::Own { .. }));
                heard[i].extend(decoded(output, codecs[i]));
            }
        }
        let full = 6000.0f64 * 6000.0 / 2.0;
        for (i, received) in heard.iter().enumerate() {
            for (j, &hz) in tones.iter().enumerate() {
                let power = goertzel_power(received, hz as f64);
                if i == j {
                    assert!(power < full * 0.001, "{i} hears itself: {power}");
                } else {
                    assert!(power > full * 0.8, "{i} misses {j}: {power}");
                }
            }
        }
    }

    #[test]
    fn listeners_share_one_payload_per_codec() {
        let mut mixer = Mixer::default();
        let talker = mixer.add(Codec::Pcmu);
        let listeners: Vec<ParticipantId> = (0..6)
            .map(|i| mixer.add(if i % 2 == 0 { Codec::Pcmu } else { Codec::Pcma }))
            .collect();
        let voice = tone_frames(440.0, 5000.0, 1);
        mixer.set_input(talker, &voice[0]);
        for &l in &listeners {
            mixer.set_input(l, &SILENT_FRAME);
        }
        mixer.mix();
        assert_eq!(mixer.talker_count(), 1);
        let pointers: Vec<(Codec, *const u8)> = listeners
            .iter()
            .map(|&l| match mixer.output(l).unwrap() {
                MixOutput::Shared { codec, payload } => (codec, payload.as_ptr()),
                MixOutput::Own { .. } => panic!("a silent listener got its own mix"),
            })
            .collect();
        for (codec, pointer) in &pointers {
            let same = pointers
                .iter()
                .filter(|(c, p)| c == codec && p == pointer)
                .count();
            assert_eq!(same, 3);
        }
        // The talker hears silence (nobody else talks); the listeners hear the talker.
        assert!(
            decoded(mixer.output(talker).unwrap(), Codec::Pcmu)
                .iter()
                .all(|&s| s == 0)
        );
        assert_eq!(
            decoded(mixer.output(listeners[0]).unwrap(), Codec::Pcmu)[40],
            { Codec::Pcmu.decode_sample(Codec::Pcmu.encode_sample(voice[0][40])) }
        );
    }

    #[test]
    fn many_loud_talkers_never_wrap() {
        let config = MixerConfig {
            max_talkers: 200,
            capacity: 200,
            ..MixerConfig::default()
        };
        let mut mixer = Mixer::new(config);
        let ids: Vec<ParticipantId> = (0..200).map(|_| mixer.add(Codec::Pcmu)).collect();
        let mut loud = SILENT_FRAME;
        for (i, s) in loud.iter_mut().enumerate() {
            *s = if i % 2 == 0 { i16::MAX } else { i16::MIN };
        }
        for &id in &ids {
            mixer.set_input(id, &loud);
        }
        mixer.mix();
        for &id in &ids {
            let pcm = mixer.output_pcm(id).unwrap();
            for (i, &s) in pcm.iter().enumerate() {
                // The sign of the sum survives: no wrap-around.
                if i % 2 == 0 {
                    assert!(s > 30_000, "{s}");
                } else {
                    assert!(s < -30_000, "{s}");
                }
            }
        }
    }

    #[test]
    fn limiter_is_linear_below_the_knee_and_monotonic_above() {
        assert_eq!(limit(1000, 24_576), 1000);
        assert_eq!(limit(-24_576, 24_576), -24_576);
        let mut previous = limit(24_576, 24_576);
        for x in (24_577..10_000_000).step_by(997) {
            let y = limit(x, 24_576);
            assert!(y >= previous && y < i16::MAX);
            assert_eq!(limit(-x, 24_576), -y);
            previous = y;
        }
    }

    #[test]
    fn muted_and_silent_participants_contribute_nothing() {
        let mut mixer = Mixer::default();
        let a = mixer.add(Codec::Pcmu);
        let b = mixer.add(Codec::Pcmu);
        let c = mixer.add(Codec::Pcmu);
        let tone = tone_frames(1000.0, 8000.0, 1);
        mixer.set_muted(a, true);
        mixer.set_input(a, &tone[0]);
        mixer.set_input(b, &SILENT_FRAME);
        mixer.mix();
        assert_eq!(mixer.talker_count(), 0);
        assert!(mixer.is_muted(a));
        assert!(mixer.shared_pcm().iter().all(|&s| s == 0));
        assert!(matches!(mixer.output(c), Some(MixOutput::Shared { .. })));
        mixer.set_muted(a, false);
        mixer.set_input(a, &tone[0]);
        mixer.mix();
        assert!(mixer.is_talking(a));
        assert_eq!(mixer.output_pcm(b).unwrap(), &tone[0]);
    }

    #[test]
    fn hangover_keeps_a_pausing_talker_and_the_loudest_win() {
        let config = MixerConfig {
            max_talkers: 2,
            hangover_frames: 2,
            ..MixerConfig::default()
        };
        let mut mixer = Mixer::new(config);
        let quiet = mixer.add(Codec::Pcmu);
        let medium = mixer.add(Codec::Pcmu);
        let loud = mixer.add(Codec::Pcmu);
        mixer.set_input(quiet, &tone_frames(500.0, 1000.0, 1)[0]);
        mixer.set_input(medium, &tone_frames(700.0, 4000.0, 1)[0]);
        mixer.set_input(loud, &tone_frames(900.0, 9000.0, 1)[0]);
        mixer.mix();
        assert!(!mixer.is_talking(quiet) && mixer.is_talking(medium) && mixer.is_talking(loud));
        for expected in [true, true, false] {
            mixer.set_input(medium, &SILENT_FRAME);
            mixer.mix();
            assert_eq!(mixer.is_talking(medium), expected);
        }
    }

    #[test]
    fn removed_ids_go_stale_and_slots_are_reused() {
        let mut mixer = Mixer::default();
        let a = mixer.add(Codec::Pcmu);
        assert!(mixer.remove(a));
        assert!(!mixer.remove(a));
        let b = mixer.add(Codec::Pcma);
        assert_ne!(a, b);
        assert_eq!(mixer.output(a), None);
        assert!(mixer.output(b).is_some());
        assert_eq!(mixer.len(), 1);
        assert_eq!(mixer.participants().collect::<Vec<_>>(), vec![b]);
    }
}
