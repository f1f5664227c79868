//! STARTTLS to a local SMTP server: delivered when the test CA is trusted
//! (`smtp_ca_file`); refused when the certificate does not verify, unless the config
//! explicitly accepts it (`smtp_accept_invalid_certificate = true`).

use crate::{common, mail};

use std::path::Path;
use std::process::Command;

use mail::{SmtpServer, flush};

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl");
    assert!(status.success(), "openssl {args:?}");
}

/// A test CA and a server certificate for 127.0.0.1 signed by it.
fn certificates(dir: &Path) {
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName = IP:127.0.0.1, DNS:localhost\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=pinbridge test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
}

#[test]
fn starttls_verifies_the_server_certificate() {
    let store = common::sqlite();
    let dir = store.dir.path().to_path_buf();
    certificates(&dir);
    let cert = dir.join("server.pem");
    let key = dir.join("server.key");
    let smtp = SmtpServer::start(
        &dir,
        0,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    mail::setup_tenant(&store);
    mail::add_user(&store, "frank@contoso.example", "Frank");
    store.ok(&["user", "enable", "frank@contoso.example"]);

    // The certificate is signed by a CA nobody trusts: refused, and the email waits.
    let untrusted = mail::config_file(&store, smtp.port, &["smtp_security = \"starttls\""]);
    let report = flush(&store, &untrusted);
    assert_eq!(report["retry_later"], 1, "{report}");
    assert_eq!(smtp.count("received"), 0);
    let listed = mail::list(&store, false);
    let error = listed[0]["last_error"].as_str().unwrap().to_lowercase();
    assert!(
        error.contains("certificate") || error.contains("tls"),
        "{error}"
    );

    // Trusting the test CA: delivered over STARTTLS.
    let ca = format!("smtp_ca_file = \"{}\"", dir.join("ca.pem").display());
    let trusted = mail::config_file(&store, smtp.port, &["smtp_security = \"starttls\"", &ca]);
    mail::wait_until(
        "delivery with the CA trusted",
        std::time::Duration::from_secs(30),
        || {
            flush(&store, &trusted);
            smtp.count("delivered") == 1
        },
    );

    // Explicitly accepting any certificate also delivers (the server requires STARTTLS,
    // so these went through TLS).
    store.ok(&["user", "set", "frank@contoso.example", "--send-email"]);
    let accept = mail::config_file(
        &store,
        smtp.port,
        &[
            "smtp_security = \"starttls\"",
            "smtp_accept_invalid_certificate = true",
        ],
    );
    let report = flush(&store, &accept);
    assert_eq!(report["delivered"], 1, "{report}");
    assert!(report["to"].as_str().unwrap().contains("NOT verified"));
    assert_eq!(smtp.count("delivered"), 2);
}
