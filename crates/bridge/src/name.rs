//! A caller's recorded name: the frames after the beep, ended by the caller's silence once
//! they have spoken (or by the limit), trimmed of leading and trailing silence by energy.
//! It lives on the call's state in memory only and goes when the call ends.

use std::time::Duration;

use pinbridge_media::{FRAME_SAMPLES, Frame};

/// A frame whose mean power is below this is silence (an RMS of 300, about −41 dBFS:
/// above a telephone line's noise, well below speech).
const SPEECH_POWER: f64 = 300.0 * 300.0;

/// Silence this long after speech ends the recording.
pub(crate) const END_SILENCE: Duration = Duration::from_millis(1500);

/// Frames of silence kept before the first and after the last speech frame, so the
/// name's onset and decay are not cut.
const MARGIN_FRAMES: usize = 2;

const FRAME_MS: u64 = 20;

/// What one more frame did to the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Still recording.
    Recording,
    /// The caller has been silent long enough after speaking, or the limit is reached:
    /// the recording ended with this frame (reported once).
    Ended,
    /// It had ended already; the frame was not kept.
    Over,
}

/// A name being recorded.
#[derive(Debug)]
pub(crate) struct NameRecorder {
    samples: Vec<i16>,
    limit: usize,
    /// Frame indexes of the first and the last speech frame.
    first_speech: Option<usize>,
    last_speech: usize,
    silent_frames: usize,
    ended: bool,
}

impl NameRecorder {
    /// A recorder for at most `max` of audio.
    pub fn new(max: Duration) -> Self {
        let frames = (max.as_millis() as u64).div_ceil(FRAME_MS).max(1) as usize;
        let limit = frames * FRAME_SAMPLES;
        Self {
            samples: Vec::with_capacity(limit),
            limit,
            first_speech: None,
            last_speech: 0,
            silent_frames: 0,
            ended: false,
        }
    }

    /// Takes the caller's next 20 ms (silence when nothing arrived).
    pub fn push(&mut self, frame: &Frame) -> Progress {
        if self.ended {
            return Progress::Over;
        }
        let index = self.samples.len() / FRAME_SAMPLES;
        self.samples.extend_from_slice(frame);
        if is_speech(frame) {
            self.first_speech.get_or_insert(index);
            self.last_speech = index;
            self.silent_frames = 0;
        } else if self.first_speech.is_some() {
            self.silent_frames += 1;
        }
        let end_frames = (END_SILENCE.as_millis() as u64 / FRAME_MS) as usize;
        if self.samples.len() >= self.limit || self.silent_frames >= end_frames {
            self.ended = true;
            return Progress::Ended;
        }
        Progress::Recording
    }

    /// The name, trimmed of the silence before and after it; `None` when the caller
    /// said nothing.
    pub fn finish(self) -> Option<Vec<i16>> {
        let first = self.first_speech?;
        let frames = self.samples.len() / FRAME_SAMPLES;
        let start = first.saturating_sub(MARGIN_FRAMES) * FRAME_SAMPLES;
        let end = (self.last_speech + 1 + MARGIN_FRAMES).min(frames) * FRAME_SAMPLES;
        let mut samples = self.samples;
        samples.truncate(end);
        samples.drain(..start);
        Some(samples)
    }
}

fn is_speech(frame: &Frame) -> bool {
    let power = frame
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / FRAME_SAMPLES as f64;
    power >= SPEECH_POWER
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loud() -> Frame {
        let mut frame = [0i16; FRAME_SAMPLES];
        for (i, s) in frame.iter_mut().enumerate() {
            *s = if i % 2 == 0 { 3000 } else { -3000 };
        }
        frame
    }

    const QUIET: Frame = [40; FRAME_SAMPLES];

    #[test]
    fn silence_after_speech_ends_it_and_the_name_is_trimmed() {
        let mut recorder = NameRecorder::new(Duration::from_secs(4));
        for _ in 0..10 {
            assert_eq!(recorder.push(&QUIET), Progress::Recording);
        }
        for _ in 0..25 {
            assert_eq!(recorder.push(&loud()), Progress::Recording);
        }
        for _ in 0..74 {
            assert_eq!(recorder.push(&QUIET), Progress::Recording);
        }
        assert_eq!(recorder.push(&QUIET), Progress::Ended);
        assert_eq!(recorder.push(&loud()), Progress::Over);
        let name = recorder.finish().unwrap();
        assert_eq!(name.len(), (25 + 2 * MARGIN_FRAMES) * FRAME_SAMPLES);
        assert_eq!(name[MARGIN_FRAMES * FRAME_SAMPLES], 3000);
        assert_eq!(name[0], 40);
    }

    #[test]
    fn silence_alone_never_ends_it_before_the_limit_and_keeps_nothing() {
        let mut recorder = NameRecorder::new(Duration::from_secs(2));
        for _ in 0..99 {
            assert_eq!(recorder.push(&QUIET), Progress::Recording);
        }
        assert_eq!(recorder.push(&QUIET), Progress::Ended);
        assert_eq!(recorder.finish(), None);
    }

    #[test]
    fn the_limit_ends_a_caller_who_keeps_talking() {
        let mut recorder = NameRecorder::new(Duration::from_millis(1000));
        for _ in 0..49 {
            assert_eq!(recorder.push(&loud()), Progress::Recording);
        }
        assert_eq!(recorder.push(&loud()), Progress::Ended);
        assert_eq!(recorder.finish().unwrap().len(), 50 * FRAME_SAMPLES);
    }
}
