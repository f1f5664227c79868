//! The admin center and the self-service portal in headless Chromium, as a person uses
//! them, against `pinbridge serve`:
//!
//! - the source document's admin path: sign in → Users → the user → Edit → Reset PIN →
//!   Reset → the PIN shown once; reload (the browser's resubmission of the POST) and
//!   back/forward show no PIN and reset nothing; the PIN verifies; the email arrives in
//!   the mailbox folder;
//! - PIN length 8 in the settings: the next reset gives 8 digits and the existing
//!   5-digit PIN still verifies until then;
//! - `/usp`: the user's own reset, shown once, no email;
//! - a user opening `/admin` gets 403; signed out, pages redirect to sign-in; after
//!   sign-out the old session cookie is refused;
//! - afterwards no table holds any PIN that was shown.
//!
//! Screenshots of the main pages go to `target/web-screenshots/<store>/`.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::browser::{Browser, raw_http};
use pinbridge_app::AddUser;
use pinbridge_domain::user::Role;
use pinbridge_domain::{Actor, DisplayName, EmailAddress, PIN_MASK, Upn};

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

fn wait_for_mail_with(dir: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(mail) = mailbox(dir).into_iter().find(|m| m.contains(needle)) {
            return mail;
        }
        assert!(
            Instant::now() < deadline,
            "no email with {needle:?} reached the mailbox"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
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

        let serve = store.serve(&[]);
        let base = serve.http.clone();
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
        assert!(browser.source().contains("Alice Example"));
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
        let after_reload = browser.source();
        assert!(
            !after_reload.contains(&pin),
            "the PIN is shown again after reload"
        );
        if after_reload.contains("id=\"new-pin\"") {
            assert_eq!(browser.text("#new-pin"), PIN_MASK);
        }
        browser.back();
        assert!(
            !browser.source().contains(&pin),
            "the PIN is shown after back"
        );
        browser.forward();
        assert!(
            !browser.source().contains(&pin),
            "the PIN is shown after forward"
        );
        assert_eq!(
            alice().conferencing.pin_version,
            version,
            "a reload reset the PIN"
        );
        assert!(verifies(&pin));

        // The PIN-reset email reached the mailbox folder, with the PIN.
        let mail = wait_for_mail_with(&store.data_dir(), &pin);
        assert!(mail.contains(ALICE), "{mail}");

        // PIN length 8: the existing 5-digit PIN keeps working, the next one has 8.
        browser.goto(&format!("{base}/admin/settings"));
        browser.fill("#pin_length", "8");
        browser.click("form.stack button[type=submit]");
        browser.wait_for_url("the saved settings", |u| u.contains("done="));
        assert!(
            browser
                .source()
                .contains("applies only to PINs generated afterwards")
                || browser
                    .source()
                    .contains("Applies only to PINs generated afterwards")
        );
        browser.screenshot("6-conferencing-settings");
        assert!(verifies(&pin), "the 5-digit PIN stopped working");
        let pin8 = admin_resets_pin(&browser, &base, false);
        assert!(is_pin(&pin8, 8), "{pin8}");
        shown_pins.push(pin8.clone());
        assert!(verifies(&pin8));

        browser.goto(&format!("{base}/admin/numbers"));
        browser.screenshot("7-dial-in-numbers");
        browser.goto(&format!("{base}/admin/audit"));
        assert!(browser.source().contains("user.pin_reset"));
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

        // Alice resets her own PIN at /usp: shown once, no email.
        browser.goto(&format!("{base}/signin"));
        browser.fill("#upn", ALICE);
        browser.fill("#password", ALICE_PASSWORD);
        browser.click("button[type=submit]");
        browser.wait_for_url("the portal", |u| u.ends_with("/usp"));
        assert_eq!(browser.text("#pin"), PIN_MASK);
        browser.screenshot("9-usp");
        let queued_before: i64 = runtime
            .block_on(
                sqlx::query_scalar("SELECT COUNT(*) FROM outbox").fetch_one(app.store().pool()),
            )
            .unwrap();
        browser.click("#reset");
        let own = browser.text("#new-pin");
        assert!(is_pin(&own, 8), "{own}");
        shown_pins.push(own.clone());
        assert!(browser.source().contains("No email was sent"));
        browser.screenshot("10-usp-pin-shown-once");
        assert!(verifies(&own));
        browser.refresh();
        assert!(
            !browser.source().contains(&own),
            "the own PIN is shown again"
        );
        assert!(verifies(&own), "a reload reset the own PIN");
        let queued_after: i64 = runtime
            .block_on(
                sqlx::query_scalar("SELECT COUNT(*) FROM outbox").fetch_one(app.store().pool()),
            )
            .unwrap();
        assert_eq!(
            queued_before, queued_after,
            "a self-service reset queued an email"
        );
        assert!(mailbox(&store.data_dir()).iter().all(|m| !m.contains(&own)));

        // A user opening the admin center is refused.
        browser.goto(&format!("{base}/admin/users"));
        assert!(browser.source().contains("Not allowed"));
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
        runtime.block_on(app.store().close());

        // No table (sessions included) and no file of the store holds a PIN shown above.
        for (place, bytes) in store.stored_bytes() {
            if place.contains("mailbox") {
                continue; // Delivered mail, like a user's inbox (settled rule 6).
            }
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
