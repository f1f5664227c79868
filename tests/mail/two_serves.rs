//! Two `serve` processes on one PostgreSQL share an outbox of 1,000 emails: each is
//! delivered exactly once. PostgreSQL only (SQLite has one writer anyway): the one of
//! DATABASE_URL, else a private cluster the test starts.

use crate::{common, mail};

use std::collections::BTreeMap;
use std::time::Duration;

use mail::{SmtpServer, wait_until};
use pinbridge_domain::audit::Actor;
use pinbridge_domain::ops::SetOptions;

#[test]
fn two_serves_on_one_postgres_deliver_each_email_once() {
    // The PostgreSQL of DATABASE_URL, or else a private one started for this test: the
    // test always runs for real.
    let private;
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(_) => {
            private = common::private_postgres::PrivatePostgres::start();
            private.url()
        }
    };
    let store = common::postgres(&url);
    let smtp = SmtpServer::start(store.dir.path(), 0, &[]);
    let config = mail::config_file(&store, smtp.port, &[]);
    mail::setup_tenant(&store);
    for n in 0..10 {
        let upn = format!("user{n}@contoso.example");
        mail::add_user(&store, &upn, &format!("User {n}"));
        store.ok(&["user", "enable", &upn]);
    }
    // 990 more emails: "send conference info" needs no PIN hashing, so they queue fast.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let app = store.app().await;
        let actor = Actor::cli("test");
        let options = SetOptions {
            send_email: true,
            ..SetOptions::default()
        };
        for i in 0..990 {
            let upn =
                pinbridge_domain::Upn::parse(&format!("user{}@contoso.example", i % 10)).unwrap();
            app.set_user(&actor, &upn, &options, false, None)
                .await
                .unwrap();
        }
        app.close().await;
    });
    let first = store.serve(&["--config", &config]);
    let second = store.serve(&["--config", &config]);
    wait_until("1,000 deliveries", Duration::from_secs(300), || {
        smtp.count("delivered") >= 1000
    });
    wait_until("the outbox to record them", Duration::from_secs(60), || {
        let listed = store.json(&["mail", "list", "--limit", "2000"]);
        let rows = listed.as_array().cloned().unwrap_or_default();
        rows.len() == 1000 && rows.iter().all(|r| r["status"] == "sent")
    });
    let mut per_id: BTreeMap<String, usize> = BTreeMap::new();
    for m in smtp.delivered() {
        *per_id
            .entry(m["message_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_id.len(), 1000);
    let repeated: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "sent twice: {repeated:?}");
    assert_eq!(smtp.count("received"), 1000);
    assert!(first.stop().success());
    assert!(second.stop().success());
}
