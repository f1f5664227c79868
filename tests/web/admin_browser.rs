//! The admin center and the self-service portal in headless Chromium, as a person uses
//! them, against `pinbridge serve`:
//!
//! - the source document's admin path: sign in → Users → the user → Edit → Reset PIN →
//!   Reset → the PIN shown once; reload (the browser's resubmission of the POST) and
//!   back/forward show no PIN and reset nothing; the PIN verifies; the PIN-reset email
//!   with the new PIN arrives at a real SMTP server (`tests/smtp_server.py`);
//! - PIN length 8 in the settings: the next reset gives 8 digits and the existing
//!   5-digit PIN still verifies until then;
//! - automatic emails off in the settings: the reset page says no email was sent and
//!   why, and the SMTP server receives nothing;
//! - `/usp`: the user's own reset, shown once, no email at the SMTP server;
//! - a user opening `/admin` gets 403; signed out, pages redirect to sign-in; after
//!   sign-out the old session cookie is refused;
//! - afterwards no table holds any PIN that was shown.
//!
//! Screenshots of the main pages go to `target/web-screenshots/<store>/`.

use crate::{common, mail};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::browser::{Browser, raw_http};
use mail::SmtpServer;
use pinbridge_app::AddUser;
use pinbridge_app::App;
use pinbridge_domain::user::Role;
use pinbridge_domain::{Actor, DisplayName, EmailAddress, PIN_MASK, Upn};
use serde_json::Value;

const ADMIN: &str = "admin@contoso.example";
const ADMIN_PASSWORD: &str = "correct horse battery staple";
const ALICE: &str = "alice@contoso.example";
const ALICE_PASSWORD: &str = "alice's long passphrase";

fn screenshot_dir(store: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("web-screenshots")
        .join(store)
}

/// The `.eml` files delivered to the mailbox folder, with their contents.
fn mailbox(dir: &Path) -> Vec<String> {
    common::files_below(&dir.join("mailbox"))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "eml"))
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect()
}

/// Waits (up to a minute) for a message the SMTP server answered 250 that satisfies
/// `check`, and returns it.
fn wait_for_delivered(smtp: &SmtpServer, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(m) = smtp.delivered().into_iter().find(&check) {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "{what} never reached the SMTP server; it received: {:#?}",
            smtp.events()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn outbox_count(runtime: &tokio::runtime::Runtime, app: &App, filter: &str) -> i64 {
    runtime
        .block_on(
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM outbox{filter}"
            )))
            .fetch_one(app.store().pool()),
        )
        .expect("count the outbox")
}

