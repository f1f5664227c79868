//! DTMF: the sixteen keys, RFC 4733 telephone-event reception, and in-band tone
//! detection on decoded audio.
//!
//! Keypresses never reach the other participants through the mix. RFC 4733 events travel
//! in their own payload type, which the driver routes to [`TelephoneEventReceiver`] and
//! never to the jitter buffer, so they are simply not audio. In-band tones are audio:
//! [`InbandDetector::suppress`] tells the driver to replace the frame with silence
//! before it reaches the mixer. The frame that holds the very start of a tone may pass
//! before the detector is sure, so up to about 20 ms of a tone can leak.

mod digit;
mod inband;
mod rfc4733;

pub use digit::DtmfDigit;
pub use inband::{InbandConfig, InbandDetector};
pub use rfc4733::{EVENT_TIMEOUT, TelephoneEvent, TelephoneEventError, TelephoneEventReceiver};
