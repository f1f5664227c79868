//! Rate conversion by two, for a wideband room with narrowband callers: a G.711 caller's
//! 8 kHz frames go up to the room's 16 kHz with [`Upsampler`], and the room's mix comes
//! down to 8 kHz for them with [`Downsampler`]. Both use one linear-phase low-pass
//! (a Blackman-windowed sinc of [`TAPS`] taps, cut-off at 3.7 kHz of the 8 kHz band's
//! 4 kHz Nyquist), and keep their filter state from one frame to the next, so frames
//! join without clicks. Pure functions of their input: no clock, no allocation per frame
//! beyond the output.

use std::sync::OnceLock;

/// The low-pass filter's length.
pub const TAPS: usize = 47;

/// The filter's cut-off as a fraction of the 16 kHz rate (3.7 kHz).
const CUTOFF: f64 = 3700.0 / 16_000.0;

/// The filter's taps (at the 16 kHz rate, unit gain at 0 Hz).
fn taps() -> &'static [f32; TAPS] {
    static TAPS_TABLE: OnceLock<[f32; TAPS]> = OnceLock::new();
    TAPS_TABLE.get_or_init(|| {
        let mut h = [0f64; TAPS];
        let middle = (TAPS - 1) as f64 / 2.0;
        for (n, tap) in h.iter_mut().enumerate() {
            let x = n as f64 - middle;
            let sinc = if x == 0.0 {
                2.0 * CUTOFF
            } else {
                (2.0 * std::f64::consts::PI * CUTOFF * x).sin() / (std::f64::consts::PI * x)
            };
            let phase = 2.0 * std::f64::consts::PI * n as f64 / (TAPS - 1) as f64;
            let window = 0.42 - 0.5 * phase.cos() + 0.08 * (2.0 * phase).cos();
            *tap = sinc * window;
        }
        let sum: f64 = h.iter().sum();
        let mut out = [0f32; TAPS];
        for (o, t) in out.iter_mut().zip(h) {
            *o = (t / sum) as f32;
        }
        out
    })
}

/// The last [`TAPS`] samples at 16 kHz, the filter's memory.
#[derive(Debug, Clone)]
struct History {
    samples: [f32; TAPS],
    next: usize,
}

impl History {
    fn new() -> History {
        History {
            samples: [0.0; TAPS],
            next: 0,
        }
    }

    fn push(&mut self, sample: f32) {
        self.samples[self.next] = sample;
        self.next = (self.next + 1) % TAPS;
    }

    /// The filter's output for the samples pushed so far.
    fn filter(&self) -> f32 {
        let h = taps();
        let mut acc = 0.0f32;
        for (k, tap) in h.iter().enumerate() {
            // The newest sample meets the first tap.
            let at = (self.next + TAPS - 1 - k) % TAPS;
            acc += tap * self.samples[at];
        }
        acc
    }
}

fn to_i16(sample: f32) -> i16 {
    sample.round().clamp(i16::MIN as f32, i16::MAX as f32) as i16
}

/// 8 kHz to 16 kHz: zeros between the samples, then the low-pass (gain two, to keep the
/// level).
#[derive(Debug, Clone)]
pub struct Upsampler {
    history: History,
}

impl Default for Upsampler {
    fn default() -> Self {
        Upsampler::new()
    }
}

impl Upsampler {
    /// An upsampler whose memory is silence.
    pub fn new() -> Upsampler {
        Upsampler {
            history: History::new(),
        }
    }

    /// Twice as many samples as `input`, at 16 kHz.
    pub fn process(&mut self, input: &[i16]) -> Vec<i16> {
        let mut out = Vec::with_capacity(input.len() * 2);
        for &sample in input {
            self.history.push(f32::from(sample));
            out.push(to_i16(2.0 * self.history.filter()));
            self.history.push(0.0);
            out.push(to_i16(2.0 * self.history.filter()));
        }
        out
    }
}

/// 16 kHz to 8 kHz: the low-pass, then every second sample.
#[derive(Debug, Clone)]
pub struct Downsampler {
    history: History,
    odd: bool,
}

impl Default for Downsampler {
    fn default() -> Self {
        Downsampler::new()
    }
}

