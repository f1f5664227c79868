//! Schemathesis (from PyPI) against a live `serve`, with an admin API token: every
//! operation of the OpenAPI document is called with generated data, with every check
//! schemathesis has. It finds no 5xx, no response that breaks the document, no
//! undocumented status, no request the document allows that is refused and none it
//! forbids that is accepted; and every operation answers 2xx at least once (read from
//! the run's HAR report; a phone PIN lock is recorded first so that clearing one can).
//!
//! `tests/schemathesis.toml` says which refusals of allowed data are expected and why:
//! the ones that depend on stored data (404, 409: schemathesis' defaults) and, for
//! `POST /api/v1/numbers` only, a language named twice counting the primary language
//! (422), a rule between two fields that JSON Schema cannot state.
//!
//! Schemathesis is taken from `$SCHEMATHESIS`, else `st` on the PATH, else installed
//! with pip into a virtual environment under the target directory.

use crate::common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every operation of the document, as (method, path template).
const OPERATIONS: [(&str, &str); 18] = [
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("GET", "/api/v1/users/{upn}"),
    ("POST", "/api/v1/users/{upn}/enable"),
    ("POST", "/api/v1/users/{upn}/disable"),
    ("POST", "/api/v1/users/{upn}/reset-pin"),
    ("POST", "/api/v1/users/{upn}/send-conference-info"),
    ("PUT", "/api/v1/users/{upn}/email-override"),
    ("DELETE", "/api/v1/users/{upn}/email-override"),
    ("GET", "/api/v1/tenant-settings"),
    ("PATCH", "/api/v1/tenant-settings"),
    ("GET", "/api/v1/numbers"),
    ("POST", "/api/v1/numbers"),
    ("GET", "/api/v1/meetings"),
    ("POST", "/api/v1/meetings"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/pin-locks"),
    ("DELETE", "/api/v1/pin-locks/{subject}"),
];

/// The (method, path template) of every request in a HAR file that was answered 2xx.
fn answered_2xx(har: &Path) -> HashSet<(String, String)> {
    let text = std::fs::read_to_string(har).expect("the HAR report");
    let har: serde_json::Value = serde_json::from_str(&text).expect("HAR is JSON");
    let entries = har["log"]["entries"].as_array().expect("HAR entries");
    entries
        .iter()
        .filter(|e| {
            e["response"]["status"]
                .as_u64()
                .is_some_and(|s| (200..300).contains(&s))
        })
        .map(|e| {
            let url = e["request"]["url"].as_str().unwrap_or("");
            let path = url
                .split_once("://")
                .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
                .unwrap_or("")
                .split('?')
                .next()
                .unwrap_or("");
            let template = match path.strip_prefix("/api/v1/users/") {
                Some(rest) => match rest.split_once('/') {
                    Some((_, action)) => format!("/api/v1/users/{{upn}}/{action}"),
                    None => "/api/v1/users/{upn}".to_owned(),
                },
                None if path.starts_with("/api/v1/pin-locks/") => {
                    "/api/v1/pin-locks/{subject}".to_owned()
                }
                None => path.to_owned(),
            };
            (
                e["request"]["method"].as_str().unwrap_or("").to_owned(),
                template,
            )
        })
        .collect()
}

fn schemathesis() -> PathBuf {
    if let Ok(path) = std::env::var("SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    if Command::new("st")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return PathBuf::from("st");
    }
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("schemathesis-venv");
    let st = venv.join("bin").join("st");
    if !st.exists() {
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("run python3 -m venv");
        assert!(status.success(), "cannot make a Python virtual environment");
        let status = Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", "schemathesis"])
            .status()
            .expect("run pip");
        assert!(status.success(), "pip install schemathesis failed");
    }
    st
}

/// Five wrong phone PINs for Alice from the number of the document's example, so that
/// the lock list has entries and clearing the example's lock answers 204.
fn lock_phone_pin_entry(store: &common::TestStore) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let app = store.app().await;
        let upn = pinbridge_domain::Upn::parse("alice@contoso.example").unwrap();
        let alice = app.user(&upn).await.expect("alice");
        let caller = pinbridge_app::security::PinCaller {
            number: Some("+15555550100"),
            source: "127.0.0.1".parse().unwrap(),
        };
        for _ in 0..5 {
            app.record_phone_pin_failure(&alice, &caller)
                .await
                .expect("a wrong PIN recorded");
        }
        app.close().await;
    });
}

#[test]
fn schemathesis_finds_nothing_wrong_with_the_api() {
    let st = schemathesis();
    for store in common::stores() {
        store.ok(&["number", "add", "+14255550100"]);
        store.ok(&[
            "user",
            "add",
            "alice@contoso.example",
            "--display-name",
            "Alice",
        ]);
        store.ok(&["user", "enable", "alice@contoso.example"]);
        lock_phone_pin_entry(&store);
        let token = store.ok(&["token", "create", "--name", "schemathesis"]);
        let token = token.trim();
        assert!(token.starts_with("pb_"), "{token}");
        let serve = store.serve(&[]);
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis.toml");
        let har = store.dir.path().join("schemathesis.har");
        let out = Command::new(&st)
            .arg("--config-file")
            .arg(&config)
            .arg("run")
            .arg(format!("{}/api/v1/openapi.json", serve.url))
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--checks", "all"])
            .args(["--max-examples", "25", "--seed", "1", "--no-color"])
            .args(["--report", "har", "--report-har-path"])
            .arg(&har)
            .current_dir(store.dir.path())
            .output()
            .expect("run schemathesis");
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "[{}] schemathesis found problems:\n{report}\n{}",
            store.name,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(report.contains("Tested: 18"), "{report}");
        let answered = answered_2xx(&har);
        for (method, path) in OPERATIONS {
            assert!(
                answered.contains(&(method.to_string(), path.to_string())),
                "[{}] {method} {path} never answered 2xx",
                store.name
            );
        }
        assert!(serve.stop().success());
    }
}
