//! With no SMTP server configured, `serve` says at start that mail goes into
//! `<data-dir>/mailbox/`, and delivers each email there as one `.eml` file, mode 0600.

use crate::{common, mail};

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

#[test]
fn without_smtp_emails_land_in_the_mailbox_folder() {
    let store = common::sqlite();
    mail::setup_tenant(&store);
    let mut serve = store.serve(&[]);
    let line = serve.wait_for_line("mail goes to", Duration::from_secs(30));
    let mailbox = store.data_dir().join("mailbox");
    assert!(line.contains(&format!("{}/", mailbox.display())), "{line}");

    mail::add_user(&store, "gina@contoso.example", "Gina");
    let pin = mail::user_json(&store, &["enable", "gina@contoso.example"])["pin"]
        .as_str()
        .unwrap()
        .to_owned();
    mail::wait_until("the .eml file", Duration::from_secs(30), || {
        mail::list(&store, false)
            .iter()
            .all(|r| r["status"] == "sent")
    });
    let files = common::files_below(&mailbox);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].extension().is_some_and(|e| e == "eml"));
    let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    let unfolded = raw.replace("=\r\n", "").replace("=\n", "");
    assert!(unfolded.contains(&format!("PIN: {pin}")), "{raw}");
    assert!(raw.contains("Message-ID: <") && raw.contains("multipart/alternative"));
    assert!(serve.stop().success());
}
