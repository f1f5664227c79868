//! Acceptance 1 (RFC 4733): the organiser dials, enters the conference ID, presses star
//! and enters the right PIN, all as RTP telephone-events: joins as the organiser ("you
//! are joining as the organiser" correlated in the RTP it receives), the meeting has
//! started (`meeting show --json`), and the call ends cleanly with BYE.

use crate::common;

use common::phone::KeyMethod;

#[test]
fn the_organiser_starts_the_meeting_with_rfc4733_keys() {
    common::phone::bridge::organiser_starts_the_meeting(KeyMethod::Rfc4733);
}
