//! Pure audio analysis for tests and checks: tone power by Goertzel, RMS level, and
//! normalised cross-correlation that finds a reference (a prompt, the hold music) inside
//! received audio whatever the time offset and despite G.711 quantisation.

use crate::SAMPLE_RATE;

/// The power of the `hz` component of `samples` (at 8 kHz), scaled so that a sine of
/// amplitude A at that frequency gives A²/2, the mean power of the sine itself.
pub fn goertzel_power(samples: &[i16], hz: f64) -> f64 {
    goertzel_power_at(samples, hz, f64::from(SAMPLE_RATE))
}

/// [`goertzel_power`] for samples at `rate` hertz.
pub fn goertzel_power_at(samples: &[i16], hz: f64, rate: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let coefficient = 2.0 * (2.0 * std::f64::consts::PI * hz / rate).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &sample in samples {
        let s0 = sample as f64 + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let n = samples.len() as f64;
    2.0 * (s1 * s1 + s2 * s2 - coefficient * s1 * s2) / (n * n)
}

/// The mean power of `samples` (A²/2 for a sine of amplitude A).
pub fn mean_power(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.iter().map(|&s| s as f64 * s as f64).sum::<f64>() / samples.len() as f64
}

/// The root-mean-square level of `samples`, in sample units.
pub fn rms(samples: &[i16]) -> f64 {
    mean_power(samples).sqrt()
}

/// The share of the power of `samples` that lies at `hz` (0–1, 1 for a pure tone).
pub fn tone_share(samples: &[i16], hz: f64) -> f64 {
    let total = mean_power(samples);
    if total == 0.0 {
        return 0.0;
    }
    goertzel_power(samples, hz) / total
}

/// Where a needle best matches inside a haystack.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match {
    /// The sample offset in the haystack at which the needle starts.
    pub offset: usize,
    /// The normalised cross-correlation there, from −1 to 1 (1: identical up to gain).
    pub score: f64,
}

/// Finds the offset at which `needle` best matches a stretch of `haystack`, by
/// normalised cross-correlation over every offset where the needle fits entirely.
///
/// To prove a caller heard a prompt, pass the prompt asset as the needle and the received
/// audio as the haystack; to prove a caller heard the hold music, pass a stretch of the
/// received audio as the needle and the music as the haystack (with [`locate_looping`]
/// when the stretch may span the loop point). A score above about 0.8 means a match;
/// G.711 alone leaves it above 0.99, unrelated audio stays well below 0.5.
/// Returns `None` when the needle is empty or silent, or longer than the haystack.
pub fn locate(needle: &[i16], haystack: &[i16]) -> Option<Match> {
    let n = needle.len();
    if n == 0 || n > haystack.len() {
        return None;
    }
    let needle_mean = needle.iter().map(|&s| s as f64).sum::<f64>() / n as f64;
    let centred: Vec<f64> = needle.iter().map(|&s| s as f64 - needle_mean).collect();
    let needle_energy: f64 = centred.iter().map(|v| v * v).sum();
    if needle_energy == 0.0 {
        return None;
    }
    let products = cross_correlate(&centred, haystack);
    // Running sums of the haystack give each window's energy about its mean.
    let mut prefix = vec![0.0f64; haystack.len() + 1];
    let mut prefix_sq = vec![0.0f64; haystack.len() + 1];
    for (i, &s) in haystack.iter().enumerate() {
        prefix[i + 1] = prefix[i] + s as f64;
        prefix_sq[i + 1] = prefix_sq[i] + s as f64 * s as f64;
    }
    let mut best: Option<Match> = None;
    for offset in 0..=haystack.len() - n {
        let sum = prefix[offset + n] - prefix[offset];
        let sum_sq = prefix_sq[offset + n] - prefix_sq[offset];
        let window_energy = sum_sq - sum * sum / n as f64;
        // Skip near-silent windows, where the score is noise divided by noise.
        if window_energy <= needle_energy * 1e-4 {
            continue;
        }
        let score = products[offset] / (needle_energy * window_energy).sqrt();
        if best.is_none_or(|b| score > b.score) {
            best = Some(Match { offset, score });
        }
    }
    best
}

/// [`locate`] in a haystack that loops (music on hold): the needle may start near the
/// end and continue from the beginning. The offset is within the original haystack.
pub fn locate_looping(needle: &[i16], haystack: &[i16]) -> Option<Match> {
    if haystack.is_empty() {
        return None;
    }
    let mut extended = Vec::with_capacity(haystack.len() + needle.len());
    while extended.len() < haystack.len() + needle.len() {
        let room = haystack.len() + needle.len() - extended.len();
        extended.extend_from_slice(&haystack[..room.min(haystack.len())]);
    }
    let found = locate(needle, &extended)?;
    Some(Match {
        offset: found.offset % haystack.len(),
        ..found
    })
}

