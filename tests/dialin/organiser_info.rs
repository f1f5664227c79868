//! Acceptance 1 (SIP INFO): as `organiser_rfc4733`, with every key sent as SIP
//! INFO (`application/dtmf-relay`).

use crate::common;

use common::phone::KeyMethod;

#[test]
fn the_organiser_starts_the_meeting_with_sip_info_keys() {
    common::phone::bridge::organiser_starts_the_meeting(KeyMethod::Info);
}
