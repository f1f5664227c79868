//! Players that fill 20 ms frames: prompts (with barge-in), looping music on hold that
//! many callers can share, and a tone generator for beeps and DTMF.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::dtmf::DtmfDigit;
use crate::g711::Codec;
use crate::{FRAME_SAMPLES, Frame, SAMPLE_RATE, SILENT_FRAME};

/// Decoded audio shared between players: cloning is cheap and copies no samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clip {
    samples: Arc<[i16]>,
}

impl Clip {
    /// A clip of the given 8 kHz samples.
    pub fn new(samples: Vec<i16>) -> Clip {
        Clip {
            samples: samples.into(),
        }
    }

    /// The samples.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// How long the clip plays.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.samples.len() as u64 * 1_000_000 / SAMPLE_RATE as u64)
    }
}

/// Whether a player produced audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayerState {
    /// The frame holds audio (its tail may be silence if the audio ended inside it).
    Playing,
    /// Nothing was left to play: the frame is silence and the player is done.
    Done,
}

/// Plays prompts one after another, for example a recorded name then "has joined".
///
/// The frame that holds the last samples reports [`PlayerState::Playing`]; the next call
/// reports [`PlayerState::Done`], which is when the caller flow learns the prompt ended.
/// [`PromptPlayer::stop`] cuts it short (barge-in on a keypress).
#[derive(Debug, Clone, Default)]
pub struct PromptPlayer {
    queue: VecDeque<Clip>,
    position: usize,
}

impl PromptPlayer {
    /// A player with nothing to play.
    pub fn new() -> PromptPlayer {
        PromptPlayer::default()
    }

    /// Replaces whatever is playing with `clip`.
    pub fn play(&mut self, clip: Clip) {
        self.queue.clear();
        self.queue.push_back(clip);
        self.position = 0;
    }

    /// Plays `clip` after the clips already queued.
    pub fn enqueue(&mut self, clip: Clip) {
        self.queue.push_back(clip);
    }

    /// Stops playing and forgets the queue.
    pub fn stop(&mut self) {
        self.queue.clear();
        self.position = 0;
    }

    /// Whether anything is left to play.
    pub fn is_playing(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Fills `out` with the next 20 ms.
    pub fn next_frame(&mut self, out: &mut Frame) -> PlayerState {
        if self.queue.is_empty() {
            *out = SILENT_FRAME;
            return PlayerState::Done;
        }
        let mut filled = 0;
        while filled < FRAME_SAMPLES {
            let Some(clip) = self.queue.front() else {
                break;
            };
            let remaining = clip.samples().get(self.position..).unwrap_or_default();
            let take = remaining.len().min(FRAME_SAMPLES - filled);
            out[filled..filled + take].copy_from_slice(&remaining[..take]);
            filled += take;
            self.position += take;
            if self.position >= clip.samples().len() {
                self.queue.pop_front();
                self.position = 0;
            }
        }
        out[filled..].fill(0);
        PlayerState::Playing
    }
}

/// Looping music on hold. One instance per node (or per room) serves every lobby caller:
/// the driver calls [`MusicOnHold::tick`] once per 20 ms and sends the same encoded
/// payload to everyone, so a lobby of any size costs one frame of work.
#[derive(Debug, Clone)]
pub struct MusicOnHold {
    clip: Clip,
    position: usize,
    frame: Frame,
    payloads: [[u8; FRAME_SAMPLES]; 2],
}

impl MusicOnHold {
    /// Music that loops over `clip`. An empty clip plays silence.
    pub fn new(clip: Clip) -> MusicOnHold {
        MusicOnHold {
            clip,
            position: 0,
            frame: SILENT_FRAME,
            payloads: [[0; FRAME_SAMPLES]; 2],
        }
    }

    /// Advances by one frame and encodes it for both codecs.
    pub fn tick(&mut self) {
        let samples = self.clip.samples();
        if samples.is_empty() {
            self.frame = SILENT_FRAME;
        } else {
            for slot in self.frame.iter_mut() {
                if self.position >= samples.len() {
                    self.position = 0;
                }
                *slot = samples[self.position];
                self.position += 1;
            }
        }
        for codec in Codec::ALL {
            codec.encode(&self.frame, &mut self.payloads[codec.index()]);
        }
    }

