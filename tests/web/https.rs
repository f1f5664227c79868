//! `serve --https` answers over TLS (rustls) next to plain HTTP, and its cookies are
//! `Secure`; plain HTTP cookies are not.

use crate::common;

use std::process::Command;

/// A self-signed certificate for 127.0.0.1 and its key, made with openssl.
fn self_signed(dir: &std::path::Path) -> (String, String) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl");
    assert!(status.success(), "openssl could not make a certificate");
    (cert.display().to_string(), key.display().to_string())
}

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
    let (cert, key) = self_signed(store.dir.path());
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

    let health = curl_head(&format!("{https}/healthz"), &cert);
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let signin = curl_head(&format!("{https}/signin"), &cert);
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

    let plain = curl_head(&format!("{}/signin", serve.url), &cert);
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
