//! A server that answers 451 and then 250: the email is retried with the same
//! Message-ID and delivered once.

use crate::{common, mail};

use std::time::Duration;

use mail::{SmtpServer, flush, wait_until};

#[test]
fn a_451_is_retried_and_the_email_delivered_once() {
    for store in common::stores() {
        let smtp = SmtpServer::start(store.dir.path(), 0, &["--defer-once"]);
        let config = mail::config_file(&store, smtp.port, &[]);
        mail::setup_tenant(&store);
        mail::add_user(&store, "dave@contoso.example", "Dave");
        store.ok(&["user", "enable", "dave@contoso.example"]);
        let report = flush(&store, &config);
        assert_eq!(report["retry_later"], 1, "[{}] {report}", store.name);
        let listed = mail::list(&store, false);
        assert_eq!(listed[0]["status"], "queued");
        assert!(
            listed[0]["last_error"].as_str().unwrap().contains("451"),
            "{listed:?}"
        );
        assert_eq!(
            listed[0]["content_stored"], true,
            "kept, encrypted, for the retry"
        );
        // The retry falls due within about a second; flush until it has been delivered.
        wait_until("the retry", Duration::from_secs(30), || {
            flush(&store, &config);
            smtp.count("delivered") == 1
        });
        let events = smtp.events();
        let deferred: Vec<_> = events.iter().filter(|e| e["event"] == "deferred").collect();
        let delivered: Vec<_> = events
            .iter()
            .filter(|e| e["event"] == "delivered")
            .collect();
        assert_eq!((deferred.len(), delivered.len()), (1, 1));
        assert_eq!(
            deferred[0]["message_id"], delivered[0]["message_id"],
            "the same Message-ID"
        );
        let listed = mail::list(&store, false);
        assert_eq!(
            (listed[0]["status"].as_str(), listed[0]["attempts"].as_i64()),
            (Some("sent"), Some(2))
        );
        flush(&store, &config);
        assert_eq!(smtp.count("received"), 2, "nothing more is sent");
    }
}
