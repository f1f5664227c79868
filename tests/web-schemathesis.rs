//! Schemathesis (from PyPI) against a live `serve`, with an admin API token: every
//! operation of the OpenAPI document is called with generated data, and it finds no
//! 5xx, no response that breaks the document and no undocumented status.
//!
//! `positive_data_acceptance` is left out: the document types fields (a UPN is a
//! string), while the domain validates them further and answers 422 with a message,
//! which is the designed answer.
//!
//! Schemathesis is taken from `$SCHEMATHESIS`, else `st` on the PATH, else installed
//! with pip into a virtual environment under the target directory.

mod common;

use std::path::PathBuf;
use std::process::Command;

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
        let token = store.ok(&["token", "create", "--name", "schemathesis"]);
        let token = token.trim();
        assert!(token.starts_with("pb_"), "{token}");
        let serve = store.serve(&[]);
        let out = Command::new(&st)
            .arg("run")
            .arg(format!("{}/api/v1/openapi.json", serve.http))
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args([
                "--checks",
                "all",
                "--exclude-checks",
                "positive_data_acceptance",
            ])
            .args(["--max-examples", "25", "--seed", "1", "--no-color"])
            .output()
            .expect("run schemathesis");
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "[{}] schemathesis found problems:\n{report}\n{}",
            store.name,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(report.contains("Tested: 14"), "{report}");
        assert!(serve.stop().success());
    }
}
