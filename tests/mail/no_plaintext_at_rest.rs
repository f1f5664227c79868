//! PINs at rest: the outbox holds email content only encrypted, and erases it once
//! delivered. After delivery, the SQLite file and its WAL, and a `pg_dump` of the
//! PostgreSQL schema, hold no PIN digits and no message body.

use crate::{common, mail};

use std::process::Command;

use mail::{SmtpServer, flush, user_json};

/// Sentences of the message bodies that must not be in the database.
const BODY_TEXT: [&str; 3] = [
    "How to join by phone",
    "Keep your PIN to yourself",
    "Dial-in numbers",
];

fn database_bytes(store: &common::TestStore) -> Vec<u8> {
    match mail::pg_schema(store) {
        None => {
            let db = store.data_dir().join("pinbridge.db");
            let mut bytes = std::fs::read(&db).expect("the SQLite file");
            let wal = db.with_file_name("pinbridge.db-wal");
            bytes.extend(std::fs::read(wal).unwrap_or_default());
            bytes
        }
        Some(schema) => {
            let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
            let out = Command::new("pg_dump")
                .arg("--dbname")
                .arg(&base)
                .arg("--schema")
                .arg(&schema)
                .output()
                .expect("run pg_dump");
            assert!(
                out.status.success(),
                "pg_dump: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn after_delivery_the_database_holds_no_pin_and_no_body() {
    for store in common::stores() {
        let smtp = SmtpServer::start(store.dir.path(), 0, &[]);
        let config = mail::config_file(&store, smtp.port, &[]);
        mail::setup_tenant(&store);
        let mut pins = Vec::new();
        for n in 0..4 {
            let upn = format!("user{n}@contoso.example");
            mail::add_user(&store, &upn, &format!("User {n}"));
            pins.push(
                user_json(&store, &["enable", &upn])["pin"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
            pins.push(
                user_json(&store, &["set", &upn, "--reset-leader-pin"])["pin"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        assert!(pins.iter().all(|p| p.len() == 12));

        // Queued: the content is there, but only encrypted.
        let queued = database_bytes(&store);
        for pin in &pins {
            assert!(
                !contains(&queued, pin),
                "[{}] a queued PIN is in plaintext",
                store.name
            );
        }
        assert!(
            mail::list(&store, false)
                .iter()
                .all(|r| r["content_stored"] == true)
        );

        let report = flush(&store, &config);
        assert_eq!(report["delivered"], 8, "{report}");
        for (n, pin) in pins.iter().enumerate() {
            let delivered = smtp.delivered();
            assert!(
                delivered
                    .iter()
                    .any(|m| m["text"].as_str().unwrap().contains(pin.as_str())),
                "PIN {n} reached its user"
            );
        }
        let bytes = database_bytes(&store);
        for pin in &pins {
            assert!(
                !contains(&bytes, pin),
                "[{}] a PIN is in the database",
                store.name
            );
        }
        for sentence in BODY_TEXT {
            assert!(
                !contains(&bytes, sentence),
                "[{}] {sentence:?} is in the database",
                store.name
            );
        }
        assert!(
            mail::list(&store, false)
                .iter()
                .all(|r| r["content_stored"] == false)
        );
    }
}
