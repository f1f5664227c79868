//! Bad input to the admin CLI gets a clear one-line error, a non-zero exit, and
//! changes nothing.

use crate::common;

use common::directory::ALICE;

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    for store in common::stores() {
        store.with_alice();
        store.enable(ALICE);
        let before = store.snapshot();
        let cases: &[(&[&str], &str)] = &[
            (
                &["user", "show", "nobody@contoso.example"],
                "no user nobody@contoso.example",
            ),
            (
                &[
                    "user",
                    "set",
                    "nobody@contoso.example",
                    "--reset-leader-pin",
                ],
                "no user",
            ),
            (&["user", "enable", "nobody@contoso.example"], "no user"),
            (&["user", "disable", "nobody@contoso.example"], "no user"),
            (
                &["user", "add", ALICE, "--display-name", "Again"],
                "already exists",
            ),
            (
                &[
                    "user",
                    "add",
                    "ALICE@Contoso.Example",
                    "--display-name",
                    "Again",
                ],
                "already exists",
            ),
            (&["number", "add", "14255550100"], "start with +"),
            (&["number", "add", "+0425"], "not valid"),
            (&["number", "add", "+1 425 555"], "not valid"),
            (
                &["number", "add", common::directory::TOLL],
                "already registered",
            ),
            (
                &["user", "set", ALICE, "--service-number", "+14255550199"],
                "not a registered dial-in number",
            ),
            (
                &[
                    "user",
                    "set",
                    ALICE,
                    "--service-number",
                    common::directory::TOLL_FREE,
                ],
                "toll-free number, not a toll",
            ),
            (
                &[
                    "user",
                    "set",
                    ALICE,
                    "--send-email-to-address",
                    "not-an-address",
                ],
                "email address",
            ),
            (
                &[
                    "user",
                    "set",
                    ALICE,
                    "--send-email-to-address",
                    "a@b.example\r\nBcc: x@y.example",
                ],
                "line breaks",
            ),
            (
                &[
                    "user",
                    "add",
                    "dan@contoso.example",
                    "--display-name",
                    "Dan\r\nBcc: x@y.example",
                ],
                "line breaks",
            ),
            (
                &[
                    "user",
                    "add",
                    "dan@contoso.example",
                    "--display-name",
                    "Dan",
                    "--primary-smtp-address",
                    "dan@",
                ],
                "email address",
            ),
            (
                &["user", "add", "not a upn", "--display-name", "X"],
                "user principal name",
            ),
            (&["user", "set", ALICE], "nothing to change"),
            (&["tenant", "set"], "nothing to change"),
            (
                &["tenant", "set", "--automatically-send-emails", "maybe"],
                "maybe",
            ),
            (
                &["tenant", "set", "--entry-exit-announcements-type", "loud"],
                "use-names or tone-only",
            ),
            (&["user", "list", "--limit", "0"], "limit"),
            (&["audit", "--user", "nope"], "user principal name"),
        ];
        for (args, expected) in cases {
            let err = store.fails(args);
            assert!(
                err.contains(expected),
                "[{}] {args:?}: expected {expected:?} in {err:?}",
                store.name
            );
        }
        assert_eq!(store.snapshot(), before, "[{}] nothing changed", store.name);
    }
}

#[test]
fn errors_never_echo_a_password_or_a_pin() {
    let store = common::sqlite();
    store.with_alice();
    let out = store
        .command()
        .args(["user", "set", ALICE, "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b"tiny-secret\n")?;
            child.wait_with_output()
        })
        .expect("run");
    assert!(!out.status.success(), "a 12-character minimum applies");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("at least 12 characters") && !err.contains("tiny-secret"),
        "{err}"
    );
}

#[test]
fn numbers_take_a_language_and_up_to_four_more() {
    let store = common::sqlite();
    let added = store.json(&[
        "number",
        "add",
        "+33155550100",
        "--language",
        "fr-FR",
        "--alternate-languages",
        "en-US, de-de",
    ]);
    assert_eq!(added["primary_language"], "fr-FR");
    assert_eq!(
        added["alternate_languages"],
        serde_json::json!(["en-US", "de-DE"])
    );
    let listed = store.json(&["number", "list"]);
    assert_eq!(listed[0], added);
}

#[test]
fn a_number_in_languages_without_prompts_is_registered_with_a_note() {
    let store = common::sqlite();
    let out = store.run(&[
        "number",
        "add",
        "+49305550100",
        "--language",
        "de-DE",
        "--alternate-languages",
        "fr-FR,it-IT",
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("note: there are no de-DE prompts: callers of +49305550100 hear en-US"),
        "{err}"
    );
    assert!(
        err.contains(
            "note: there are no it-IT prompts: the greeting of +49305550100 does not offer it-IT"
        ),
        "{err}"
    );
    assert!(!err.contains("fr-FR"), "{err}");
    // Languages with prompts get no note.
    let out = store.run(&[
        "number",
        "add",
        "+33155550100",
        "--alternate-languages",
        "fr-FR",
    ]);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("note:"));
}
