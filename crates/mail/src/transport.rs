//! How emails travel: SMTP through lettre (STARTTLS, implicit TLS or, for a local
//! relay, plain text; optional authentication; rustls with the ring provider and the
//! system's CA certificates plus, optionally, a CA file), or the embedded default, a
//! mailbox folder with one `.eml` file per message.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::MailError;

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS; refused if the server does not offer it.
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// No encryption: only for a relay on the same machine.
    None,
}

impl Security {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "starttls" => Some(Self::StartTls),
            "tls" => Some(Self::Tls),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::StartTls => "starttls",
            Self::Tls => "tls",
            Self::None => "none",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Self::StartTls => 587,
            Self::Tls => 465,
            Self::None => 25,
        }
    }
}

/// The SMTP server and how to talk to it.
#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: Option<u16>,
    pub security: Security,
    pub username: Option<String>,
    pub password: Option<String>,
    /// A PEM file of CA certificates trusted besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Accepts any certificate, without verification. Never the default.
    pub accept_invalid_certificate: bool,
    /// Limit for each SMTP command.
    pub timeout: Duration,
    /// Connections kept open at most.
    pub connections: u32,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("ca_file", &self.ca_file)
            .field(
                "accept_invalid_certificate",
                &self.accept_invalid_certificate,
            )
            .finish()
    }
}

/// Why one message was not sent. `permanent` means retrying will not help (the server
/// answered 5xx); anything else is retried.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub permanent: bool,
    pub message: String,
}

/// Where emails go.
pub enum Transport {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        description: String,
    },
    /// `<data-dir>/mailbox/`: one `.eml` file per message, mode 0600.
    Mailbox { dir: PathBuf },
}

impl Transport {
    /// An SMTP transport. Reads the CA file now, so a bad one is reported at start.
    pub fn smtp(config: &SmtpConfig) -> Result<Self, MailError> {
        if config.host.trim().is_empty() {
            return Err(MailError::Config("smtp_host is empty".into()));
        }
        let port = config.port.unwrap_or(config.security.default_port());
        let tls = || -> Result<TlsParameters, MailError> {
            let mut builder = TlsParameters::builder(config.host.clone())
                .dangerous_accept_invalid_certs(config.accept_invalid_certificate);
            if let Some(path) = &config.ca_file {
                let pem = std::fs::read(path).map_err(|e| {
                    MailError::Config(format!("cannot read smtp_ca_file {}: {e}", path.display()))
                })?;
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    MailError::Config(format!(
                        "smtp_ca_file {} holds no usable PEM certificate: {e}",
                        path.display()
                    ))
                })?;
                builder = builder.add_root_certificate(cert);
            }
            builder
                .build_rustls()
                .map_err(|e| MailError::Config(format!("TLS settings: {e}")))
        };
        let tls = match config.security {
            Security::StartTls => Tls::Required(tls()?),
            Security::Tls => Tls::Wrapper(tls()?),
            Security::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(port)
            .tls(tls)
            .timeout(Some(config.timeout))
            .pool_config(
                PoolConfig::new()
                    .max_size(config.connections.max(1))
                    .idle_timeout(Duration::from_secs(30)),
            );
        match (&config.username, &config.password) {
            (Some(user), Some(password)) => {
                builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
            }
            (None, None) => {}
            _ => {
                return Err(MailError::Config(
                    "set both smtp_username and smtp_password, or neither".into(),
                ));
            }
        }
        let mut description = format!(
            "SMTP server {}:{port} ({})",
            config.host,
            config.security.as_str()
        );
        if config.username.is_some() {
            description.push_str(", with authentication");
        }
        if config.accept_invalid_certificate {
            description.push_str(", certificate NOT verified");
        }
        Ok(Self::Smtp {
            transport: builder.build(),
            description,
        })
    }

    /// The mailbox folder, created (mode 0700) if missing.
    pub fn mailbox(dir: PathBuf) -> Result<Self, MailError> {
        use std::os::unix::fs::DirBuilderExt;
        match std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
        {
            Ok(()) => Ok(Self::Mailbox { dir }),
            Err(source) => Err(MailError::Mailbox { path: dir, source }),
        }
    }

    /// Where mail goes, for the log line at start.
    pub fn describe(&self) -> String {
        match self {
            Self::Smtp { description, .. } => description.clone(),
            Self::Mailbox { dir } => format!(
                "the mailbox folder {}/ (one .eml file per message; set smtp_host to send by SMTP)",
                dir.display()
            ),
        }
    }

    /// Sends one message.
    pub async fn send(&self, message: &Message, message_id: &str) -> Result<(), SendError> {
        match self {
            Self::Smtp { transport, .. } => transport
                .send(message.clone())
                .await
                .map(|_| ())
                .map_err(|e| SendError {
                    permanent: e.is_permanent(),
                    message: smtp_error_text(&e),
                }),
            Self::Mailbox { dir } => {
                let dir = dir.clone();
                let bytes = zeroize::Zeroizing::new(message.formatted());
                let name = eml_file_name(message_id);
                tokio::task::spawn_blocking(move || write_eml(&dir, &name, &bytes))
                    .await
                    .map_err(|e| SendError {
                        permanent: false,
                        message: format!("the mailbox writer stopped: {e}"),
                    })?
                    .map_err(|e| SendError {
                        permanent: false,
                        message: format!("cannot write into the mailbox folder: {e}"),
                    })
            }
        }
    }
}

/// The error with its causes, on one line. lettre's errors name the SMTP reply or the
/// I/O or TLS failure; they never contain the message.
fn smtp_error_text(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text.replace(['\r', '\n'], " ")
}

/// A file name from the Message-ID: the same message always lands in the same file, so
/// a repeated delivery replaces it instead of adding a copy.
fn eml_file_name(message_id: &str) -> String {
    let safe: String = message_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_'))
        .collect();
    format!("{safe}.eml")
}

fn write_eml(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = dir.join(format!(".{name}.tmp"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_come_from_the_message_id() {
        assert_eq!(
            eml_file_name("<ab12.pinbridge@contoso.example>"),
            "ab12.pinbridge@contoso.example.eml"
        );
        assert_eq!(eml_file_name("<../../x/y>"), "....xy.eml");
    }

    #[test]
    fn credentials_come_in_pairs_and_the_host_is_required() {
        let config = SmtpConfig {
            host: "127.0.0.1".into(),
            port: None,
            security: Security::StartTls,
            username: Some("u".into()),
            password: None,
            ca_file: None,
            accept_invalid_certificate: false,
            timeout: Duration::from_secs(5),
            connections: 2,
        };
        assert!(Transport::smtp(&config).is_err());
        let empty = SmtpConfig {
            host: " ".into(),
            username: None,
            ..config
        };
        assert!(Transport::smtp(&empty).is_err());
        assert!(!format!("{empty:?}").contains("password: Some"));
    }
}
