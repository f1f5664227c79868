//! The PIN-guessing defence across calls, against `serve`: five wrong organiser PINs in
//! two calls lock phone PIN entry for the organiser and for the calling number; the
//! caller who made the fifth and a caller with the right PIN hear that PIN entry is
//! locked and are hung up, and the meeting does not start. The locks are listed and
//! cleared by the CLI (audited), and the right PIN then starts the meeting. Every failure
//! and refusal is a security event line that the shipped fail2ban filter matches, run
//! through Debian's `fail2ban-regex`.
//!
//! And a scripted guessing run: 60 wrong-PIN calls for one organiser from six calling
//! numbers are cut off after the fifth wrong PIN (no PIN checked after it), the lock
//! holds across a restart of `serve`, and an admin clears it.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::directory::ALICE;
use common::phone::bridge::{self, Bridge, RTP_PORTS};
use common::phone::*;

/// The number SIPp's caller scenario calls from.
const CALLER: &str = CALLING_NUMBER;

/// The hosts `fail2ban-regex` finds in `log` with the shipped filter.
fn fail2ban_hosts(log: &std::path::Path) -> Vec<String> {
    let filter =
        pinbridge_testkit::workspace_root().join("contrib/fail2ban/filter.d/pinbridge.conf");
    let out = Command::new("fail2ban-regex")
        .args(["-o", "ip"])
        .arg(log)
        .arg(&filter)
        .output()
        .expect("run fail2ban-regex (Debian package fail2ban)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The security event lines of a log.
fn security_events(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter(|l| l.contains("pinbridge::security: "))
        .map(str::to_owned)
        .collect()
}

/// The subjects `pin-locks list` shows.
fn locked_subjects(bridge: &Bridge) -> Vec<String> {
    let locks: serde_json::Value =
        serde_json::from_str(&bridge.store.ok(&["--json", "pin-locks", "list"])).unwrap();
    locks
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["subject"].as_str().unwrap().to_owned())
        .collect()
}

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
    let events = security_events(&log);
    assert_eq!(events.len(), 8, "{events:#?}"); // 5 failed, 2 locked, 1 refused
    assert_eq!(fail2ban_hosts(&log), ["127.0.0.1"; 6]);
}

#[test]
fn sixty_wrong_pin_calls_from_six_numbers_are_cut_off_and_the_lock_survives_a_restart() {
    let dir = common::tempdir();
    let log = dir.path().join("serve.log");
    let mut bridge = bridge::start_with(&[], RTP_PORTS, Some(&log));
    let conference = bridge.meeting(&[]);
    let wrong = "0".repeat(bridge.pin.len());
    let numbers: Vec<String> = (1..=6).map(|i| format!("+1555555020{i}")).collect();
    let caller = |bridge: &Bridge, name: &str, number: &str, keys: &str| {
        let mut config = CallerConfig::new(bridge.number, keys);
        config.calling_number = number.to_owned();
        bridge.call_with(name, config)
    };

    // Calls 1 and 2, from two numbers: three wrong PINs, then two; the fifth locks the
    // organiser (neither number has five).
    let three = format!("{conference}#,,*,{wrong}#,,,,{wrong}#,,,,{wrong}#");
    let mut call = caller(&bridge, "call 1", &numbers[0], &three);
    call.wait_answered(Duration::from_secs(30));
    assert_eq!(call.wait_end(Duration::from_secs(90)), Ending::ByBridge);
    let two = format!("{conference}#,,*,{wrong}#,,,,{wrong}#");
    let mut call = caller(&bridge, "call 2", &numbers[1], &two);
    call.wait_answered(Duration::from_secs(30));
    assert_eq!(call.wait_end(Duration::from_secs(90)), Ending::ByBridge);
    assert_eq!(bridge.metric("pinbridge_pin_failures_total"), 5.0);
    assert_eq!(bridge.metric("pinbridge_pin_locks_total"), 1.0);
    assert_eq!(locked_subjects(&bridge), [format!("organiser:{ALICE}")]);

    // Calls 3 to 60, twenty at a time from all six numbers: each is refused at its PIN
    // and hung up; no PIN is checked any more.
    let one = format!("{conference}#,,*,{wrong}#");
    for batch in 0..3 {
        let mut calls: Vec<SippCaller> = (0..20)
            .filter_map(|i| {
                let n = 3 + batch * 20 + i;
                (n <= 60).then(|| caller(&bridge, &format!("call {n}"), &numbers[n % 6], &one))
            })
            .collect();
        for call in &mut calls {
            call.wait_answered(Duration::from_secs(30));
        }
        for call in &mut calls {
            assert_eq!(call.wait_end(Duration::from_secs(90)), Ending::ByBridge);
        }
    }
    assert_eq!(bridge.metric("pinbridge_pin_failures_total"), 5.0);
    assert_eq!(
        bridge.metric("pinbridge_pin_entries_refused_locked_total"),
        58.0
    );
    assert!(!bridge.state(&conference).started);
    // One security line per failure and per refused entry, and the lock; the filter
    // matches every failure and refusal.
    let events = security_events(&log);
    assert_eq!(events.len(), 5 + 1 + 58, "{events:#?}");
    assert_eq!(fail2ban_hosts(&log), vec!["127.0.0.1"; 63]);

    // A restart keeps the lock: the right PIN is refused by the new process too.
    let restarted_log = dir.path().join("serve-restarted.log");
    bridge.restart(Some(&restarted_log));
    assert_eq!(locked_subjects(&bridge), [format!("organiser:{ALICE}")]);
    let mut call = caller(
        &bridge,
        "organiser after the restart",
        &numbers[0],
        &bridge.organiser_keys(&conference),
    );
    call.wait_answered(Duration::from_secs(30));
    assert_eq!(call.wait_end(Duration::from_secs(90)), Ending::ByBridge);
    assert_eq!(
        bridge.metric("pinbridge_pin_entries_refused_locked_total"),
        1.0
    );
    assert_eq!(bridge.metric("pinbridge_pin_failures_total"), 0.0);

    // The admin clears it; the right PIN starts the meeting.
    bridge.store.ok(&["pin-locks", "clear", "--user", ALICE]);
    assert!(locked_subjects(&bridge).is_empty());
    let mut call = caller(
        &bridge,
        "organiser after the clear",
        &numbers[0],
        &bridge.organiser_keys(&conference),
    );
    call.wait_answered(Duration::from_secs(30));
    bridge.wait_state(&conference, "the organiser starts the meeting", |s| {
        s.started
    });
    call.hang_up();
    assert_eq!(call.wait_end(Duration::from_secs(30)), Ending::ByCaller);
    assert_eq!(fail2ban_hosts(&restarted_log), ["127.0.0.1"]);
}
