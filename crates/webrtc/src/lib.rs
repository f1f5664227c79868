//! Sans-IO WebRTC audio for browser participants: one [`Peer`] per browser, answering
//! the browser's SDP offer as an ICE-lite, DTLS-SRTP endpoint (str0m) on the one UDP
//! socket the driver shares between every browser, with Opus (PCMU as the fallback)
//! and 20 ms frames of PCM in and out.
//!
//! Like the other cores it never reads the clock, opens a socket or spawns a task: the
//! driver hands it datagrams and the time, and drains [`Peer::poll_output`] until it
//! returns the next deadline.
//!
//! - [`Peer::answer`] takes the offer and returns the peer and the SDP answer. The
//!   driver registers the peer before sending the answer: the browser's first STUN
//!   check may arrive before the answer does.
//! - [`Peer::accepts`] says whether a datagram on the shared socket is this peer's
//!   (STUN with its ICE credentials, or DTLS/SRTP from its nominated address).
//! - [`Peer::handle_datagram`] and [`Peer::handle_timeout`] feed it.
//! - [`Peer::send_frame`] encodes one 20 ms frame of the room's mix for the browser.
//! - [`Peer::poll_output`] yields [`PeerOutput::Transmit`], [`PeerOutput::Event`]
//!   ([`PeerEvent::Connected`], [`PeerEvent::Frame`] with one decoded 20 ms frame,
//!   [`PeerEvent::Disconnected`]) and, last, [`PeerOutput::Timeout`].
//!
//! The PCM rate is [`PeerConfig::sample_rate`]: Opus is coded at that rate (its RTP clock
//! is 48 kHz whatever the rate, RFC 7587); PCMU only at 8 kHz.

#![warn(missing_docs)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use opus_rs::{Application, OpusDecoder, OpusEncoder};
use str0m::change::SdpOffer;
use str0m::format::Codec as RtcCodec;
use str0m::media::{Direction, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use thiserror::Error;

/// The length of one frame.
pub const FRAME_MS: u32 = 20;

/// Opus's RTP clock rate (RFC 7587), whatever rate it is coded at.
const OPUS_CLOCK: u32 = 48_000;

/// The largest Opus packet written for one frame.
const MAX_OPUS_PACKET: usize = 1275;

/// How a peer codes its audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerConfig {
    /// The address of the shared UDP socket, offered as the one host candidate.
    pub local: SocketAddr,
    /// The PCM rate of frames in and out: 8000, 16000 or 48000.
    pub sample_rate: u32,
    /// The Opus encoder's complexity, 0 (cheapest) to 10.
    pub opus_complexity: u8,
    /// The Opus bitrate in bits per second.
    pub opus_bitrate: u32,
}

impl PeerConfig {
    /// Narrowband frames (the dial-in mixer's 8 kHz) on `local`, Opus at complexity 5
    /// and 24 kbit/s.
    pub fn new(local: SocketAddr) -> PeerConfig {
        PeerConfig {
            local,
            sample_rate: 8000,
            opus_complexity: 5,
            opus_bitrate: 24_000,
        }
    }

    /// Samples in one frame.
    pub fn frame_samples(&self) -> usize {
        (self.sample_rate * FRAME_MS / 1000) as usize
    }
}

/// The codec agreed with the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    /// Opus (RFC 7587), the browsers' default.
    Opus,
    /// G.711 µ-law, when the offer has no Opus.
    Pcmu,
}

/// Why an offer cannot be answered. Nothing is kept of a refused offer.
#[derive(Debug, Error)]
pub enum OfferError {
    /// The text is not an SDP offer str0m can read.
    #[error("malformed SDP offer: {0}")]
    Malformed(String),
    /// The offer was read but could not be accepted.
    #[error("offer not accepted: {0}")]
    Refused(String),
    /// The offer has no audio the peer can receive and send.
    #[error("the offer has no audio stream")]
    NoAudio,
    /// The audio offers neither Opus nor (at 8 kHz) PCMU.
    #[error("the offer has no codec in common (Opus, or PCMU at 8 kHz)")]
    NoCommonCodec,
    /// The configuration is not one the peer can code.
    #[error("unsupported peer configuration: {0}")]
    Config(&'static str),
}

/// Why an input was not taken. The peer goes on; the driver logs or counts it.
#[derive(Debug, Error)]
pub enum PeerError {
    /// The datagram is not one the WebRTC stack can take.
    #[error("datagram refused: {0}")]
    Datagram(String),
    /// A frame has the wrong number of samples.
    #[error("a frame of {got} samples, not {expected}")]
    FrameLength {
        /// What a frame must have.
        expected: usize,
        /// What was given.
        got: usize,
    },
    /// The WebRTC stack refused an operation.
    #[error("webrtc: {0}")]
    Rtc(String),
}

/// What happened to a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// ICE and DTLS are up: audio flows.
    Connected,
    /// One decoded 20 ms frame from the browser.
    Frame(Vec<i16>),
    /// The browser is gone (ICE consent lost or the connection closed).
    Disconnected,
}

