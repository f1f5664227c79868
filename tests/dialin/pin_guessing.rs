//! The PIN-guessing defence across calls, against `serve`: five wrong organiser PINs in
//! two calls lock phone PIN entry for the organiser and for the calling number; the
//! caller who made the fifth and a caller with the right PIN hear that PIN entry is
//! locked and are hung up, and the meeting does not start. The locks are listed and
//! cleared by the CLI (audited), and the right PIN then starts the meeting. Every failure
//! and refusal is a security event line that the shipped fail2ban filter matches, run
//! through Debian's `fail2ban-regex`.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::directory::ALICE;
use common::phone::bridge::{self, Bridge, RTP_PORTS};
use common::phone::*;

/// The number SIPp's caller scenario calls from.
const CALLER: &str = "+15555550100";

#[test]
fn wrong_pins_across_calls_lock_phone_pin_entry_until_an_admin_clears_it() {
    let dir = common::tempdir();
    let log = dir.path().join("serve.log");
    let bridge = bridge::start_with(&[], RTP_PORTS, Some(&log));
    let conference = bridge.meeting(&[]);
    let wrong = "0".repeat(bridge.pin.len());
    assert_ne!(wrong, bridge.pin);
    let capture = bridge.capture(dir.path());

    // Call 1: three wrong PINs, the per-call limit.
    let keys = format!("{conference}#,,*,{wrong}#,,,,{wrong}#,,,,{wrong}#");
    let mut first = bridge.call("first", &keys);
    first.wait_answered(Duration::from_secs(30));
    assert_eq!(first.wait_end(Duration::from_secs(90)), Ending::ByBridge);
    assert_eq!(bridge.metric("pinbridge_pin_failures_total"), 3.0);
    assert_eq!(bridge.metric("pinbridge_pin_locks_total"), 0.0);

    // Call 2: the fifth wrong PIN locks the organiser and the calling number.
    let keys = format!("{conference}#,,*,{wrong}#,,,,{wrong}#");
    let mut second = bridge.call("second", &keys);
    let answer = second.wait_answered(Duration::from_secs(30));
    assert_eq!(second.wait_end(Duration::from_secs(90)), Ending::ByBridge);
    Bridge::wait_prompt(&capture, answer.rtp_port, "pin-entry-locked");
    assert_eq!(bridge.metric("pinbridge_pin_failures_total"), 5.0);
    assert_eq!(bridge.metric("pinbridge_pin_locks_total"), 2.0);

    // Call 3: the right PIN is not even checked while PIN entry is locked.
    let mut third = bridge.call("third", &bridge.organiser_keys(&conference));
    let answer = third.wait_answered(Duration::from_secs(30));
    assert_eq!(third.wait_end(Duration::from_secs(90)), Ending::ByBridge);
    Bridge::wait_prompt(&capture, answer.rtp_port, "pin-entry-locked");
    assert_eq!(
        bridge.metric("pinbridge_pin_entries_refused_locked_total"),
        1.0
    );
    assert!(!bridge.state(&conference).started);

    // The admin sees both locks, and the audit log has every failure and lock.
    let locks: serde_json::Value =
        serde_json::from_str(&bridge.store.ok(&["--json", "pin-locks", "list"])).unwrap();
    let subjects: Vec<&str> = locks
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["subject"].as_str().unwrap())
        .collect();
    let organiser = format!("organiser:{ALICE}");
    let caller = format!("caller:{CALLER}");
    assert_eq!(subjects, [caller.as_str(), organiser.as_str()], "{locks}");
    let audit: serde_json::Value =
        serde_json::from_str(&bridge.store.ok(&["--json", "audit", "--user", ALICE])).unwrap();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    let count = |action: &str| actions.iter().filter(|a| **a == action).count();
    assert_eq!(count("phone_pin.failed"), 5, "{actions:?}");
    assert_eq!(count("phone_pin.locked"), 2, "{actions:?}");

    // Cleared (audited); the right PIN starts the meeting again.
    bridge.store.ok(&["pin-locks", "clear", "--user", ALICE]);
    bridge.store.ok(&["pin-locks", "clear", &caller]);
    assert_eq!(
        bridge.store.ok(&["--json", "pin-locks", "list"]).trim(),
        "[]"
    );
    let audit: serde_json::Value =
        serde_json::from_str(&bridge.store.ok(&["--json", "audit", "--limit", "5"])).unwrap();
    let cleared = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "phone_pin.lock_cleared")
        .count();
    assert_eq!(cleared, 2, "{audit}");
    let mut fourth = bridge.call("fourth", &bridge.organiser_keys(&conference));
    fourth.wait_answered(Duration::from_secs(30));
    bridge.wait_state(&conference, "the organiser starts the meeting", |s| {
        s.started
    });
    fourth.hang_up();
    capture.stop();

    // The log: a security event per failure and per refusal, matched by the filter; and
    // no PIN anywhere in it.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(&bridge.pin), "the PIN is in the log");
    let events: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("pinbridge::security: "))
        .collect();
    assert_eq!(events.len(), 8, "{events:#?}"); // 5 failed, 2 locked, 1 refused
    let filter =
        pinbridge_testkit::workspace_root().join("contrib/fail2ban/filter.d/pinbridge.conf");
    let out = Command::new("fail2ban-regex")
        .args(["-o", "ip"])
        .arg(&log)
        .arg(&filter)
        .output()
        .expect("run fail2ban-regex (Debian package fail2ban)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let banned = String::from_utf8(out.stdout).unwrap();
    let hosts: Vec<&str> = banned.lines().collect();
    assert_eq!(hosts, ["127.0.0.1"; 6], "fail2ban-regex found {banned:?}");
}
