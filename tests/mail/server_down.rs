//! SMTP server down: the emails wait in the outbox; when the server comes up, the
//! worker inside `serve` delivers each exactly once.

use crate::{common, mail};

use std::collections::BTreeMap;
use std::time::Duration;

use mail::{SmtpServer, wait_until};

#[test]
fn emails_wait_while_the_server_is_down_and_are_delivered_once_when_it_is_up() {
    for store in common::stores() {
        mail::setup_tenant(&store);
        let port = pinbridge_testkit::ports::free_port();
        let config = mail::config_file(&store, port, &["smtp_timeout_seconds = 5"]);
        let serve = store.serve(&["--config", &config]);
        for n in 0..3 {
            let upn = format!("user{n}@contoso.example");
            mail::add_user(&store, &upn, &format!("User {n}"));
            store.ok(&["user", "enable", &upn]);
        }
        // Every email was tried, failed to connect, and waits for its next attempt.
        wait_until("failed attempts", Duration::from_secs(30), || {
            let listed = mail::list(&store, false);
            listed.len() == 3
                && listed
                    .iter()
                    .all(|r| r["status"] == "queued" && r["last_error"].is_string())
        });
        let smtp = SmtpServer::start(store.dir.path(), port, &[]);
        wait_until("delivery", Duration::from_secs(60), || {
            mail::list(&store, false)
                .iter()
                .all(|r| r["status"] == "sent")
        });
        let mut per_id: BTreeMap<String, usize> = BTreeMap::new();
        for m in smtp.delivered() {
            *per_id
                .entry(m["message_id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        assert_eq!(per_id.len(), 3, "[{}] {per_id:?}", store.name);
        assert!(
            per_id.values().all(|n| *n == 1),
            "each exactly once: {per_id:?}"
        );
        assert_eq!(smtp.count("received"), 3);
        assert!(serve.stop().success());
    }
}
