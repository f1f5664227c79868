//! What the callers say and what they are checked to hear.
//!
//! Every caller streams a committed prompt of `assets/prompts/` (recorded or synthesised
//! speech, CC BY-SA 3.0 like every asset) as G.711 µ-law, looped for the whole call.
//! What comes back is checked for level: a 20 ms frame counts as voiced when its RMS is
//! above [`VOICED_RMS`], and a caller heard something when its RMS over the check is
//! above [`HEARD_RMS`]. In a room where the others speak the mix is never silent for
//! long, and the hold music in the lobby never is.

use std::path::Path;

use pinbridge_media::{Codec, FRAME_SAMPLES, Wav};

use crate::Error;

/// The prompt every caller speaks, relative to `assets/`: 21 s of speech.
pub const SPEECH: &str = "prompts/en-US/help.wav";

/// A frame whose RMS is above this counts as voiced (about −50 dBFS).
pub const VOICED_RMS: f64 = 100.0;

/// A caller whose RMS over the check is above this heard something (about −44 dBFS).
pub const HEARD_RMS: f64 = 200.0;

/// The speech, µ-law encoded, a whole number of 20 ms frames.
pub fn speech_ulaw(assets: &Path) -> Result<Vec<u8>, Error> {
    let path = assets.join(SPEECH);
    let bytes =
        std::fs::read(&path).map_err(|e| Error::new(format!("read {}: {e}", path.display())))?;
    let wav =
        Wav::decode(&bytes).map_err(|e| Error::new(format!("decode {}: {e:?}", path.display())))?;
    let samples = wav.samples();
    let frames = samples.len() / FRAME_SAMPLES;
    if frames == 0 {
        return Err(Error::new(format!("{} holds no audio", path.display())));
    }
    let mut out = vec![0u8; frames * FRAME_SAMPLES];
    Codec::Pcmu.encode(&samples[..out.len()], &mut out);
    Ok(out)
}

/// How long a WAV asset plays.
pub fn duration_of(path: &Path) -> Result<std::time::Duration, Error> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::new(format!("read {}: {e}", path.display())))?;
    let wav =
        Wav::decode(&bytes).map_err(|e| Error::new(format!("decode {}: {e:?}", path.display())))?;
    Ok(std::time::Duration::from_millis(
        wav.samples().len() as u64 * 1000 / u64::from(pinbridge_media::SAMPLE_RATE),
    ))
}

/// The square of every decoded G.711 code, so a frame's energy is 160 look-ups.
pub struct EnergyTable {
    squares: [[u32; 256]; 2],
}

impl Default for EnergyTable {
    fn default() -> Self {
        let mut squares = [[0u32; 256]; 2];
        for (law, codec) in [Codec::Pcmu, Codec::Pcma].into_iter().enumerate() {
            for code in 0..=255u8 {
                let s = i32::from(codec.decode_sample(code));
                squares[law][code as usize] = (s * s) as u32;
            }
        }
        EnergyTable { squares }
    }
}

impl EnergyTable {
    /// The sum of squared samples of a G.711 payload (payload type 0 or 8).
    pub fn energy(&self, payload_type: u8, payload: &[u8]) -> u64 {
        let table = &self.squares[usize::from(payload_type == 8)];
        payload.iter().map(|&c| u64::from(table[c as usize])).sum()
    }
}

/// What one caller received over a check.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Heard {
    /// G.711 packets received.
    pub packets: u64,
    /// Of them, frames above [`VOICED_RMS`].
    pub voiced: u64,
    /// Sum of squared samples of every packet.
    pub energy: u64,
    /// Samples in them.
    pub samples: u64,
    /// Packets the sender's sequence numbers say never arrived (where it is tracked).
    pub missing: u64,
}

impl Heard {
    /// Adds one received audio packet.
    pub fn add(&mut self, table: &EnergyTable, payload_type: u8, payload: &[u8]) {
        let energy = table.energy(payload_type, payload);
        self.packets += 1;
        self.energy += energy;
        self.samples += payload.len() as u64;
        if !payload.is_empty() {
            let rms = (energy as f64 / payload.len() as f64).sqrt();
            if rms > VOICED_RMS {
                self.voiced += 1;
            }
        }
    }

    /// RMS over everything received.
    pub fn rms(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            (self.energy as f64 / self.samples as f64).sqrt()
        }
    }

    /// Whether this sounds like a caller who hears the room (or the music).
    pub fn heard_audio(&self) -> bool {
        self.packets > 0 && self.rms() > HEARD_RMS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_not_heard_and_speech_is() {
        let table = EnergyTable::default();
        let mut silent = Heard::default();
        silent.add(&table, 0, &[0xFF; 160]);
        assert!(!silent.heard_audio());
        assert_eq!(silent.voiced, 0);
        let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets");
        let speech = speech_ulaw(&assets).unwrap();
        let mut heard = Heard::default();
        for frame in speech.chunks(160) {
            heard.add(&table, 0, frame);
        }
        assert!(heard.heard_audio(), "rms {}", heard.rms());
        assert!(heard.voiced * 2 > heard.packets, "{heard:?}");
    }
}
