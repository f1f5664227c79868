//! A decoder for the committed WAV assets: RIFF/WAVE, PCM, 8 kHz, mono, 16-bit. It reads
//! from a byte slice (the driver reads the file) and rejects every other format with an
//! error that says what was found.

use thiserror::Error;

use crate::{SAMPLE_RATE, player::Clip};

/// Why bytes are not a WAV file this crate plays.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WavError {
    /// Not a RIFF/WAVE file.
    #[error("not a riff/wave file")]
    NotWave,
    /// A chunk runs past the end of the data.
    #[error("truncated {0} chunk")]
    Truncated(&'static str),
    /// No `fmt ` chunk before the `data` chunk.
    #[error("missing fmt chunk")]
    MissingFormat,
    /// No `data` chunk.
    #[error("missing data chunk")]
    MissingData,
    /// Compressed or floating-point audio.
    #[error("unsupported wav encoding {0}: only integer pcm is supported")]
    UnsupportedEncoding(u16),
    /// The format is PCM but not 8 kHz mono 16-bit.
    #[error(
        "unsupported format: {sample_rate} Hz, {channels} channel(s), {bits} bits; expected 8000 Hz mono 16-bit"
    )]
    UnsupportedFormat {
        /// The file's sample rate.
        sample_rate: u32,
        /// The file's channel count.
        channels: u16,
        /// The file's bits per sample.
        bits: u16,
    },
}

const FORMAT_PCM: u16 = 1;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// Decoded 8 kHz mono 16-bit PCM audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wav {
    samples: Vec<i16>,
}

fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

impl Wav {
    /// Decodes a WAV file held in memory.
    pub fn decode(bytes: &[u8]) -> Result<Wav, WavError> {
        if bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
            return Err(WavError::NotWave);
        }
        let mut offset = 12;
        let mut format_seen = false;
        while offset + 8 <= bytes.len() {
            let id = &bytes[offset..offset + 4];
            let size = le32(bytes, offset + 4).ok_or(WavError::Truncated("chunk header"))? as usize;
            let body_start = offset + 8;
            match id {
                b"fmt " => {
                    let body = bytes
                        .get(body_start..body_start.saturating_add(size))
                        .ok_or(WavError::Truncated("fmt"))?;
                    let field = |at| le16(body, at).ok_or(WavError::Truncated("fmt"));
                    let mut encoding = field(0)?;
                    let channels = field(2)?;
                    let sample_rate = le32(body, 4).ok_or(WavError::Truncated("fmt"))?;
                    let bits = field(14)?;
                    if encoding == FORMAT_EXTENSIBLE {
                        // The sub-format GUID starts with the real format code.
                        encoding = field(24)?;
                    }
                    if encoding != FORMAT_PCM {
                        return Err(WavError::UnsupportedEncoding(encoding));
                    }
                    if sample_rate != SAMPLE_RATE || channels != 1 || bits != 16 {
                        return Err(WavError::UnsupportedFormat {
                            sample_rate,
                            channels,
                            bits,
                        });
                    }
                    format_seen = true;
                }
                b"data" => {
                    if !format_seen {
                        return Err(WavError::MissingFormat);
                    }
                    // Writers that stream may leave the size too large; take what is there.
                    let end = body_start.saturating_add(size).min(bytes.len());
                    let body = bytes
                        .get(body_start..end)
                        .ok_or(WavError::Truncated("data"))?;
                    let samples = body
                        .chunks_exact(2)
                        .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
                        .collect();
                    return Ok(Wav { samples });
                }
                _ => {}
            }
            // Chunks are padded to an even length.
            offset = body_start.saturating_add(size).saturating_add(size & 1);
        }
        Err(WavError::MissingData)
    }

    /// Encodes samples as an 8 kHz mono 16-bit WAV file (for recordings and tests).
    pub fn encode(samples: &[i16]) -> Vec<u8> {
        let data_len = (samples.len() * 2) as u32;
        let mut bytes = Vec::with_capacity(44 + samples.len() * 2);
        bytes.extend_from_slice(b"RIFF");
        bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
        bytes.extend_from_slice(b"WAVEfmt ");
        bytes.extend_from_slice(&16u32.to_le_bytes());
        bytes.extend_from_slice(&FORMAT_PCM.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
        bytes.extend_from_slice(&(SAMPLE_RATE * 2).to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&16u16.to_le_bytes());
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&data_len.to_le_bytes());
        for sample in samples {
            bytes.extend_from_slice(&sample.to_le_bytes());
        }
        bytes
    }

    /// The samples.
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// The samples, as a shareable clip for the players.
    pub fn into_clip(self) -> Clip {
        Clip::new(self.samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrips_its_own_encoding() {
        let samples: Vec<i16> = (0..1000).map(|i| (i * 37 - 18000) as i16).collect();
        let wav = Wav::decode(&Wav::encode(&samples)).unwrap();
        assert_eq!(wav.samples(), &samples[..]);
    }

    #[test]
    fn decodes_every_committed_asset() {
        let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets");
        let hold =
            Wav::decode(&std::fs::read(format!("{assets}/music/hold.wav")).unwrap()).unwrap();
        assert!(hold.samples().len() >= 60 * 8000 - 160);
        let welcome = std::fs::read(format!("{assets}/prompts/en-US/welcome.wav")).unwrap();
        let welcome = Wav::decode(&welcome).unwrap();
        assert!(welcome.samples().len() > 8000);
    }

    #[test]
    fn skips_unknown_chunks() {
        let mut bytes = Wav::encode(&[1, 2, 3]);
        // Insert an odd-sized LIST chunk between fmt and data.
        let list = [b"LIST".as_slice(), &3u32.to_le_bytes(), &[7, 7, 7, 0]].concat();
        bytes.splice(36..36, list);
        assert_eq!(Wav::decode(&bytes).unwrap().samples(), &[1, 2, 3]);
    }

    #[test]
    fn rejects_other_formats_clearly() {
        assert_eq!(Wav::decode(b"nonsense"), Err(WavError::NotWave));
        let mut stereo = Wav::encode(&[0; 4]);
        stereo[22] = 2;
        assert_eq!(
            Wav::decode(&stereo),
            Err(WavError::UnsupportedFormat {
                sample_rate: 8000,
                channels: 2,
                bits: 16
            })
        );
        let mut wideband = Wav::encode(&[0; 4]);
        wideband[24..28].copy_from_slice(&16000u32.to_le_bytes());
        let message = Wav::decode(&wideband).unwrap_err().to_string();
        assert_eq!(
            message,
            "unsupported format: 16000 Hz, 1 channel(s), 16 bits; expected 8000 Hz mono 16-bit"
        );
        let mut float = Wav::encode(&[0; 4]);
        float[20] = 3;
        assert_eq!(Wav::decode(&float), Err(WavError::UnsupportedEncoding(3)));
        let header_only = &Wav::encode(&[])[..36];
        assert_eq!(Wav::decode(header_only), Err(WavError::MissingData));
        let mut cut = Wav::encode(&[0; 4]);
        cut.truncate(30);
        assert_eq!(Wav::decode(&cut), Err(WavError::Truncated("fmt")));
    }
}
