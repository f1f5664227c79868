//! Every conferencing email event produces exactly the right message to the right
//! address, or none: set-up, admin PIN reset, conference ID change, conference info on
//! request, the override address and its removal, disabling; a self-service reset and a
//! user without a mailbox produce none. Delivered through a real SMTP server.

use crate::{common, mail};

use mail::{SmtpServer, body, flush, user_json};
use serde_json::Value;

/// Flushes and returns the messages delivered since `seen`.
fn deliver_new(
    store: &common::TestStore,
    config: &str,
    smtp: &SmtpServer,
    seen: &mut usize,
) -> Vec<Value> {
    flush(store, config);
    let all = smtp.delivered();
    let new = all[*seen..].to_vec();
    *seen = all.len();
    new
}

fn only_one(messages: Vec<Value>, kind_subject: &str, to: &str) -> Value {
    assert_eq!(
        messages.len(),
        1,
        "exactly one message expected: {messages:#?}"
    );
    let m = messages.into_iter().next().unwrap();
    assert_eq!(m["rcpt_tos"], serde_json::json!([to]), "{m:#?}");
    let subject = m["subject"].as_str().unwrap_or("");
    assert!(subject.contains(kind_subject), "subject {subject:?}");
    assert_eq!(m["content_type"], "multipart/alternative");
    m
}

