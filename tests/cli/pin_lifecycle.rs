//! The PIN through the CLI: printed once by enable and reset, verifying until the next
//! reset, never shown by any other command, never written in plaintext.

use crate::common;

use common::directory::ALICE;
use pinbridge_domain::PIN_MASK;

#[test]
fn printed_pin_verifies_and_the_previous_one_stops_verifying() {
    for store in common::stores() {
        store.with_alice();
        let first = store.enable(ALICE);
        assert_eq!(first.len(), 5, "[{}] default length", store.name);
        assert!(
            store.pin_verifies(ALICE, &first),
            "[{}] the enable PIN verifies",
            store.name
        );

        let second = store.reset_pin(ALICE);
        assert!(
            store.pin_verifies(ALICE, &second),
            "[{}] the reset PIN verifies",
            store.name
        );
        if second != first {
            assert!(
                !store.pin_verifies(ALICE, &first),
                "[{}] the old PIN no longer verifies",
                store.name
            );
        }
    }
}

#[test]
fn only_enable_and_reset_ever_print_the_pin() {
    for store in common::stores() {
        store.with_alice();
        // Twelve digits: a string that long does not turn up in the data by chance.
        store.ok(&["tenant", "set", "--pin-length", "12"]);
        let mut pins = vec![store.enable(ALICE)];
        pins.push(store.reset_pin(ALICE));
        let table = store.ok(&["user", "set", ALICE, "--reset-leader-pin"]);
        let printed = table
            .lines()
            .find_map(|l| l.strip_prefix("new PIN: "))
            .and_then(|rest| rest.split_whitespace().next())
            .expect("the table output shows the new PIN once")
            .to_owned();
        assert_eq!(printed.len(), 12);
        pins.push(printed);

        let views = [
            store.ok(&["user", "show", ALICE]),
            store.ok(&["--json", "user", "show", ALICE]),
            store.ok(&["user", "list"]),
            store.ok(&["--json", "user", "list"]),
            store.ok(&["audit"]),
            store.ok(&["--json", "audit"]),
            store.ok(&["--json", "user", "list", "--search", "alice"]),
        ];
        for view in &views {
            for pin in &pins {
                assert!(
                    !view.contains(pin.as_str()),
                    "[{}] a view shows a PIN: {view}",
                    store.name
                );
            }
        }
        let shown = store.json(&["user", "show", ALICE]);
        assert_eq!(shown["audio_conferencing"]["leader_pin"], PIN_MASK);

        // Nothing the store keeps holds a PIN: database, WAL, key, logs, or the dump.
        let stored = store.stored_bytes();
        assert!(!stored.is_empty());
        for (place, bytes) in &stored {
            for pin in &pins {
                let found = bytes.windows(pin.len()).any(|w| w == pin.as_bytes());
                assert!(!found, "[{}] {place} holds a PIN in plaintext", store.name);
            }
        }
    }
}

#[test]
fn pin_length_change_applies_only_to_new_pins() {
    for store in common::stores() {
        store.with_alice();
        store.ok(&[
            "user",
            "add",
            "bob@contoso.example",
            "--display-name",
            "Bob",
        ]);
        let alice_pin = store.enable(ALICE);
        assert_eq!(alice_pin.len(), 5);
        let settings = store.json(&["tenant", "set", "--pin-length", "8"]);
        assert_eq!(settings["pin_length"], 8);
        assert!(
            store.pin_verifies(ALICE, &alice_pin),
            "[{}] the existing 5-digit PIN still verifies",
            store.name
        );
        let bob_pin = store.enable("bob@contoso.example");
        assert_eq!(
            bob_pin.len(),
            8,
            "[{}] PINs generated afterwards have the new length",
            store.name
        );
        let alice_new = store.reset_pin(ALICE);
        assert_eq!(alice_new.len(), 8);
        assert!(store.pin_verifies(ALICE, &alice_new));
    }
}

#[test]
fn invalid_pin_lengths_are_refused_and_change_nothing() {
    for store in common::stores() {
        let before = store.json(&["tenant", "show"]);
        for bad in ["13", "3", "abc", "", "4.5", "-5"] {
            let err = store.fails(&["tenant", "set", &format!("--pin-length={bad}")]);
            assert!(err.contains("4 to 12"), "[{}] {bad:?}: {err}", store.name);
        }
        assert_eq!(
            store.json(&["tenant", "show"]),
            before,
            "[{}] settings unchanged",
            store.name
        );
        assert_eq!(before["pin_length"], 5);
    }
}

#[test]
fn disable_removes_the_pin_and_enable_again_issues_a_new_one() {
    for store in common::stores() {
        store.with_alice();
        let pin = store.enable(ALICE);
        let conference_id =
            store.json(&["user", "show", ALICE])["audio_conferencing"]["conference_id"].clone();
        let disabled = store.json(&["user", "disable", ALICE]);
        assert_eq!(disabled["audio_conferencing"]["enabled"], false);
        assert_eq!(
            disabled["audio_conferencing"]["leader_pin"],
            serde_json::Value::Null
        );
        assert_eq!(
            disabled["audio_conferencing"]["conference_id"], conference_id,
            "the ID stays reserved"
        );
        assert!(disabled.get("pin").is_none());
        assert!(
            !store.pin_verifies(ALICE, &pin),
            "[{}] a disabled user's PIN does not verify",
            store.name
        );
        let err = store.fails(&["user", "set", ALICE, "--reset-leader-pin"]);
        assert!(err.contains("not enabled"), "{err}");

        let again = store.enable(ALICE);
        assert!(store.pin_verifies(ALICE, &again));
        let shown = store.json(&["user", "show", ALICE]);
        assert_eq!(
            shown["audio_conferencing"]["conference_id"], conference_id,
            "the reserved ID comes back"
        );

        let err = store.fails(&["user", "enable", ALICE]);
        assert!(err.contains("--reset-leader-pin"), "[{}] {err}", store.name);
    }
}

#[test]
fn conference_id_reset_gives_a_new_unique_id() {
    for store in common::stores() {
        store.with_alice();
        store.enable(ALICE);
        let before =
            store.json(&["user", "show", ALICE])["audio_conferencing"]["conference_id"].clone();
        let after = store.json(&["user", "set", ALICE, "--reset-conference-id"]);
        let id = after["audio_conferencing"]["conference_id"]
            .as_str()
            .expect("an ID")
            .to_owned();
        assert_ne!(serde_json::Value::from(id.clone()), before);
        assert!((7..=9).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit()));
        assert!(after.get("pin").is_none(), "no PIN without a reset");
    }
}
