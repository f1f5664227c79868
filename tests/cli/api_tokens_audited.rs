//! `pinbridge token create` and `token revoke` are admin actions: each is in the audit
//! log (who, what, which token by name), and neither the token nor its hash is in the
//! entry or anywhere the store keeps. Refused commands audit nothing.

use crate::common;

use std::process::Stdio;

use common::TestStore;

/// Runs `pinbridge ARGS` as the operating-system account `ops`; returns its output.
fn run_as_ops(store: &TestStore, args: &[&str]) -> std::process::Output {
    store
        .command()
        .env("USER", "ops")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run pinbridge")
}

fn ok_as_ops(store: &TestStore, args: &[&str]) -> String {
    let out = run_as_ops(store, args);
    assert!(
        out.status.success(),
        "[{}] pinbridge {args:?} failed: {}",
        store.name,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn audit(store: &TestStore) -> Vec<serde_json::Value> {
    store
        .json(&["audit", "--limit", "1000"])
        .as_array()
        .cloned()
        .expect("an array")
}

#[test]
fn creating_and_revoking_a_token_is_audited_without_the_token() {
    for store in common::stores() {
        let token = ok_as_ops(&store, &["token", "create", "--name", "nightly-sync"]);
        let token = token.trim().to_owned();
        assert!(token.starts_with("pb_") && token.len() > 40, "{token}");

        let lines = audit(&store);
        assert_eq!(lines.len(), 1, "[{}] {lines:?}", store.name);
        assert_eq!(lines[0]["action"], "api_token.created");
        assert_eq!(lines[0]["actor"], "cli:ops");
        assert_eq!(lines[0]["user"], serde_json::Value::Null);
        assert!(
            lines[0]["detail"]
                .as_str()
                .unwrap()
                .contains("\"nightly-sync\""),
            "{}",
            lines[0]
        );

        // Refused: a second token with the same name, revoking a token that does not
        // exist. Neither is audited.
        assert!(
            !run_as_ops(&store, &["token", "create", "--name", "nightly-sync"])
                .status
                .success()
        );
        assert!(
            !run_as_ops(&store, &["token", "revoke", "no-such-token"])
                .status
                .success()
        );
        assert_eq!(
            audit(&store).len(),
            1,
            "[{}] a refusal was audited",
            store.name
        );

        let out = ok_as_ops(&store, &["token", "revoke", "nightly-sync"]);
        assert!(out.contains("revoked"), "{out}");
        let lines = audit(&store);
        assert_eq!(lines.len(), 2, "[{}] {lines:?}", store.name);
        assert_eq!(lines[0]["action"], "api_token.revoked");
        assert_eq!(lines[0]["actor"], "cli:ops");
        assert!(
            lines[0]["detail"]
                .as_str()
                .unwrap()
                .contains("\"nightly-sync\"")
        );
        // Revoked already: refused, not audited again.
        assert!(
            !run_as_ops(&store, &["token", "revoke", "nightly-sync"])
                .status
                .success()
        );
        assert_eq!(audit(&store).len(), 2);

        // The audit log as an admin reads it, and every byte the store keeps, hold
        // neither the token nor the part after its prefix.
        let secret = token.trim_start_matches("pb_");
        for view in [
            store.ok(&["audit"]),
            store.ok(&["--json", "audit"]),
            store.ok(&["--json", "token", "list"]),
        ] {
            assert!(!view.contains(secret), "[{}] {view}", store.name);
        }
        for (place, bytes) in store.stored_bytes() {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "[{}] {place} holds the token",
                store.name
            );
        }
    }
}