#[test]
fn every_event_sends_the_right_email_to_the_right_address_or_none() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for store in common::stores() {
        let smtp = SmtpServer::start(store.dir.path(), 0, &[]);
        let config = mail::config_file(&store, smtp.port, &[]);
        mail::setup_tenant(&store);
        mail::add_user(&store, "alice@contoso.example", "Alice <Smith>");
        let mut seen = 0;

        // Set up: conference ID, numbers with labels and languages, the PIN, the portal.
        let enabled = user_json(
            &store,
            &[
                "enable",
                "alice@contoso.example",
                "--toll-free-service-number",
                mail::TOLL_FREE,
            ],
        );
        let pin1 = enabled["pin"].as_str().unwrap().to_owned();
        assert_eq!(pin1.len(), 12);
        let conf_id = enabled["audio_conferencing"]["conference_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let m = only_one(
            deliver_new(&store, &config, &smtp, &mut seen),
            "set up",
            "alice@contoso.example",
        );
        let text = m["text"].as_str().unwrap();
        assert!(text.contains(&format!("PIN: {pin1}")), "{text}");
        assert!(
            text.contains(&format!("Conference ID: {conf_id}")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{}  Toll (en-US)", mail::TOLL)),
            "{text}"
        );
        assert!(
            text.contains(&format!("{}  Toll-free (fr-FR)", mail::TOLL_FREE)),
            "{text}"
        );
        assert!(text.contains("How to join by phone"));
        assert!(text.contains("https://pinbridge.test/usp"));
        let html = m["html"].as_str().unwrap();
        assert!(
            html.contains("Contoso &amp; Partners") && html.contains("Alice &lt;Smith&gt;"),
            "{html}"
        );
        assert!(html.contains(&pin1));
        assert!(
            m["message_id"]
                .as_str()
                .unwrap()
                .ends_with("@contoso.example>")
        );

        // Admin PIN reset: the new PIN, conference ID and numbers.
        let reset = user_json(
            &store,
            &["set", "alice@contoso.example", "--reset-leader-pin"],
        );
        let pin2 = reset["pin"].as_str().unwrap().to_owned();
        let m = only_one(
            deliver_new(&store, &config, &smtp, &mut seen),
            "PIN was reset",
            "alice@contoso.example",
        );
        let b = body(&m);
        assert!(b.contains(&pin2) && !b.contains(&pin1));
        assert!(b.contains(&conf_id) && b.contains(mail::TOLL));

        // Conference ID changed: the new ID, no PIN.
        let changed = user_json(
            &store,
            &["set", "alice@contoso.example", "--reset-conference-id"],
        );
        let conf_id2 = changed["audio_conferencing"]["conference_id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_ne!(conf_id, conf_id2);
        let m = only_one(
            deliver_new(&store, &config, &smtp, &mut seen),
            "has changed",
            "alice@contoso.example",
        );
        let b = body(&m);
        assert!(b.contains(&conf_id2) && !b.contains(&pin2) && !b.contains("PIN: "));

        // Default number changed: no PIN.
        store.ok(&["number", "add", "+14255550111"]);
        store.ok(&[
            "user",
            "set",
            "alice@contoso.example",
            "--service-number",
            "+14255550111",
        ]);
        let m = only_one(
            deliver_new(&store, &config, &smtp, &mut seen),
            "has changed",
            "alice@contoso.example",
        );
        assert!(body(&m).contains("+14255550111") && !body(&m).contains(&pin2));

        // Conference info on request: no PIN.
        store.ok(&["user", "set", "alice@contoso.example", "--send-email"]);
        let m = only_one(
            deliver_new(&store, &config, &smtp, &mut seen),
            "your audio conferencing information",
            "alice@contoso.example",
        );
        assert!(body(&m).contains(&conf_id2) && !body(&m).contains(&pin2));

        // The override address (any domain) is remembered for later emails, until cleared.
        store.ok(&[
            "user",
            "set",
            "alice@contoso.example",
            "--send-email-to-address",
            "alice@hotmail.example",
            "--send-email",
        ]);
        only_one(
            deliver_new(&store, &config, &smtp, &mut seen),
            "information",
            "alice@hotmail.example",
        );
        let reset = user_json(
            &store,
            &["set", "alice@contoso.example", "--reset-leader-pin"],
        );
        let pin3 = reset["pin"].as_str().unwrap().to_owned();
        let m = only_one(
            deliver_new(&store, &config, &smtp, &mut seen),
            "PIN was reset",
            "alice@hotmail.example",
        );
        assert!(body(&m).contains(&pin3));
        store.ok(&[
            "user",
            "set",
            "alice@contoso.example",
            "--clear-send-email-to-address",
        ]);
        assert!(
            deliver_new(&store, &config, &smtp, &mut seen).is_empty(),
            "clearing sends nothing"
        );
        store.ok(&["user", "set", "alice@contoso.example", "--send-email"]);
        only_one(
            deliver_new(&store, &config, &smtp, &mut seen),
            "information",
            "alice@contoso.example",
        );

        // Self-service reset (the domain call the portal makes): no email.
        let app = runtime.block_on(store.app());
        let upn = pinbridge_domain::Upn::parse("alice@contoso.example").unwrap();
        let own = runtime.block_on(app.reset_own_pin(&upn)).unwrap();
        assert_eq!(own.pin.reveal().len(), 12);
        runtime.block_on(app.close());
        assert!(
            deliver_new(&store, &config, &smtp, &mut seen).is_empty(),
            "self-service reset sends nothing"
        );

        // No mailbox and no override: nothing queued, and the command says why.
        store.ok(&[
            "user",
            "add",
            "bob@contoso.example",
            "--display-name",
            "Bob",
            "--no-mailbox",
        ]);
        let out = store.ok(&["user", "enable", "bob@contoso.example"]);
        assert!(out.contains("no mailbox and no override address"), "{out}");
        assert!(deliver_new(&store, &config, &smtp, &mut seen).is_empty());

        // Disabled: the notice, no PIN, no numbers.
        store.ok(&["user", "disable", "alice@contoso.example"]);
        let m = only_one(
            deliver_new(&store, &config, &smtp, &mut seen),
            "turned off",
            "alice@contoso.example",
        );
        assert!(!body(&m).contains(own.pin.reveal()) && !body(&m).contains("PIN: "));

        // A line break in a name never reaches a header: refused at input.
        store.fails(&[
            "user",
            "add",
            "eve@contoso.example",
            "--display-name",
            "Eve\r\nBcc: x@evil.example",
        ]);

        // Every message had its own Message-ID, and the outbox agrees.
        let ids: std::collections::BTreeSet<String> = smtp
            .delivered()
            .iter()
            .map(|m| m["message_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), seen, "[{}]", store.name);
        let listed = mail::list(&store, false);
        assert_eq!(listed.len(), seen);
        assert!(
            listed
                .iter()
                .all(|r| r["status"] == "sent" && r["content_stored"] == false)
        );
    }
}
