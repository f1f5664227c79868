//! Sans-IO media core of pinbridge: RTP and RTCP, SRTP (RFC 3711), G.711, the jitter buffer, DTMF
//! (RFC 4733 events and in-band tones), the conference mixer, prompt and music players,
//! WAV decoding of the committed assets, and (with the `analysis` feature) pure audio
//! analysis helpers for tests and the load harness.
//!
//! Frames go in and frames come out. Time is always an argument (`now`): nothing in this
//! crate reads the clock, opens a socket, spawns a task or touches a file. The dial-in
//! driver owns those and calls into the types here once per packet and once per 20 ms
//! tick.
//!
//! The audio format everywhere is 8 kHz mono signed 16-bit PCM, handled in frames of
//! 20 ms ([`FRAME_SAMPLES`] samples, the [`Frame`] type).
//!
//! # How the drivers use it
//!
//! The driver runs every call and every room on one engine thread. Per call it keeps a
//! [`JitterBuffer`], a [`TelephoneEventReceiver`], a [`ReceiverStats`], an
//! [`RtpSender`], a [`PromptPlayer`] and, for phones that send no telephone-events, an
//! [`InbandDetector`].
//! - On each datagram: [`RtpPacket::parse`]; record it in [`ReceiverStats::record`]; if
//!   its payload type is the negotiated telephone-event, give it to
//!   [`TelephoneEventReceiver::push`] (a returned digit goes to the caller flow), else to
//!   [`JitterBuffer::push`]. Telephone-events never reach the jitter buffer, so a
//!   keypress is never heard by the others.
//! - Every 20 ms: [`JitterBuffer::pop`] gives the caller's frame. With in-band detection
//!   on, run [`InbandDetector::process`] on it and, if [`InbandDetector::suppress`] says
//!   so, use silence instead. In the IVR, play prompts with [`PromptPlayer::next_frame`]
//!   (a keypress calls [`PromptPlayer::stop`]: barge-in), encode with [`Codec::encode`]
//!   and send with [`RtpSender::write_packet`].
//! - Also call [`TelephoneEventReceiver::handle_timeout`] at its
//!   [`TelephoneEventReceiver::poll_timeout`], and build RTCP every few seconds with
//!   [`rtcp::CompoundBuilder`] from [`ReceiverStats::report`] and the sender's counters.
//!
//! Per room it keeps a [`Mixer`] (participants added with [`Mixer::add`] when
//! admitted, never while in the lobby) and, per node, one [`MusicOnHold`]. Every 20 ms:
//! each call's frame goes in with [`Mixer::set_input`]; [`Mixer::mix`] runs once; then
//! [`Mixer::output`] says per participant either [`MixOutput::Shared`] (the same bytes
//! for every listener with that codec: send them as they are) or [`MixOutput::Own`]
//! (a talker's mix without their own voice). [`MusicOnHold::tick`] runs once and
//! [`MusicOnHold::payload`] is sent to every lobby caller. Only the 12-byte RTP header
//! differs per listener.

#![warn(missing_docs)]

#[cfg(any(test, feature = "analysis"))]
pub mod analysis;
pub mod dtmf;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
pub mod g711;
pub mod jitter;
pub mod mixer;
pub mod player;
pub mod resample;
pub mod rtcp;
pub mod rtp;
pub mod srtp;
pub mod wav;

pub use dtmf::{DtmfDigit, InbandDetector, TelephoneEvent, TelephoneEventReceiver};
pub use g711::Codec;
pub use jitter::{JitterBuffer, JitterConfig, Playout, PlayoutKind};
pub use mixer::{MixOutput, Mixer, MixerConfig, ParticipantId};
pub use player::{Clip, MusicOnHold, PlayerState, PromptPlayer, ToneGenerator, ToneSegment};
pub use rtp::{ReceiverStats, RtpPacket, RtpSender};
pub use wav::{Wav, WavError};

/// The sample rate of every audio signal in this crate, in hertz.
pub const SAMPLE_RATE: u32 = 8000;

/// The length of one frame, in milliseconds.
pub const FRAME_MS: u32 = 20;

/// The number of samples in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;

/// One 20 ms frame of 8 kHz mono signed 16-bit PCM.
pub type Frame = [i16; FRAME_SAMPLES];

/// A frame of silence.
pub const SILENT_FRAME: Frame = [0; FRAME_SAMPLES];
