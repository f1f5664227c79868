//! One server key per deployment: a process holding a different key refuses to run,
//! says why, and changes nothing.

use crate::common;

use std::process::Stdio;

#[test]
fn a_second_process_with_another_key_refuses_and_changes_nothing() {
    for store in common::stores() {
        store.with_alice();
        let serve = store.serve(&[]);
        let before = store.snapshot();

        let other_key = common::random_hex(32);
        for args in [
            vec![
                "user",
                "add",
                "mallory@contoso.example",
                "--display-name",
                "Mallory",
            ],
            vec!["tenant", "set", "--pin-length", "9"],
            vec!["serve", "--http", "127.0.0.1:0"],
        ] {
            let out = store
                .command()
                .env("PINBRIDGE_SERVER_KEY", &other_key)
                .args(&args)
                .stdin(Stdio::null())
                .output()
                .expect("run pinbridge");
            assert!(
                !out.status.success(),
                "[{}] {args:?} ran with the wrong key",
                store.name
            );
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("does not match the one this database was created with"),
                "[{}] unclear error: {err}",
                store.name
            );
        }
        assert_eq!(store.snapshot(), before, "[{}] nothing changed", store.name);
        let (status, _) = common::http_get(&serve.url, "/healthz");
        assert_eq!(status, 200, "the first process runs on");
        assert!(serve.stop().success());
    }
}

#[test]
fn a_database_url_without_a_key_is_a_clear_error() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        // The message is the same whatever the URL; check it against an unused one.
        let store = common::sqlite();
        let out = store
            .command()
            .args([
                "--database-url",
                "postgres://127.0.0.1:1/none",
                "tenant",
                "show",
            ])
            .output()
            .expect("run");
        assert!(String::from_utf8_lossy(&out.stderr).contains("PINBRIDGE_SERVER_KEY"));
        return;
    };
    let store = common::postgres(&url);
    let out = store
        .command()
        .env_remove("PINBRIDGE_SERVER_KEY")
        .args(["tenant", "show"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PINBRIDGE_SERVER_KEY"));
}
