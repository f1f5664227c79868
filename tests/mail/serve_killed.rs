//! `serve` killed with SIGKILL while the SMTP server holds a message in its DATA phase:
//! after a restart every email is delivered; only the message that was in flight is
//! received twice, with the same Message-ID.

use crate::{common, mail};

use std::collections::BTreeMap;
use std::time::Duration;

use mail::{SmtpServer, wait_until};

#[test]
fn a_killed_serve_loses_nothing_and_repeats_at_most_the_message_in_flight() {
    for store in common::stores() {
        let smtp = SmtpServer::start(store.dir.path(), 0, &["--stall-first"]);
        let config = mail::config_file(
            &store,
            smtp.port,
            &["mail_lease_seconds = 2", "smtp_timeout_seconds = 60"],
        );
        mail::setup_tenant(&store);
        for n in 0..5 {
            let upn = format!("user{n}@contoso.example");
            mail::add_user(&store, &upn, &format!("User {n}"));
            store.ok(&["user", "enable", &upn]);
        }
        let mut serve = store.serve(&["--config", &config]);
        // The other emails go out on other connections; the stalled one is then the
        // only one in flight when serve is killed.
        wait_until("the stalled DATA phase", Duration::from_secs(30), || {
            smtp.count("stalled") == 1
                && mail::list(&store, false)
                    .iter()
                    .filter(|r| r["status"] == "sent")
                    .count()
                    == 4
        });
        serve.proc.kill();
        let in_flight = smtp
            .events()
            .into_iter()
            .find(|e| e["event"] == "stalled")
            .unwrap();

        let serve = store.serve(&["--config", &config]);
        wait_until("every email delivered", Duration::from_secs(60), || {
            mail::list(&store, false)
                .iter()
                .all(|r| r["status"] == "sent")
        });
        let mut received: BTreeMap<String, usize> = BTreeMap::new();
        let mut delivered: BTreeMap<String, usize> = BTreeMap::new();
        for e in smtp.events() {
            let id = e["message_id"].as_str().unwrap().to_owned();
            match e["event"].as_str() {
                Some("received") => *received.entry(id).or_default() += 1,
                Some("delivered") => *delivered.entry(id).or_default() += 1,
                _ => {}
            }
        }
        assert_eq!(
            delivered.len(),
            5,
            "[{}] nothing lost: {delivered:?}",
            store.name
        );
        let trace: Vec<String> = smtp
            .events()
            .iter()
            .map(|e| format!("{} {}", e["event"], e["message_id"]))
            .collect();
        assert!(
            delivered.values().all(|n| *n == 1),
            "{delivered:?} {trace:#?}"
        );
        for (id, n) in &received {
            if id.as_str() == in_flight["message_id"].as_str().unwrap() {
                assert_eq!(
                    *n, 2,
                    "the in-flight message was sent again with its Message-ID"
                );
            } else {
                assert_eq!(*n, 1, "{id} repeated");
            }
        }
        assert!(serve.stop().success());
    }
}