/// Waits (up to a minute) until the outbox has nothing left to send and the SMTP server
/// has received every email the outbox marked sent; returns what it received. After
/// this, an email that was not received was never queued.
fn settled_mail(runtime: &tokio::runtime::Runtime, app: &App, smtp: &SmtpServer) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pending = outbox_count(runtime, app, " WHERE status IN ('queued', 'sending')");
        let sent = outbox_count(runtime, app, " WHERE status = 'sent'");
        let delivered = smtp.delivered();
        if pending == 0 && usize::try_from(sent) == Ok(delivered.len()) {
            return delivered;
        }
        assert!(
            Instant::now() < deadline,
            "the outbox never settled: {pending} to send, {sent} sent, {} received",
            delivered.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sets the tenant's "Automatically send emails to users" in the settings page.
fn set_automatic_emails(
    browser: &Browser,
    base: &str,
    runtime: &tokio::runtime::Runtime,
    app: &App,
    on: bool,
) {
    browser.goto(&format!("{base}/admin/settings"));
    let source = browser.wait_for_source("the settings form", |s| s.contains("id=\"ase\""));
    let checked = source
        .split("id=\"ase\"")
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .is_some_and(|attributes| attributes.contains("checked"));
    if checked != on {
        browser.click("#ase");
    }
    browser.click("form.stack button[type=submit]");
    browser.wait_for_url("the saved settings", |u| u.contains("done="));
    let settings = runtime
        .block_on(app.tenant_settings())
        .expect("read the settings");
    assert_eq!(settings.automatically_send_emails, on);
}

/// A page loaded after a reload or forward of the PIN page: the PIN page again
/// (resubmitted), or Chromium's own page asking to resubmit the form.
fn reloaded(source: &str) -> bool {
    source.contains("id=\"new-pin\"") || source.contains("ERR_CACHE_MISS")
}

fn is_pin(text: &str, digits: usize) -> bool {
    text.len() == digits && text.chars().all(|c| c.is_ascii_digit())
}

/// The admin path: Users → user → Edit → Reset PIN → Reset. Returns the PIN shown.
fn admin_resets_pin(browser: &Browser, base: &str, shots: bool) -> String {
    browser.goto(&format!("{base}/admin/users"));
    browser.click(&format!("a[href=\"/admin/users/{ALICE}\"]"));
    browser.wait_for_url("the user page", |u| u.ends_with(ALICE));
    if shots {
        browser.screenshot("2-user");
    }
    browser.click("a.button[href$=\"/edit\"]");
    browser.wait_for_url("the edit page", |u| u.contains("/edit"));
    assert_eq!(browser.text("#pin"), PIN_MASK);
    if shots {
        browser.screenshot("3-user-edit-audio-conferencing");
    }
    browser.click("a.button[href$=\"/reset-pin\"]");
    browser.wait_for_url("the confirmation", |u| u.ends_with("/reset-pin"));
    if shots {
        browser.screenshot("4-reset-pin-confirm");
    }
    browser.click("#reset");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let shown = browser.text("#new-pin");
        if shown.chars().all(|c| c.is_ascii_digit()) && !shown.is_empty() {
            if shots {
                browser.screenshot("5-reset-pin-shown-once");
            }
            return shown;
        }
        assert!(Instant::now() < deadline, "no PIN shown: {shown}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn admin_and_self_service_pin_resets_in_a_real_browser() {
    for store in common::stores() {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let app = runtime.block_on(store.app());
        let actor = Actor::system();
        store.ok(&["number", "add", "+14255550100"]);
        runtime.block_on(async {
            for (upn, name, role, password) in [
                (ADMIN, "IT Admin", Role::Admin, ADMIN_PASSWORD),
                (ALICE, "Alice Example", Role::User, ALICE_PASSWORD),
            ] {
                app.add_user(
                    &actor,
                    AddUser {
                        upn: Upn::parse(upn).unwrap(),
                        display_name: DisplayName::parse(name).unwrap(),
                        primary_smtp_address: Some(EmailAddress::parse(upn).unwrap()),
                        role,
                        password: Some(password.to_owned()),
                    },
                )
                .await
                .unwrap();
            }
        });
        store.ok(&["user", "enable", ALICE]);
        let alice_upn = Upn::parse(ALICE).unwrap();
        let alice = || runtime.block_on(app.user(&alice_upn)).unwrap();
        let verifies = |pin: &str| runtime.block_on(app.verify_pin(&alice(), pin)).unwrap();

        // Mail goes to a real SMTP server, not the mailbox folder.
        let smtp = SmtpServer::start(store.dir.path(), 0, &[]);
        let config = mail::config_file(&store, smtp.port, &[]);
        let serve = store.serve(&["--config", &config]);
        let base = serve.url.clone();
        let shots = screenshot_dir(store.name);
        let browser = Browser::start(&shots);
        let mut shown_pins = Vec::new();

        // Signed out: the admin center sends the browser to sign in.
        browser.goto(&format!("{base}/admin/users"));
        browser.wait_for_url("the sign-in page", |u| u.contains("/signin"));
        browser.screenshot("0-sign-in");
        browser.fill("#upn", ADMIN);
        browser.fill("#password", ADMIN_PASSWORD);
        browser.click("button[type=submit]");
        browser.wait_for_url("the users list", |u| u.ends_with("/admin/users"));
        browser.wait_for_source("Alice in the users list", |s| s.contains("Alice Example"));
        browser.screenshot("1-users");

        let pin = admin_resets_pin(&browser, &base, true);
        assert!(is_pin(&pin, 5), "{pin}");
        shown_pins.push(pin.clone());
        assert!(
            browser
                .text("#email-status")
                .contains("queued for alice@contoso.example")
        );
        let version = alice().conferencing.pin_version;
        assert!(
            verifies(&pin),
            "[{}] the PIN shown does not verify",
            store.name
        );

        // Reload: the browser resubmits the POST (or shows its resubmission page);
        // either way no PIN, and nothing was reset.
        browser.refresh();
        let after_reload = browser.wait_for_source("the page after reload", reloaded);
        assert!(
            !after_reload.contains(&pin),
            "the PIN is shown again after reload"
        );
        if after_reload.contains("id=\"new-pin\"") {
            assert_eq!(browser.text("#new-pin"), PIN_MASK);
        }
        browser.back();
        let after_back = browser.wait_for_source("the page before the reset", |s| {
            s.contains("id=\"reset\"") || reloaded(s)
        });
        assert!(!after_back.contains(&pin), "the PIN is shown after back");
        browser.forward();
        let after_forward = browser.wait_for_source("the page after forward", reloaded);
        assert!(
            !after_forward.contains(&pin),
            "the PIN is shown after forward"
        );
        assert_eq!(
            alice().conferencing.pin_version,
            version,
            "a reload reset the PIN"
        );
        assert!(verifies(&pin));

        // The PIN-reset email reached the SMTP server, to Alice, with the PIN.
        let reset_mail = wait_for_delivered(&smtp, "the PIN-reset email", |m| {
            mail::body(m).contains(&format!("PIN: {pin}"))
        });
        assert_eq!(reset_mail["rcpt_tos"], serde_json::json!([ALICE]));
        assert!(
            reset_mail["subject"]
                .as_str()
                .unwrap_or("")
                .contains("PIN was reset"),
            "{reset_mail:#?}"
        );

        // PIN length 8: the existing 5-digit PIN keeps working, the next one has 8.
        browser.goto(&format!("{base}/admin/settings"));
        browser.fill("#pin_length", "8");
        browser.click("form.stack button[type=submit]");
        browser.wait_for_url("the saved settings", |u| u.contains("done="));
        browser.wait_for_source("the PIN length note", |s| {
            s.contains("pplies only to PINs generated afterwards")
        });
        browser.screenshot("6-conferencing-settings");
        assert!(verifies(&pin), "the 5-digit PIN stopped working");
        let pin8 = admin_resets_pin(&browser, &base, false);
        assert!(is_pin(&pin8, 8), "{pin8}");
        shown_pins.push(pin8.clone());
        assert!(verifies(&pin8));
        wait_for_delivered(&smtp, "the second PIN-reset email", |m| {
            mail::body(m).contains(&format!("PIN: {pin8}"))
        });

        // Automatic emails off: the page says no email was sent and why, nothing is
        // queued, and once the outbox has settled the SMTP server has received nothing
        // new.
        let received_before = settled_mail(&runtime, &app, &smtp).len();
        set_automatic_emails(&browser, &base, &runtime, &app, false);
        let queued_before = outbox_count(&runtime, &app, "");
        let pin_off = admin_resets_pin(&browser, &base, false);
        assert!(is_pin(&pin_off, 8), "{pin_off}");
        shown_pins.push(pin_off.clone());
        let status = browser.text("#email-status");
        assert!(
            status.contains("was not sent")
                && status.contains("automatic emails are off: give the user this PIN yourself"),
            "{status}"
        );
        browser.screenshot("5b-reset-pin-emails-off");
        assert!(verifies(&pin_off));
        assert_eq!(
            outbox_count(&runtime, &app, ""),
            queued_before,
            "a reset with automatic emails off queued an email"
        );
        let received = settled_mail(&runtime, &app, &smtp);
        assert_eq!(
            received.len(),
            received_before,
            "[{}] the SMTP server received mail for a reset with emails off: {:#?}",
            store.name,
            &received[received_before..]
        );
        assert!(received.iter().all(|m| !mail::body(m).contains(&pin_off)));
        set_automatic_emails(&browser, &base, &runtime, &app, true);

        browser.goto(&format!("{base}/admin/numbers"));
        browser.screenshot("7-dial-in-numbers");
        browser.goto(&format!("{base}/admin/audit"));
        browser.wait_for_source("the PIN resets in the audit log", |s| {
            s.contains("user.pin_reset")
        });
        browser.screenshot("8-audit-log");

        // Sign out; the old session cookie is refused afterwards.
        let old_session = browser
            .cookies()
            .into_iter()
            .find(|(name, _)| name == "pb_session")
            .map(|(_, value)| value)
            .expect("a session cookie");
        browser.click(".signout button");
        browser.wait_for_url("the sign-in page", |u| u.contains("/signin"));
        browser.add_cookie("pb_session", &old_session);
        browser.goto(&format!("{base}/admin/users"));
        browser.wait_for_url("the sign-in page", |u| u.contains("/signin"));
        let addr = base.trim_start_matches("http://");
        let cookie = format!("pb_session={old_session}");
        let (status, _) = raw_http(addr, "GET", "/admin/users", &[("Cookie", &cookie)], None);
        assert_eq!(status, 303, "the old cookie still works");

        // Alice resets her own PIN at /usp, with automatic emails on: shown once, and
        // no email reaches the SMTP server.
        browser.goto(&format!("{base}/signin"));
        browser.fill("#upn", ALICE);
        browser.fill("#password", ALICE_PASSWORD);
        browser.click("button[type=submit]");
        browser.wait_for_url("the portal", |u| u.ends_with("/usp"));
        assert_eq!(browser.text("#pin"), PIN_MASK);
        browser.screenshot("9-usp");
        let received_before = settled_mail(&runtime, &app, &smtp).len();
        let queued_before = outbox_count(&runtime, &app, "");
        browser.click("#reset");
        let own = browser.text("#new-pin");
        assert!(is_pin(&own, 8), "{own}");
        shown_pins.push(own.clone());
        browser.wait_for_source("the no-email note", |s| s.contains("No email was sent"));
        browser.screenshot("10-usp-pin-shown-once");
        assert!(verifies(&own));
        browser.refresh();
        let after_reload = browser.wait_for_source("the portal after reload", reloaded);
        assert!(!after_reload.contains(&own), "the own PIN is shown again");
        assert!(verifies(&own), "a reload reset the own PIN");
        assert_eq!(
            outbox_count(&runtime, &app, ""),
            queued_before,
            "a self-service reset queued an email"
        );
        let received = settled_mail(&runtime, &app, &smtp);
        assert_eq!(
            received.len(),
            received_before,
            "[{}] the SMTP server received mail for a self-service reset: {:#?}",
            store.name,
            &received[received_before..]
        );
        assert!(received.iter().all(|m| !mail::body(m).contains(&own)));
        // Everything went to the SMTP server; the mailbox folder stayed empty.
        assert!(mailbox(&store.data_dir()).is_empty());

        // A user opening the admin center is refused.
        browser.goto(&format!("{base}/admin/users"));
        browser.wait_for_source("the refusal", |s| s.contains("Not allowed"));
        browser.screenshot("11-user-opens-admin");
        let alice_session = browser
            .cookies()
            .into_iter()
            .find(|(name, _)| name == "pb_session")
            .map(|(_, value)| value)
            .expect("alice's session cookie");
        let cookie = format!("pb_session={alice_session}");
        let (status, _) = raw_http(addr, "GET", "/admin/users", &[("Cookie", &cookie)], None);
        assert_eq!(status, 403);

        drop(browser);
        assert!(serve.stop().success());
        runtime.block_on(app.close());

        // No table (sessions included) and no file of the store holds a PIN shown above.
        for (place, bytes) in store.stored_bytes() {
            for pin in &shown_pins {
                assert!(
                    !bytes.windows(pin.len()).any(|w| w == pin.as_bytes()),
                    "[{}] {place} holds the PIN {pin}",
                    store.name
                );
            }
        }
    }
}