/// What the driver must do next.
#[derive(Debug)]
pub enum PeerOutput {
    /// Send `contents` from the shared socket to `destination`.
    Transmit {
        /// Where to.
        destination: SocketAddr,
        /// The datagram.
        contents: Vec<u8>,
    },
    /// Something the application must know.
    Event(PeerEvent),
    /// Nothing more until this time (or the next input).
    Timeout(Instant),
}

enum Coder {
    Opus {
        encoder: Box<OpusEncoder>,
        decoder: Box<OpusDecoder>,
    },
    Pcmu,
}

/// One browser's audio session.
pub struct Peer {
    rtc: Rtc,
    config: PeerConfig,
    mid: Mid,
    payload_type: str0m::media::Pt,
    codec: AudioCodec,
    coder: Coder,
    /// The RTP time of the next frame sent, in units of the codec's clock.
    rtp_time: u64,
    clock: u32,
    connected: bool,
    ended: bool,
    events: VecDeque<PeerEvent>,
    decoded: Vec<f32>,
}

impl Peer {
    /// Answers a browser's offer: ICE-lite with the one host candidate
    /// [`PeerConfig::local`], DTLS as the passive side, the first audio section
    /// answered with Opus (or PCMU).
    pub fn answer(
        config: PeerConfig,
        offer: &str,
        now: Instant,
    ) -> Result<(Peer, String), OfferError> {
        if !matches!(config.sample_rate, 8000 | 16000 | 48000) {
            return Err(OfferError::Config(
                "the sample rate must be 8000, 16000 or 48000",
            ));
        }
        let offer =
            SdpOffer::from_sdp_string(offer).map_err(|e| OfferError::Malformed(e.to_string()))?;
        let offers_audio = offer
            .media_lines
            .iter()
            .any(|m| !m.disabled && m.typ.to_string() == "audio");
        if !offers_audio {
            return Err(OfferError::NoAudio);
        }
        let mut rtc = RtcConfig::new()
            .set_ice_lite(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_pcmu(config.sample_rate == 8000, false)
            .build(now);
        let candidate = Candidate::host(config.local, "udp")
            .map_err(|_| OfferError::Config("the local address is not a usable host candidate"))?;
        rtc.add_local_candidate(candidate);
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| OfferError::Refused(e.to_string()))?;
        // The first audio section answered send-and-receive (others are answered as
        // str0m does and left unused).
        let audio = answer
            .media_lines
            .iter()
            .find(|m| {
                !m.disabled && m.typ.to_string() == "audio" && m.direction() == Direction::SendRecv
            })
            .map(|m| m.mid());
        // Audio was offered: a section left unanswered had no codec in common.
        let mid = audio.ok_or(OfferError::NoCommonCodec)?;
        let writer = rtc.writer(mid).ok_or(OfferError::NoAudio)?;
        let chosen = writer
            .payload_params()
            .find(|p| p.spec().codec == RtcCodec::Opus)
            .or_else(|| {
                writer
                    .payload_params()
                    .find(|p| p.spec().codec == RtcCodec::PCMU)
            })
            .map(|p| (p.pt(), p.spec().codec, p.spec().clock_rate.get()));
        let (payload_type, codec, clock) = chosen.ok_or(OfferError::NoCommonCodec)?;
        let (codec, coder) = match codec {
            RtcCodec::Opus => {
                let mut encoder = OpusEncoder::new(config.sample_rate as i32, 1, Application::Voip)
                    .map_err(|_| OfferError::Config("the Opus encoder refused the rate"))?;
                encoder.bitrate_bps = config.opus_bitrate as i32;
                encoder.complexity = config.opus_complexity.min(10) as i32;
                let decoder = OpusDecoder::new(config.sample_rate as i32, 1)
                    .map_err(|_| OfferError::Config("the Opus decoder refused the rate"))?;
                (
                    AudioCodec::Opus,
                    Coder::Opus {
                        encoder: Box::new(encoder),
                        decoder: Box::new(decoder),
                    },
                )
            }
            _ => (AudioCodec::Pcmu, Coder::Pcmu),
        };
        let peer = Peer {
            rtc,
            config,
            mid,
            payload_type,
            codec,
            coder,
            rtp_time: 0,
            clock: if codec == AudioCodec::Opus {
                OPUS_CLOCK
            } else {
                clock
            },
            connected: false,
            ended: false,
            events: VecDeque::new(),
            decoded: vec![0.0; config.frame_samples() * 6],
        };
        Ok((peer, answer.to_sdp_string()))
    }