impl Downsampler {
    /// A downsampler whose memory is silence.
    pub fn new() -> Downsampler {
        Downsampler {
            history: History::new(),
            odd: false,
        }
    }

    /// Half as many samples as `input` (an odd sample waits for the next call), at 8 kHz.
    pub fn process(&mut self, input: &[i16]) -> Vec<i16> {
        let mut out = Vec::with_capacity(input.len() / 2 + 1);
        for &sample in input {
            self.history.push(f32::from(sample));
            if !self.odd {
                out.push(to_i16(self.history.filter()));
            }
            self.odd = !self.odd;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{goertzel_power_at, mean_power};

    fn sine(hz: f64, rate: f64, seconds: f64) -> Vec<i16> {
        (0..(rate * seconds) as usize)
            .map(|n| (8000.0 * (2.0 * std::f64::consts::PI * hz * n as f64 / rate).sin()) as i16)
            .collect()
    }

    /// Decibels of `part` relative to `whole`.
    fn db(part: f64, whole: f64) -> f64 {
        10.0 * (part / whole).log10()
    }

    /// Runs `samples` through in 20 ms frames.
    fn framed(samples: &[i16], frame: usize, mut step: impl FnMut(&[i16]) -> Vec<i16>) -> Vec<i16> {
        samples.chunks(frame).flat_map(&mut step).collect()
    }

    #[test]
    fn upsampling_keeps_a_tone_and_its_level_and_removes_the_image() {
        let input = sine(1000.0, 8000.0, 1.0);
        let mut up = Upsampler::new();
        let out = framed(&input, 160, |f| up.process(f));
        assert_eq!(out.len(), input.len() * 2);
        let settled = &out[1600..];
        let total = mean_power(settled);
        let tone = goertzel_power_at(settled, 1000.0, 16_000.0);
        assert!(
            db(tone, total) > -0.5,
            "the tone is {:.1} dB",
            db(tone, total)
        );
        // The level is kept (within half a dB of the input's).
        let level = db(total, mean_power(&input));
        assert!(level.abs() < 0.5, "level changed by {level:.2} dB");
        // The image at 8 kHz - 1 kHz = 7 kHz is gone.
        let image = goertzel_power_at(settled, 7000.0, 16_000.0);
        assert!(
            db(image, total) < -40.0,
            "image at {:.1} dB",
            db(image, total)
        );
    }

    #[test]
    fn downsampling_keeps_a_low_tone_and_does_not_fold_a_high_one() {
        let low = sine(1000.0, 16_000.0, 1.0);
        let high = sine(6000.0, 16_000.0, 1.0);
        let mut down = Downsampler::new();
        let kept = framed(&low, 320, |f| down.process(f));
        assert_eq!(kept.len(), low.len() / 2);
        let settled = &kept[800..];
        let level = db(mean_power(settled), mean_power(&low));
        assert!(level.abs() < 0.5, "level changed by {level:.2} dB");
        let mut down = Downsampler::new();
        let folded = framed(&high, 320, |f| down.process(f));
        // 6 kHz would fold to 2 kHz at 8 kHz: it is filtered out first.
        let alias = db(mean_power(&folded[800..]), mean_power(&high));
        assert!(alias < -40.0, "6 kHz came through at {alias:.1} dB");
    }

    #[test]
    fn up_then_down_gives_back_the_narrowband_signal() {
        let input = sine(440.0, 8000.0, 0.5);
        let mut up = Upsampler::new();
        let mut down = Downsampler::new();
        let out = framed(&input, 160, |f| down.process(&up.process(f)));
        assert_eq!(out.len(), input.len());
        // Each filter delays by (TAPS - 1) / 2 samples at 16 kHz: both, that many at 8 kHz.
        let delay = (TAPS - 1) / 2;
        let error: f64 = input[400..3600]
            .iter()
            .zip(&out[400 + delay..3600 + delay])
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
            .sum::<f64>()
            / 3200.0;
        assert!(
            db(error, mean_power(&input)) < -30.0,
            "error at {:.1} dB",
            db(error, mean_power(&input))
        );
    }
}
