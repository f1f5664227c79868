//! `pinbridge meeting new` is audited like the web's and the API's meeting creation
//! (the same `App` action): one `meeting.created` line naming who ran it, the organiser
//! and the conference ID. Refused commands (an organiser not enabled, an unknown one, a
//! subject on two lines) create and audit nothing.

use crate::common;

use std::process::Stdio;

const ALICE: &str = "alice@contoso.example";
const BOB: &str = "bob@contoso.example";

fn meeting_lines(store: &common::TestStore) -> Vec<serde_json::Value> {
    store
        .json(&["audit", "--limit", "1000"])
        .as_array()
        .expect("an array")
        .iter()
        .filter(|l| l["action"] == "meeting.created")
        .cloned()
        .collect()
}

#[test]
fn creating_a_meeting_is_audited_and_refusals_are_not() {
    for store in common::stores() {
        store.ok(&["number", "add", "+14255550100"]);
        for (upn, name) in [(ALICE, "Alice"), (BOB, "Bob")] {
            store.ok(&["user", "add", upn, "--display-name", name]);
        }
        store.ok(&["user", "enable", ALICE]);

        for args in [
            vec!["meeting", "new", "--organizer", BOB],
            vec!["meeting", "new", "--organizer", "nobody@contoso.example"],
            vec![
                "meeting",
                "new",
                "--organizer",
                ALICE,
                "--subject",
                "two\nlines",
            ],
        ] {
            store.fails(&args);
        }
        assert!(
            meeting_lines(&store).is_empty(),
            "[{}] a refusal was audited",
            store.name
        );
        assert_eq!(store.json(&["meeting", "list"]), serde_json::json!([]));

        let out = store
            .command()
            .env("USER", "ops")
            .args([
                "--json",
                "meeting",
                "new",
                "--organizer",
                ALICE,
                "--subject",
                "Q3",
            ])
            .stdin(Stdio::null())
            .output()
            .expect("run pinbridge");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let created: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
        let id = created["conference_id"].as_str().expect("a conference ID");

        let lines = meeting_lines(&store);
        assert_eq!(lines.len(), 1, "[{}] {lines:?}", store.name);
        assert_eq!(lines[0]["actor"], "cli:ops");
        assert_eq!(lines[0]["user"], ALICE);
        assert_eq!(lines[0]["detail"], format!("meeting {id} created"));
    }
}
