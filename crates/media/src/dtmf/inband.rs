use super::DtmfDigit;
use super::digit::{COLUMN_HZ, ROW_HZ};
use crate::{FRAME_SAMPLES, Frame, SAMPLE_RATE};

/// Thresholds of the in-band detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InbandConfig {
    /// The smallest amplitude (peak, in sample units) each of the two tones must have.
    pub min_tone_amplitude: f32,
    /// The share of the frame's energy the two tones must hold together (0–1); speech
    /// and music spread their energy and fail this test.
    pub min_purity: f32,
    /// The largest power ratio, in decibels, between the two tones (either way round).
    pub max_twist_db: f32,
    /// How much stronger, in decibels, the winning tone of each group must be than the
    /// runner-up of its group.
    pub min_group_margin_db: f32,
    /// Consecutive 20 ms frames a key must be seen in before it counts.
    pub frames_to_confirm: u8,
    /// Consecutive frames without the key before a new press can count.
    pub frames_to_release: u8,
}

impl Default for InbandConfig {
    fn default() -> InbandConfig {
        InbandConfig {
            // About −42 dBm0 per tone: quieter than any phone sends, louder than line noise.
            min_tone_amplitude: 200.0,
            min_purity: 0.8,
            max_twist_db: 8.0,
            min_group_margin_db: 10.0,
            frames_to_confirm: 2,
            frames_to_release: 2,
        }
    }
}

/// Goertzel coefficients (2·cos ω) of the eight DTMF frequencies, rows then columns.
fn coefficients() -> [f32; 8] {
    let mut coefficients = [0.0; 8];
    for (c, hz) in coefficients
        .iter_mut()
        .zip(ROW_HZ.iter().chain(COLUMN_HZ.iter()))
    {
        *c = 2.0 * (2.0 * std::f32::consts::PI * hz / SAMPLE_RATE as f32).cos();
    }
    coefficients
}

/// Detects DTMF keys in decoded audio, one 20 ms frame at a time, with Goertzel filters
/// at the eight DTMF frequencies.
///
/// A key counts once per press: it must be present for
/// [`InbandConfig::frames_to_confirm`] frames, and absent for
/// [`InbandConfig::frames_to_release`] frames before another press can count. A frame
/// counts as a key only if both tones are loud enough, dominate their groups, are within
/// the allowed twist, and together hold most of the frame's energy.
#[derive(Debug, Clone)]
pub struct InbandDetector {
    config: InbandConfig,
    coefficients: [f32; 8],
    candidate: Option<DtmfDigit>,
    candidate_frames: u8,
    pressed: Option<DtmfDigit>,
    absent_frames: u8,
    tone_in_frame: bool,
}

impl Default for InbandDetector {
    fn default() -> InbandDetector {
        InbandDetector::new(InbandConfig::default())
    }
}

impl InbandDetector {
    /// A detector with the given thresholds.
    pub fn new(config: InbandConfig) -> InbandDetector {
        InbandDetector {
            config,
            coefficients: coefficients(),
            candidate: None,
            candidate_frames: 0,
            pressed: None,
            absent_frames: 0,
            tone_in_frame: false,
        }
    }

    /// Analyses one frame and returns the key whose press it confirms, if any.
    pub fn process(&mut self, frame: &Frame) -> Option<DtmfDigit> {
        let seen = self.classify(frame);
        self.tone_in_frame = seen.is_some();
        match seen {
            Some(digit) => {
                self.absent_frames = 0;
                if self.candidate == Some(digit) {
                    self.candidate_frames = self.candidate_frames.saturating_add(1);
                } else {
                    self.candidate = Some(digit);
                    self.candidate_frames = 1;
                }
                if self.pressed.is_none() && self.candidate_frames >= self.config.frames_to_confirm
                {
                    self.pressed = Some(digit);
                    return Some(digit);
                }
            }
            None => {
                self.absent_frames = self.absent_frames.saturating_add(1);
                self.candidate = None;
                self.candidate_frames = 0;
                if self.absent_frames >= self.config.frames_to_release {
                    self.pressed = None;
                }
            }
        }
        None
    }

    /// Whether the frame just processed should be kept out of the mix: it holds a tone, or
    /// it falls within a press that has not been released yet.
    pub fn suppress(&self) -> bool {
        self.tone_in_frame || self.pressed.is_some()
    }

    /// Forgets any press in progress (after a stream restart).
    pub fn reset(&mut self) {
        self.candidate = None;
        self.candidate_frames = 0;
        self.pressed = None;
        self.absent_frames = 0;
        self.tone_in_frame = false;
    }