/// `result[k] = Σ needle[i] · haystack[k + i]` for every k where the needle fits, by FFT.
fn cross_correlate(needle: &[f64], haystack: &[i16]) -> Vec<f64> {
    let size = (haystack.len() + needle.len()).next_power_of_two();
    let mut a: Vec<(f64, f64)> = vec![(0.0, 0.0); size];
    let mut b: Vec<(f64, f64)> = vec![(0.0, 0.0); size];
    for (slot, &s) in a.iter_mut().zip(haystack) {
        slot.0 = s as f64;
    }
    for (slot, &v) in b.iter_mut().zip(needle) {
        slot.0 = v;
    }
    fft(&mut a, false);
    fft(&mut b, false);
    for (x, y) in a.iter_mut().zip(&b) {
        // Multiply by the conjugate: correlation rather than convolution.
        *x = (x.0 * y.0 + x.1 * y.1, x.1 * y.0 - x.0 * y.1);
    }
    fft(&mut a, true);
    let scale = 1.0 / size as f64;
    a.iter()
        .take(haystack.len() - needle.len() + 1)
        .map(|c| c.0 * scale)
        .collect()
}

/// An in-place iterative radix-2 FFT; `data.len()` must be a power of two.
fn fft(data: &mut [(f64, f64)], inverse: bool) {
    let n = data.len();
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            data.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let angle = 2.0 * std::f64::consts::PI / len as f64 * if inverse { 1.0 } else { -1.0 };
        let step = (angle.cos(), angle.sin());
        for start in (0..n).step_by(len) {
            let mut w = (1.0f64, 0.0f64);
            for k in 0..len / 2 {
                let u = data[start + k];
                let v = data[start + k + len / 2];
                let t = (v.0 * w.0 - v.1 * w.1, v.0 * w.1 + v.1 * w.0);
                data[start + k] = (u.0 + t.0, u.1 + t.1);
                data[start + k + len / 2] = (u.0 - t.0, u.1 - t.1);
                w = (w.0 * step.0 - w.1 * step.1, w.0 * step.1 + w.1 * step.0);
            }
        }
        len <<= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::g711::Codec;
    use crate::player::{ToneGenerator, ToneSegment};
    use crate::wav::Wav;

    fn asset(path: &str) -> Vec<i16> {
        let full = format!("{}/../../assets/{path}", env!("CARGO_MANIFEST_DIR"));
        Wav::decode(&std::fs::read(full).unwrap())
            .unwrap()
            .samples()
            .to_vec()
    }

    fn through_g711(samples: &[i16], codec: Codec) -> Vec<i16> {
        samples
            .iter()
            .map(|&s| codec.decode_sample(codec.encode_sample(s)))
            .collect()
    }

    #[test]
    fn goertzel_and_rms_of_a_tone() {
        let tone = ToneGenerator::new(vec![ToneSegment::tone(1000.0, 10_000.0, 200)]).render();
        let expected = 10_000.0f64 * 10_000.0 / 2.0;
        let power = goertzel_power(&tone, 1000.0);
        // The 2 ms ramps at each end take about 2 % of the power.
        assert!((power / expected - 1.0).abs() < 0.03, "{power} {expected}");
        assert!(goertzel_power(&tone, 1300.0) < expected * 1e-3);
        assert!((rms(&tone) - 10_000.0 / 2f64.sqrt()).abs() < 100.0);
        assert!(tone_share(&tone, 1000.0) > 0.97);
        assert_eq!(rms(&[]), 0.0);
    }

    #[test]
    fn finds_a_prompt_inside_delayed_g711_audio() {
        let welcome = asset("prompts/en-US/welcome.wav");
        let other = asset("prompts/en-US/goodbye.wav");
        // What a caller might record: 0.37 s of silence, the greeting through µ-law, then
        // another prompt.
        let mut received = vec![0i16; 2960];
        received.extend(through_g711(&welcome, Codec::Pcmu));
        received.extend(through_g711(&other, Codec::Pcmu));
        let found = locate(&welcome, &received).unwrap();
        assert_eq!(found.offset, 2960);
        assert!(found.score > 0.99, "{found:?}");
        // A different prompt is not mistaken for the greeting.
        let pin_invalid = asset("prompts/en-US/pin-invalid.wav");
        let wrong = locate(&pin_invalid, &received).unwrap();
        assert!(wrong.score < 0.5, "{wrong:?}");
    }

    #[test]
    fn finds_received_hold_music_in_the_asset_across_the_loop_point() {
        let music = asset("music/hold.wav");
        // Two seconds that start 1.5 s before the end of the loop, through A-law.
        let start = music.len() - 12_000;
        let mut heard: Vec<i16> = music[start..].to_vec();
        heard.extend_from_slice(&music[..4000]);
        let heard = through_g711(&heard, Codec::Pcma);
        let found = locate_looping(&heard, &music).unwrap();
        assert_eq!(found.offset, start);
        assert!(found.score > 0.99, "{found:?}");
        // Speech is not the music.
        let speech = asset("prompts/en-US/lobby-wait.wav");
        let wrong = locate_looping(&speech[..16_000], &music).unwrap();
        assert!(wrong.score < 0.5, "{wrong:?}");
    }

    #[test]
    fn empty_or_silent_needles_find_nothing() {
        assert_eq!(locate(&[], &[1, 2, 3]), None);
        assert_eq!(locate(&[0; 4], &[1, 2, 3, 4, 5]), None);
        assert_eq!(locate(&[1, 2, 3], &[1, 2]), None);
        assert_eq!(locate_looping(&[1, 2], &[]), None);
    }
}
