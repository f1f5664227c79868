//! With automatic emails off nothing automatic is queued and the command that made a
//! PIN says to hand it over; `--send-email` still sends the conference info without a
//! PIN, and `--send-email --reset-leader-pin` sends the PIN-reset email with the new PIN.

use crate::{common, mail};

use mail::{SmtpServer, body, flush, user_json};

#[test]
fn automatic_emails_off_sends_only_what_is_asked_for() {
    for store in common::stores() {
        let smtp = SmtpServer::start(store.dir.path(), 0, &[]);
        let config = mail::config_file(&store, smtp.port, &[]);
        mail::setup_tenant(&store);
        store.ok(&["tenant", "set", "--automatically-send-emails", "false"]);
        mail::add_user(&store, "carol@contoso.example", "Carol");

        let out = store.ok(&["user", "enable", "carol@contoso.example"]);
        assert!(out.contains("new PIN: "), "{out}");
        assert!(
            out.contains("automatic emails are off: give the user this PIN yourself"),
            "{out}"
        );
        let reset = user_json(
            &store,
            &["set", "carol@contoso.example", "--reset-leader-pin"],
        );
        let pin1 = reset["pin"].as_str().unwrap().to_owned();
        assert!(
            reset["email"]["reason"]
                .as_str()
                .unwrap()
                .contains("give the user this PIN yourself")
        );
        store.ok(&[
            "user",
            "set",
            "carol@contoso.example",
            "--reset-conference-id",
        ]);
        assert!(
            mail::list(&store, false).is_empty(),
            "[{}] nothing automatic is queued",
            store.name
        );
        flush(&store, &config);
        assert_eq!(smtp.count("received"), 0);

        // The explicit send: conference info, no PIN.
        store.ok(&["user", "set", "carol@contoso.example", "--send-email"]);
        flush(&store, &config);
        let delivered = smtp.delivered();
        assert_eq!(delivered.len(), 1);
        assert!(
            delivered[0]["subject"]
                .as_str()
                .unwrap()
                .contains("your audio conferencing information")
        );
        assert!(!body(&delivered[0]).contains(&pin1) && !body(&delivered[0]).contains("PIN: "));

        // The explicit send with a reset: the PIN-reset email carrying the new PIN.
        let reset = user_json(
            &store,
            &[
                "set",
                "carol@contoso.example",
                "--send-email",
                "--reset-leader-pin",
            ],
        );
        let pin2 = reset["pin"].as_str().unwrap().to_owned();
        flush(&store, &config);
        let delivered = smtp.delivered();
        assert_eq!(delivered.len(), 2);
        assert!(
            delivered[1]["subject"]
                .as_str()
                .unwrap()
                .contains("PIN was reset")
        );
        assert!(
            delivered[1]["text"]
                .as_str()
                .unwrap()
                .contains(&format!("PIN: {pin2}"))
        );

        // Disabling sends no notice either.
        store.ok(&["user", "disable", "carol@contoso.example"]);
        flush(&store, &config);
        assert_eq!(smtp.count("received"), 2, "[{}]", store.name);
    }
}
