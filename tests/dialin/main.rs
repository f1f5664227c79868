//! The dial-in tests: `pinbridge serve` answering real phones (SIPp, baresip, a scripted
//! SIP/RTP phone) on loopback, what they hear checked with `pinbridge-media`'s analysis.
//!
//! One module per behaviour; they share the helpers of `tests/common/` and the test kit.

#[path = "../common/mod.rs"]
mod common;

mod accept_backoff;
mod alternate_language;
mod anonymous_start;
mod bye;
mod cancel;
mod flood;
mod garbage_and_malformed;
mod greeting;
mod harness_loopback;
mod key_methods;
mod late_offer;
mod linphone;
mod lobby_bypass;
mod lobby_hold_music_admit;
mod organiser_info;
mod organiser_joins_running_meeting;
mod organiser_rfc4733;
mod organiser_tcp;
mod pin_guessing;
mod retransmitted_invite;
mod rfc4475;
mod rtp_latching;
mod smoke;
mod tls;
mod trunk_allow;
mod wrong_conference_id;
mod wrong_pin;
