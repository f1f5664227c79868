//! Linphone (`linphonec`, headless, in file mode) dials in and completes the organiser
//! flow: conference ID, star and PIN as its RFC 4733 keys; the meeting starts with it as
//! the organiser and it hears the prompt that says so.

use crate::common;

use std::time::Duration;

use common::phone::bridge;
use common::phone::*;

#[test]
fn linphone_starts_the_meeting_as_the_organiser() {
    let bridge = bridge::start(&[]);
    let conference = bridge.meeting(&[]);
    let mut phone = Linphone::start(900.0);
    phone.command(&format!("call sip:{}@{}", bridge.number, bridge.sip_udp));
    phone.wait_printed("Call 1 with", Duration::from_secs(20));
    phone.wait_printed("connected", Duration::from_secs(30));
    // A person's pace: the conference ID, then star while the organiser prompt plays,
    // then the PIN.
    for keys in [
        format!("{conference}#"),
        "*".to_owned(),
        format!("{}#", bridge.pin),
    ] {
        phone.command(&keys);
        std::thread::sleep(Duration::from_millis(
            (KEY_MS + KEY_GAP_MS) * keys.len() as u64 + 600,
        ));
    }
    bridge.wait_state(&conference, "Linphone joins as the organiser", |s| {
        s.started && s.organisers_in_meeting() == 1
    });
    let reference = prompt("joining-as-organiser");
    // The prompt's length and a second more, then hang up.
    std::thread::sleep(Duration::from_millis(reference.len() as u64 / 8 + 1000));
    phone.command("terminate");
    bridge.wait_state(&conference, "Linphone leaves", |s| {
        s.participants.is_empty()
    });
    let heard = phone.stop();
    let score = prompt_score(&reference, &heard);
    assert!(
        score > 0.8,
        "Linphone heard joining-as-organiser at correlation {score:.3}"
    );
}
