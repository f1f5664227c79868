//! A server that answers 550: the email is marked failed, its content erased, it shows
//! in `mail list --failed`, and `mail retry` sends it again (same Message-ID, to the
//! user's current address, without the erased PIN).

use crate::{common, mail};

use mail::{SmtpServer, body, flush, user_json};

#[test]
fn a_550_fails_the_email_which_is_listed_and_retryable() {
    for store in common::stores() {
        let smtp = SmtpServer::start(store.dir.path(), 0, &["--reject", "bounce"]);
        let config = mail::config_file(&store, smtp.port, &[]);
        mail::setup_tenant(&store);
        mail::add_user(&store, "erin@contoso.example", "Erin");
        let enabled = user_json(
            &store,
            &[
                "enable",
                "erin@contoso.example",
                "--send-email-to-address",
                "bounce@contoso.example",
            ],
        );
        let pin = enabled["pin"].as_str().unwrap().to_owned();
        let report = flush(&store, &config);
        assert_eq!(report["failed"], 1, "[{}] {report}", store.name);
        assert_eq!(smtp.count("rejected"), 1);

        let failed = mail::list(&store, true);
        assert_eq!(failed.len(), 1);
        let record = &failed[0];
        assert_eq!(record["status"], "failed");
        assert_eq!(record["content_stored"], false, "erased on failure");
        assert!(
            record["last_error"].as_str().unwrap().contains("550"),
            "{record}"
        );
        let table = store.ok(&["mail", "list", "--failed"]);
        assert!(
            table.starts_with("ID") && table.contains("failed") && table.contains("550"),
            "{table}"
        );
        let id = record["id"].to_string();

        // Retrying a sent or unknown email is refused with a clear error.
        let err = store.fails(&["mail", "retry", "999"]);
        assert!(err.contains("no email with ID 999"), "{err}");

        // The admin fixes the address and retries.
        store.ok(&[
            "user",
            "set",
            "erin@contoso.example",
            "--send-email-to-address",
            "erin@contoso.example",
        ]);
        let out = store.ok(&["mail", "retry", &id]);
        assert!(
            out.contains("queued again for erin@contoso.example"),
            "{out}"
        );
        assert!(
            out.contains("--reset-leader-pin"),
            "the admin is told the PIN is not in it: {out}"
        );
        let audit = store.json(&["audit", "--limit", "1"]);
        assert_eq!(
            audit[0]["action"], "email.retried",
            "the retry is audited: {audit}"
        );
        let report = flush(&store, &config);
        assert_eq!(report["delivered"], 1, "{report}");
        let delivered = smtp.delivered();
        assert_eq!(delivered.len(), 1);
        assert_eq!(
            delivered[0]["message_id"], record["message_id"],
            "the same Message-ID"
        );
        assert_eq!(
            delivered[0]["rcpt_tos"],
            serde_json::json!(["erin@contoso.example"])
        );
        let b = body(&delivered[0]);
        assert!(!b.contains(&pin), "the erased PIN cannot come back");
        assert!(b.contains("Your PIN is not included in this email"), "{b}");
        assert!(mail::list(&store, true).is_empty());
        let err = store.fails(&["mail", "retry", &id]);
        assert!(err.contains("not failed"), "{err}");
    }
}