    /// The current frame as PCM.
    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    /// The current frame encoded with `codec`, the same bytes for every listener.
    pub fn payload(&self, codec: Codec) -> &[u8] {
        &self.payloads[codec.index()]
    }

    /// The position in the clip, in samples.
    pub fn position(&self) -> usize {
        self.position
    }
}

/// One step of a tone sequence: up to two sine waves, or silence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneSegment {
    /// First frequency in hertz and its peak amplitude.
    pub first: (f32, f32),
    /// Second frequency in hertz and its peak amplitude (amplitude 0 for none).
    pub second: (f32, f32),
    /// Length in samples.
    pub samples: usize,
}

/// The peak amplitude of each DTMF tone: about −10 dBm0, a common sending level.
pub const DTMF_AMPLITUDE: f32 = 7000.0;

fn samples_in(ms: u32) -> usize {
    (ms as usize) * SAMPLE_RATE as usize / 1000
}

impl ToneSegment {
    /// Silence for `ms` milliseconds.
    pub fn silence(ms: u32) -> ToneSegment {
        ToneSegment {
            first: (0.0, 0.0),
            second: (0.0, 0.0),
            samples: samples_in(ms),
        }
    }

    /// One sine wave.
    pub fn tone(hz: f32, amplitude: f32, ms: u32) -> ToneSegment {
        ToneSegment {
            first: (hz, amplitude),
            second: (0.0, 0.0),
            samples: samples_in(ms),
        }
    }

    /// Two sine waves, each with its own amplitude.
    pub fn dual(hz1: f32, amplitude1: f32, hz2: f32, amplitude2: f32, ms: u32) -> ToneSegment {
        ToneSegment {
            first: (hz1, amplitude1),
            second: (hz2, amplitude2),
            samples: samples_in(ms),
        }
    }

    /// The tone pair of a DTMF key.
    pub fn dtmf(digit: DtmfDigit, ms: u32) -> ToneSegment {
        let (low, high) = digit.frequencies();
        ToneSegment::dual(low, DTMF_AMPLITUDE, high, DTMF_AMPLITUDE, ms)
    }

    /// The rising two-note beep played when someone joins.
    pub fn entry_beep() -> Vec<ToneSegment> {
        vec![
            ToneSegment::tone(660.0, 6000.0, 120),
            ToneSegment::tone(880.0, 6000.0, 160),
        ]
    }

    /// The falling two-note beep played when someone leaves.
    pub fn exit_beep() -> Vec<ToneSegment> {
        vec![
            ToneSegment::tone(880.0, 6000.0, 120),
            ToneSegment::tone(660.0, 6000.0, 160),
        ]
    }

    fn sample(&self, index: usize) -> i16 {
        let t = index as f32 / SAMPLE_RATE as f32;
        let tau = 2.0 * std::f32::consts::PI;
        let mut value = self.first.1 * (tau * self.first.0 * t).sin();
        if self.second.1 != 0.0 {
            value += self.second.1 * (tau * self.second.0 * t).sin();
        }
        // A 2 ms ramp at each end keeps beeps from clicking.
        let ramp = samples_in(2) as f32;
        let from_edge = index.min(self.samples.saturating_sub(index + 1)) as f32;
        if from_edge < ramp {
            value *= from_edge / ramp;
        }
        value.clamp(i16::MIN as f32, i16::MAX as f32) as i16
    }
}

/// Plays a sequence of [`ToneSegment`]s.
#[derive(Debug, Clone, Default)]
pub struct ToneGenerator {
    segments: Vec<ToneSegment>,
    segment: usize,
    position: usize,
}

impl ToneGenerator {
    /// A generator for the given sequence.
    pub fn new(segments: Vec<ToneSegment>) -> ToneGenerator {
        ToneGenerator {
            segments,
            segment: 0,
            position: 0,
        }
    }

