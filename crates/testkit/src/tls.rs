//! Test certificates and a TLS client for SIP over TLS.
//!
//! [`Pki::create`] makes, with the `openssl` command (Debian `openssl`), a CA, a server
//! certificate for 127.0.0.1 and a client certificate it issued, and a client
//! certificate nobody issued (self-signed), all P-256 and valid for two days.
//! [`TlsClient`] is a rustls client on the aws-lc-rs provider that trusts the CA and
//! may present a client certificate; it sends SIP messages and reads what comes back.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// A test CA and the certificates made for one test.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A self-signed client certificate: issued by no CA the server trusts.
    pub rogue_cert: PathBuf,
    pub rogue_key: PathBuf,
}

fn openssl(args: &[&str], dir: &Path) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A P-256 key and a certificate signing request for `subject`.
fn key_and_request(dir: &Path, name: &str, subject: &str) {
    openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
        dir,
    );
}

/// A P-256 key `name.key` and a self-signed certificate `name.pem` for `subject` with
/// the extensions given.
fn self_signed(dir: &Path, name: &str, subject: &str, extensions: &[&str]) {
    let (key, cert) = (format!("{name}.key"), format!("{name}.pem"));
    let mut args = vec![
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        subject,
    ];
    for extension in extensions {
        args.extend(["-addext", extension]);
    }
    args.extend(["-keyout", &key, "-out", &cert]);
    openssl(&args, dir);
}

/// Signs `name`'s request with the CA, with the extensions given.
fn issue(dir: &Path, name: &str, extensions: &str) {
    std::fs::write(dir.join(format!("{name}.ext")), extensions).unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
        dir,
    );
}

impl Pki {
    pub fn create() -> Pki {
        let dir = tempfile::Builder::new()
            .prefix("pinbridge-pki-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        self_signed(
            d,
            "ca",
            "/CN=pinbridge test CA",
            &[
                "basicConstraints=critical,CA:TRUE",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        key_and_request(d, "server", "/CN=127.0.0.1");
        issue(
            d,
            "server",
            "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        );
        key_and_request(d, "client", "/CN=trunk.test");
        issue(
            d,
            "client",
            "basicConstraints=CA:FALSE\nsubjectAltName=DNS:trunk.test\nextendedKeyUsage=clientAuth\n",
        );
        self_signed(
            d,
            "rogue",
            "/CN=rogue.test",
            &["extendedKeyUsage=clientAuth"],
        );
        Pki {
            ca_cert: d.join("ca.pem"),
            server_cert: d.join("server.pem"),
            server_key: d.join("server.key"),
            client_cert: d.join("client.pem"),
            client_key: d.join("client.key"),
            rogue_cert: d.join("rogue.pem"),
            rogue_key: d.join("rogue.key"),
            dir,
        }
    }
}

/// A TLS connection to a SIP server.
pub struct TlsClient {
    stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    pub local: SocketAddr,
}

impl TlsClient {
    /// Connects to `address`, trusting `ca`, presenting `identity` (certificate and key
    /// files) if given. The handshake's failure is the error, as text.
    pub fn connect(
        address: SocketAddr,
        ca: &Path,
        identity: Option<(&Path, &Path)>,
    ) -> Result<TlsClient, String> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match identity {
            Some((cert, key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                let key = PrivateKeyDer::from_pem_file(key).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
            None => builder.with_no_client_auth(),
        };
        let name = ServerName::IpAddress(address.ip().into());
        let connection =
            rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
        let tcp = TcpStream::connect(address).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let local = tcp.local_addr().unwrap();
        let mut stream = rustls::StreamOwned::new(connection, tcp);
        // TLS 1.3 tells a client of a refused certificate only after the handshake: a
        // write and a read bring the server's alert.
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| e.to_string())?;
        }
        Ok(TlsClient { stream, local })
    }

    /// Sends bytes.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream.write_all(bytes).map_err(|e| e.to_string())?;
        self.stream.flush().map_err(|e| e.to_string())
    }

    /// Reads until `done` says what arrived is enough, the peer closes, or `timeout`
    /// passes; returns what arrived, or the error that ended the reading.
    pub fn read_until(
        &mut self,
        timeout: Duration,
        done: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    received.extend_from_slice(&buf[..n]);
                    if done(&String::from_utf8_lossy(&received)) {
                        break;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(String::from_utf8_lossy(&received).into_owned())
    }
}