    /// The codec agreed.
    pub fn codec(&self) -> AudioCodec {
        self.codec
    }

    /// Whether ICE and DTLS are up.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Whether the session is over.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Whether a datagram that came to `destination` (the shared socket) from `source`
    /// belongs to this peer.
    pub fn accepts(
        &self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        let Ok(contents) = datagram.try_into() else {
            return false;
        };
        self.rtc.accepts(&Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination,
                contents,
            },
        ))
    }

    /// Takes one datagram of this peer.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), PeerError> {
        let contents = datagram
            .try_into()
            .map_err(|e: str0m::error::NetError| PeerError::Datagram(e.to_string()))?;
        self.rtc
            .handle_input(Input::Receive(
                now,
                Receive {
                    proto: Protocol::Udp,
                    source,
                    destination,
                    contents,
                },
            ))
            .map_err(|e| PeerError::Datagram(e.to_string()))
    }

    /// Lets time pass to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            tracing::debug!(error = %e, "webrtc timeout handling failed");
        }
    }

    /// Encodes one 20 ms frame for the browser ([`PeerConfig::frame_samples`] samples).
    /// Frames given before the connection is up are dropped.
    pub fn send_frame(&mut self, now: Instant, frame: &[i16]) -> Result<(), PeerError> {
        let expected = self.config.frame_samples();
        if frame.len() != expected {
            return Err(PeerError::FrameLength {
                expected,
                got: frame.len(),
            });
        }
        if !self.connected || self.ended {
            return Ok(());
        }
        let payload = match &mut self.coder {
            Coder::Opus { encoder, .. } => {
                let mut out = vec![0u8; MAX_OPUS_PACKET];
                let n = encoder
                    .encode_i16(frame, frame.len(), &mut out)
                    .map_err(|e| PeerError::Rtc(format!("opus encoder: {e:?}")))?;
                out.truncate(n);
                out
            }
            Coder::Pcmu => frame
                .iter()
                .map(|&s| pinbridge_media::Codec::Pcmu.encode_sample(s))
                .collect(),
        };
        let time = MediaTime::new(
            self.rtp_time,
            str0m::media::Frequency::new(self.clock).expect("a clock rate"),
        );
        self.rtp_time += u64::from(self.clock * FRAME_MS / 1000);
        let Some(writer) = self.rtc.writer(self.mid) else {
            return Ok(());
        };
        writer
            .write(self.payload_type, now, time, payload)
            .map_err(|e| PeerError::Rtc(e.to_string()))
    }

    /// The next thing to do: transmits and events first, then the next deadline.
    pub fn poll_output(&mut self) -> PeerOutput {
        loop {
            if let Some(event) = self.events.pop_front() {
                return PeerOutput::Event(event);
            }
            let output = match self.rtc.poll_output() {
                Ok(output) => output,
                Err(e) => {
                    tracing::debug!(error = %e, "webrtc session failed");
                    self.end();
                    continue;
                }
            };
            match output {
                Output::Transmit(t) => {
                    return PeerOutput::Transmit {
                        destination: t.destination,
                        contents: t.contents.to_vec(),
                    };
                }
                Output::Timeout(at) => {
                    if let Some(event) = self.events.pop_front() {
                        return PeerOutput::Event(event);
                    }
                    return PeerOutput::Timeout(at);
                }
                Output::Event(event) => self.event(event),
            }
        }
    }

    fn end(&mut self) {
        if !self.ended {
            self.ended = true;
            self.connected = false;
            self.rtc.disconnect();
            self.events.push_back(PeerEvent::Disconnected);
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Connected => {
                self.connected = true;
                self.events.push_back(PeerEvent::Connected);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => self.end(),
            Event::MediaData(data) if data.mid == self.mid && data.pt == self.payload_type => {
                if let Some(frame) = self.decode(&data.data) {
                    self.events.push_back(PeerEvent::Frame(frame));
                }
            }
            _ => {}
        }
    }

    fn decode(&mut self, payload: &[u8]) -> Option<Vec<i16>> {
        let samples = self.config.frame_samples();
        match &mut self.coder {
            Coder::Opus { decoder, .. } => {
                let max = self.decoded.len();
                match decoder.decode(payload, max, &mut self.decoded) {
                    Ok(n) => Some(
                        self.decoded[..n.min(max)]
                            .iter()
                            .map(|&s| (s.clamp(-1.0, 1.0) * 32767.0) as i16)
                            .collect(),
                    ),
                    Err(e) => {
                        tracing::debug!(error = ?e, "undecodable Opus packet");
                        None
                    }
                }
            }
            Coder::Pcmu => Some(
                payload
                    .iter()
                    .take(samples * 6)
                    .map(|&b| pinbridge_media::Codec::Pcmu.decode_sample(b))
                    .collect(),
            ),
        }
    }
}
