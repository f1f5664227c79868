//! Fifty admins reset one user's PIN at once, each a separate `pinbridge` process,
//! while `serve` runs on the same store: no update is lost, exactly one PIN verifies —
//! the one printed by the reset that committed last — and the audit log has all fifty.

use crate::common;

use std::process::Stdio;

use common::directory::ALICE;

const RESETS: usize = 50;

#[test]
fn fifty_concurrent_resets_leave_exactly_the_last_pin_valid() {
    for store in common::stores() {
        store.with_alice();
        // Twelve digits, so two resets never print the same PIN by chance.
        store.ok(&["tenant", "set", "--pin-length", "12"]);
        let first = store.enable(ALICE);
        let serve = store.serve(&[]);

        let children: Vec<_> = (0..RESETS)
            .map(|_| {
                store
                    .command()
                    .args(["--json", "user", "set", ALICE, "--reset-leader-pin"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("start a reset")
            })
            .collect();
        let mut issued: Vec<(i64, String)> = children
            .into_iter()
            .map(|child| {
                let out = child.wait_with_output().expect("wait for a reset");
                assert!(
                    out.status.success(),
                    "[{}] a reset failed: {}",
                    store.name,
                    String::from_utf8_lossy(&out.stderr)
                );
                let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
                (
                    json["pin_version"].as_i64().expect("version"),
                    json["pin"].as_str().expect("pin").to_owned(),
                )
            })
            .collect();
        issued.sort();

        // Each reset committed on top of the one before: versions 2..=51, no gaps.
        let versions: Vec<i64> = issued.iter().map(|(v, _)| *v).collect();
        assert_eq!(
            versions,
            (2..=(RESETS as i64 + 1)).collect::<Vec<_>>(),
            "[{}] lost update",
            store.name
        );

        let (_, last) = issued.last().expect("resets ran");
        assert!(
            store.pin_verifies(ALICE, last),
            "[{}] the last committed PIN verifies",
            store.name
        );
        for (version, pin) in issued.iter().take(RESETS - 1).chain([&(1, first.clone())]) {
            assert!(
                !store.pin_verifies(ALICE, pin),
                "[{}] PIN #{version} still verifies",
                store.name
            );
        }

        let audit = store.json(&["audit", "--user", ALICE, "--limit", "1000"]);
        let resets = audit
            .as_array()
            .expect("audit list")
            .iter()
            .filter(|e| e["action"] == "user.pin_reset")
            .count();
        assert_eq!(resets, RESETS, "[{}] audit entries", store.name);

        let (status, _) = common::http_get(&serve.url, "/healthz");
        assert_eq!(status, 200);
        assert!(serve.stop().success());
    }
}