    /// Whether anything is left to play.
    pub fn is_playing(&self) -> bool {
        self.segment < self.segments.len()
    }

    /// Fills `out` with the next 20 ms, as [`PromptPlayer::next_frame`] does.
    pub fn next_frame(&mut self, out: &mut Frame) -> PlayerState {
        if !self.is_playing() {
            *out = SILENT_FRAME;
            return PlayerState::Done;
        }
        for slot in out.iter_mut() {
            *slot = match self.segments.get(self.segment) {
                Some(segment) => {
                    let value = segment.sample(self.position);
                    self.position += 1;
                    if self.position >= segment.samples {
                        self.segment += 1;
                        self.position = 0;
                    }
                    value
                }
                None => 0,
            };
        }
        PlayerState::Playing
    }

    /// The whole sequence as one buffer of samples.
    pub fn render(mut self) -> Vec<i16> {
        let total: usize = self.segments.iter().map(|s| s.samples).sum();
        let mut samples = Vec::with_capacity(total + FRAME_SAMPLES);
        let mut frame = SILENT_FRAME;
        while self.next_frame(&mut frame) == PlayerState::Playing {
            samples.extend_from_slice(&frame);
        }
        samples.truncate(total);
        samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::goertzel_power;

    #[test]
    fn prompt_plays_to_the_end_then_reports_done() {
        let clip = Clip::new((1..=400).collect());
        let mut player = PromptPlayer::new();
        player.play(clip);
        let mut frame = SILENT_FRAME;
        let mut played = Vec::new();
        while player.next_frame(&mut frame) == PlayerState::Playing {
            played.extend_from_slice(&frame);
        }
        assert_eq!(played.len(), 480);
        assert_eq!(&played[..400], &(1..=400).collect::<Vec<i16>>()[..]);
        assert!(played[400..].iter().all(|&s| s == 0));
        assert!(!player.is_playing());
    }

    #[test]
    fn queued_prompts_play_back_to_back_and_stop_cuts_them_short() {
        let mut player = PromptPlayer::new();
        player.play(Clip::new(vec![1; 100]));
        player.enqueue(Clip::new(vec![2; 100]));
        let mut frame = SILENT_FRAME;
        assert_eq!(player.next_frame(&mut frame), PlayerState::Playing);
        assert!(frame[..100].iter().all(|&s| s == 1));
        assert!(frame[100..].iter().all(|&s| s == 2));
        player.stop();
        assert_eq!(player.next_frame(&mut frame), PlayerState::Done);
        assert_eq!(frame, SILENT_FRAME);
    }

    #[test]
    fn music_on_hold_loops_and_encodes_once_per_tick() {
        let clip = Clip::new((0..250).map(|i| i * 10).collect());
        let mut music = MusicOnHold::new(clip);
        music.tick();
        music.tick();
        // 320 samples into a 250-sample loop: the second frame wraps after 90 samples.
        assert_eq!(music.frame()[89], 2490);
        assert_eq!(music.frame()[90], 0);
        assert_eq!(music.position(), 70);
        assert_eq!(music.payload(Codec::Pcmu)[90], Codec::Pcmu.encode_sample(0));
        assert_eq!(
            music.payload(Codec::Pcma)[10],
            Codec::Pcma.encode_sample(music.frame()[10])
        );
    }

    #[test]
    fn tones_have_their_frequencies() {
        let beep = ToneGenerator::new(vec![ToneSegment::tone(1000.0, 8000.0, 100)]).render();
        assert_eq!(beep.len(), 800);
        assert!(goertzel_power(&beep, 1000.0) > 0.9 * 8000.0 * 8000.0 / 2.0 * 0.9);
        assert!(goertzel_power(&beep, 1400.0) < 1000.0);
        let entry = ToneGenerator::new(ToneSegment::entry_beep()).render();
        assert_eq!(entry.len(), 2240);
        assert!(
            goertzel_power(&entry[..960], 660.0) > goertzel_power(&entry[..960], 880.0) * 100.0
        );
    }
}
