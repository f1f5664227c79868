//! Every setting comes from a flag, else the `--config` TOML file, else a
//! `PINBRIDGE_*` environment variable, else its default.

use crate::common;

use std::process::Command;

fn pinbridge(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(common::BIN);
    cmd.current_dir(dir)
        .env_remove("PINBRIDGE_DATA_DIR")
        .env_remove("PINBRIDGE_SERVER_KEY");
    cmd.env_remove("PINBRIDGE_DATABASE_URL")
        .env_remove("DATABASE_URL");
    cmd
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("run pinbridge");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn flag_beats_file_beats_environment_beats_default() {
    let root = common::tempdir();
    let dir = root.path();
    std::fs::write(dir.join("pinbridge.toml"), "data_dir = \"from-file\"\n").expect("write config");
    let number = ["number", "add", "+14255550100"];

    run_ok(
        pinbridge(dir)
            .env("PINBRIDGE_DATA_DIR", "from-env")
            .args(number),
    );
    assert!(
        dir.join("from-env/pinbridge.db").exists(),
        "the environment applies"
    );

    run_ok(
        pinbridge(dir)
            .env("PINBRIDGE_DATA_DIR", "from-env")
            .args(["--config", "pinbridge.toml"])
            .args(number),
    );
    assert!(
        dir.join("from-file/pinbridge.db").exists(),
        "the file beats the environment"
    );

    run_ok(
        pinbridge(dir)
            .env("PINBRIDGE_DATA_DIR", "from-env")
            .args(["--config", "pinbridge.toml", "--data-dir", "from-flag"])
            .args(number),
    );
    assert!(
        dir.join("from-flag/pinbridge.db").exists(),
        "the flag beats the file"
    );

    run_ok(pinbridge(dir).args(number));
    assert!(
        dir.join("pinbridge-data/pinbridge.db").exists(),
        "the default is ./pinbridge-data"
    );
    assert!(dir.join("pinbridge-data/server.key").exists());
}

#[test]
fn bad_configuration_is_a_one_line_error() {
    let root = common::tempdir();
    let dir = root.path();
    std::fs::write(dir.join("typo.toml"), "data_dri = \"x\"\n").expect("write");
    std::fs::write(dir.join("broken.toml"), "data_dir = \n").expect("write");
    std::fs::write(dir.join("badvalue.toml"), "http = \"not an address\"\n").expect("write");
    let some_key = "ab".repeat(32);
    // (arguments, environment, what the error must say)
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec!["--config", "typo.toml", "tenant", "show"],
            vec![],
            "unknown key \"data_dri\"",
        ),
        (
            vec!["--config", "broken.toml", "tenant", "show"],
            vec![],
            "not valid TOML",
        ),
        (
            vec!["--config", "missing.toml", "tenant", "show"],
            vec![],
            "cannot read config file",
        ),
        (vec!["--config", "badvalue.toml", "serve"], vec![], "http"),
        (
            vec!["serve"],
            vec![("PINBRIDGE_HTTP", "nonsense")],
            "PINBRIDGE_HTTP",
        ),
        (
            vec!["tenant", "show"],
            vec![("PINBRIDGE_SERVER_KEY", "abc")],
            "64 hex digits",
        ),
        (
            vec!["--database-url", "mysql://x", "tenant", "show"],
            vec![("PINBRIDGE_SERVER_KEY", some_key.as_str())],
            "unsupported database URL",
        ),
    ];
    for (args, env, expected) in cases {
        let out = pinbridge(dir).args(&args).envs(env).output().expect("run");
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("error: ") && err.trim_end().lines().count() == 1,
            "{args:?}: {err:?}"
        );
        assert!(
            err.contains(expected),
            "{args:?}: expected {expected:?} in {err:?}"
        );
    }
    assert!(
        !dir.join("pinbridge-data").exists(),
        "bad configuration creates no store"
    );
}

#[test]
fn serve_demo_seeds_a_tenant_and_prints_how_to_use_it() {
    let store = common::sqlite();
    let serve = store.serve(&["--demo"]);
    let printed = serve.lines.seen.join("\n");
    assert!(
        printed.contains("admin@contoso.example  password: "),
        "{printed}"
    );
    assert!(printed.contains("http://127.0.0.1:"), "{printed}");
    let users = store.json(&["user", "list"]);
    assert_eq!(
        users["total"], 4,
        "an admin, two users with mailboxes, one without"
    );
    let numbers = store.json(&["number", "list"]);
    let kinds: Vec<&str> = numbers
        .as_array()
        .expect("list")
        .iter()
        .map(|n| n["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds, ["toll", "toll-free"]);
    let carol = store.json(&["user", "show", "carol@contoso.example"]);
    assert_eq!(carol["primary_smtp_address"], serde_json::Value::Null);
    assert_eq!(carol["audio_conferencing"]["enabled"], true);
    let admin = store.json(&["user", "show", "admin@contoso.example"]);
    assert_eq!(
        (admin["role"].as_str(), admin["has_password"].as_bool()),
        (Some("admin"), Some(true))
    );
    assert!(serve.stop().success());
}
