//! `serve --https` answers over TLS (rustls) next to plain HTTP, and its cookies are
//! `Secure`; plain HTTP cookies are not.

use crate::common;

use std::process::Command;

/// `curl` over HTTPS, trusting the test certificate: the status line and headers.
fn curl_head(url: &str, ca: &str) -> String {
    let out = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--max-time",
            "20",
            "--cacert",
            ca,
            "--dump-header",
            "-",
            "--output",
            "/dev/null",
            url,
        ])
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn https_serves_with_secure_cookies() {
    let store = common::sqlite();
    // The test kit's PKI: a certificate for 127.0.0.1, issued by a CA curl trusts.
    let pki = pinbridge_testkit::tls::Pki::create();
    let (cert, key, ca) = (
        pki.server_cert.display().to_string(),
        pki.server_key.display().to_string(),
        pki.ca_cert.display().to_string(),
    );
    let mut serve = store.serve(&[
        "--https",
        "127.0.0.1:0",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ]);
    let https = serve.wait_for_line("listening on https://", std::time::Duration::from_secs(30));
    let https = https.trim_start_matches("listening on ").trim().to_owned();

    let health = curl_head(&format!("{https}/healthz"), &ca);
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let signin = curl_head(&format!("{https}/signin"), &ca);
    let cookie = signin
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a cookie");
    assert!(
        cookie.contains("; Secure")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    let plain = curl_head(&format!("{}/signin", serve.url), &ca);
    let cookie = plain
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a cookie");
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert!(serve.stop().success());
}

#[test]
fn https_without_a_key_is_a_clear_error() {
    let store = common::sqlite();
    let out = store.run(&["serve", "--http", "127.0.0.1:0", "--https", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--tls-cert"), "{err}");
}