    /// The key a single frame looks like, with no memory of earlier frames.
    pub fn classify(&self, frame: &Frame) -> Option<DtmfDigit> {
        let n = FRAME_SAMPLES as f32;
        let mean_energy = frame.iter().map(|&s| (s as f32) * (s as f32)).sum::<f32>() / n;
        let min_tone_power = self.config.min_tone_amplitude * self.config.min_tone_amplitude / 2.0;
        if mean_energy < 2.0 * min_tone_power {
            return None;
        }
        // Tone power normalised so that a sine of amplitude A at the filter's frequency
        // gives A²/2, the same scale as `mean_energy`.
        // The eight Goertzel filters run side by side over the frame: eight independent
        // recurrences per sample, which the compiler keeps in vector registers, instead
        // of one long dependency chain per filter (the same arithmetic, so the same
        // result, several times faster).
        let c = &self.coefficients;
        let (mut s1, mut s2) = ([0.0f32; 8], [0.0f32; 8]);
        for &sample in frame {
            let x = sample as f32;
            for k in 0..8 {
                let s0 = x + c[k] * s1[k] - s2[k];
                s2[k] = s1[k];
                s1[k] = s0;
            }
        }
        let mut powers = [0.0f32; 8];
        for k in 0..8 {
            let magnitude_squared = s1[k] * s1[k] + s2[k] * s2[k] - c[k] * s1[k] * s2[k];
            powers[k] = 2.0 * magnitude_squared / (n * n);
        }
        let (row, row_power, row_runner_up) = strongest(&powers[..4]);
        let (column, column_power, column_runner_up) = strongest(&powers[4..]);
        if row_power < min_tone_power || column_power < min_tone_power {
            return None;
        }
        let margin = db_to_ratio(self.config.min_group_margin_db);
        if row_power < margin * row_runner_up || column_power < margin * column_runner_up {
            return None;
        }
        let twist = db_to_ratio(self.config.max_twist_db);
        if row_power > twist * column_power || column_power > twist * row_power {
            return None;
        }
        if row_power + column_power < self.config.min_purity * mean_energy {
            return None;
        }
        DtmfDigit::at(row, column)
    }
}

fn db_to_ratio(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

/// The index and power of the strongest entry, and the power of the second strongest.
fn strongest(powers: &[f32]) -> (usize, f32, f32) {
    let mut best = (0, f32::MIN, f32::MIN);
    for (i, &p) in powers.iter().enumerate() {
        if p > best.1 {
            best = (i, p, best.1);
        } else if p > best.2 {
            best.2 = p;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SILENT_FRAME;
    use crate::player::{ToneGenerator, ToneSegment};
    use crate::wav::Wav;

    fn frames(samples: &[i16]) -> impl Iterator<Item = Frame> + '_ {
        samples.chunks(FRAME_SAMPLES).map(|chunk| {
            let mut frame = SILENT_FRAME;
            frame[..chunk.len()].copy_from_slice(chunk);
            frame
        })
    }

    fn detect_all(samples: &[i16]) -> Vec<DtmfDigit> {
        let mut detector = InbandDetector::default();
        frames(samples)
            .filter_map(|frame| detector.process(&frame))
            .collect()
    }

    fn keypresses(digits: &[DtmfDigit], tone_ms: u32, gap_ms: u32) -> Vec<i16> {
        let mut segments = vec![ToneSegment::silence(13)];
        for &digit in digits {
            segments.push(ToneSegment::dtmf(digit, tone_ms));
            segments.push(ToneSegment::silence(gap_ms));
        }
        ToneGenerator::new(segments).render()
    }

    #[test]
    fn detects_all_sixteen_keys_once_each() {
        let samples = keypresses(&DtmfDigit::ALL, 100, 80);
        assert_eq!(detect_all(&samples), DtmfDigit::ALL.to_vec());
    }

    #[test]
    fn detects_keys_after_g711_and_at_low_level() {
        use crate::g711::Codec;
        for codec in Codec::ALL {
            let mut samples = keypresses(&DtmfDigit::ALL, 70, 60);
            for s in samples.iter_mut() {
                // About 20 dB quieter than the generator's level.
                *s = codec.decode_sample(codec.encode_sample(*s / 10));
            }
            assert_eq!(detect_all(&samples), DtmfDigit::ALL.to_vec(), "{codec:?}");
        }
    }

    #[test]
    fn a_long_press_counts_once() {
        let samples = keypresses(&[DtmfDigit::D5], 3000, 100);
        assert_eq!(detect_all(&samples), vec![DtmfDigit::D5]);
    }

    #[test]
    fn suppresses_frames_of_a_press() {
        let samples = keypresses(&[DtmfDigit::D8], 200, 200);
        let mut detector = InbandDetector::default();
        let suppressed: Vec<bool> = frames(&samples)
            .map(|frame| {
                detector.process(&frame);
                detector.suppress()
            })
            .collect();
        // The tone runs from 13 ms to 213 ms: frames 1 to 10 hold it entirely.
        assert!(suppressed[1..10].iter().all(|&s| s), "{suppressed:?}");
        assert!(!suppressed[14..].iter().any(|&s| s), "{suppressed:?}");
    }

    #[test]
    fn single_tones_and_wide_twist_are_not_keys() {
        let single = ToneGenerator::new(vec![ToneSegment::tone(697.0, 8000.0, 500)]).render();
        assert!(detect_all(&single).is_empty());
        let twisted =
            ToneGenerator::new(vec![ToneSegment::dual(770.0, 12000.0, 1336.0, 1000.0, 500)])
                .render();
        assert!(detect_all(&twisted).is_empty());
    }

    #[test]
    fn no_keys_in_the_hold_music_or_the_prompts() {
        let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets");
        let mut files = vec![format!("{assets}/music/hold.wav")];
        for entry in std::fs::read_dir(format!("{assets}/prompts/en-US")).unwrap() {
            files.push(entry.unwrap().path().display().to_string());
        }
        assert!(files.len() > 20);
        for file in files {
            let wav = Wav::decode(&std::fs::read(&file).unwrap()).unwrap();
            assert_eq!(detect_all(wav.samples()), vec![], "{file}");
        }
    }
}
