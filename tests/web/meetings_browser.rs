//! A user schedules a meeting at `/meetings` in headless Chromium, against
//! `pinbridge serve` with a `public_url`, and the copy button puts the invitation on the
//! clipboard: what the clipboard holds afterwards is the text of the invitation field,
//! with the join link under the public URL, the number, the conference ID and the PIN
//! reset link. (The store does not matter here: SQLite only.)
//!
//! Screenshots of the list and the invitation go to
//! `target/web-screenshots/meetings/`.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::browser::Browser;
use pinbridge_app::AddUser;
use pinbridge_domain::user::Role;
use pinbridge_domain::{Actor, DisplayName, EmailAddress, Upn};

const ALICE: &str = "alice@contoso.example";
const ALICE_PASSWORD: &str = "alice's long passphrase";

#[test]
fn the_copy_button_puts_the_invitation_on_the_clipboard() {
    let store = common::sqlite();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let app = runtime.block_on(store.app());
    store.ok(&["number", "add", "+14255550100"]);
    runtime
        .block_on(app.add_user(
            &Actor::system(),
            AddUser {
                upn: Upn::parse(ALICE).unwrap(),
                display_name: DisplayName::parse("Alice Example").unwrap(),
                primary_smtp_address: Some(EmailAddress::parse(ALICE).unwrap()),
                role: Role::User,
                password: Some(ALICE_PASSWORD.to_owned()),
            },
        ))
        .unwrap();
    store.ok(&["user", "enable", ALICE]);
    runtime.block_on(app.close());

    let port = pinbridge_testkit::ports::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = store.dir.path().join("web.toml");
    std::fs::write(&config, format!("public_url = \"{base}/\"\n")).expect("write the config");
    let http = format!("127.0.0.1:{port}");
    let serve = store.serve(&["--http", &http, "--config", &config.to_string_lossy()]);
    assert_eq!(serve.url, base);

    let shots = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("web-screenshots")
        .join("meetings");
    let browser = Browser::start(&shots);
    browser.goto(&format!("{base}/meetings"));
    browser.wait_for_url("the sign-in page", |u| u.contains("/signin"));
    browser.fill("#upn", ALICE);
    browser.fill("#password", ALICE_PASSWORD);
    browser.click("button[type=submit]");
    browser.wait_for_url("the meetings page", |u| u.ends_with("/meetings"));
    browser.wait_for_source("the personal meeting", |s| s.contains("Personal meeting"));
    browser.screenshot("1-my-meetings");

    browser.fill("#subject", "Q3 review");
    browser.click("#anonymous_start option[value=on]");
    browser.click("#schedule-meeting");
    browser.wait_for_url("the invitation", |u| u.ends_with("?done=created"));
    browser.wait_for_source("the invitation", |s| s.contains("id=\"invitation\""));
    let id = browser.text("#conference-id");
    assert_eq!(id.len(), 9, "{id}");

    // The script showed the button (a hidden button cannot be clicked).
    browser.set_permission("clipboard-read", "granted");
    browser.click("#copy-invitation");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = browser.text("#copy-status");
        if status == "Copied to the clipboard." {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the copy never happened: {status:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    browser.screenshot("2-invitation-copied");
    let field = browser.execute_async(
        "arguments[arguments.length - 1](document.getElementById('invitation').value)",
    );
    let clipboard = browser.execute_async(
        "const done = arguments[arguments.length - 1];\
         navigator.clipboard.readText().then(done, e => done('refused: ' + e));",
    );
    assert_eq!(clipboard, field);
    let text = clipboard.as_str().expect("text on the clipboard");
    assert_eq!(
        text,
        format!(
            "Q3 review\n\nJoin the meeting from your browser:\n{base}/meet/{id}\n\n\
             Or call in (audio only):\n+14255550100,,{id}# (toll)\n\
             Phone conference ID: {id}#\n\nReset dial-in PIN: {base}/usp\n"
        )
    );

    drop(browser);
    assert!(serve.stop().success());
}
