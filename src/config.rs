//! Settings for `pinbridge`: each comes from a command-line flag, else the TOML file
//! given with `--config`, else an environment variable `PINBRIDGE_<KEY>`, else its
//! default. `docs/configuration.md` lists every key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Every key the config file and environment may set, with its default and meaning.
pub const KEYS: &[(&str, &str, &str)] = &[
    (
        "data_dir",
        "./pinbridge-data",
        "directory of the embedded store (SQLite), its server.key and the mailbox",
    ),
    (
        "database_url",
        "(none)",
        "postgres://… to use PostgreSQL instead of the embedded store",
    ),
    (
        "server_key",
        "(none)",
        "64 hex digits; required with database_url, the same on every node and for the CLI",
    ),
    (
        "http",
        "127.0.0.1:8080",
        "address the web server listens on",
    ),
    (
        "log",
        "info",
        "log filter, as RUST_LOG (e.g. info,pinbridge_store=debug)",
    ),
    (
        "public_url",
        "http://localhost:8080",
        "the web address users reach pinbridge at; emails link to its self-service portal, <public_url>/usp, and meeting invitations to <public_url>/meet/<conference ID>",
    ),
    (
        "smtp_host",
        "(none)",
        "SMTP server for conferencing emails; without it they are written as .eml files into <data_dir>/mailbox/",
    ),
    (
        "smtp_port",
        "587 (starttls), 465 (tls), 25 (none)",
        "port of the SMTP server",
    ),
    (
        "smtp_security",
        "starttls",
        "starttls (required upgrade), tls (TLS from the first byte) or none (plain; a local relay only)",
    ),
    (
        "smtp_username",
        "(none)",
        "SMTP user name; set together with smtp_password to authenticate",
    ),
    ("smtp_password", "(none)", "SMTP password"),
    (
        "smtp_ca_file",
        "(none)",
        "a PEM file of CA certificates trusted for the SMTP server, besides the system's",
    ),
    (
        "smtp_accept_invalid_certificate",
        "false",
        "true accepts any SMTP server certificate without verifying it (testing only)",
    ),
    (
        "smtp_timeout_seconds",
        "30",
        "limit for each SMTP command before the attempt counts as failed",
    ),
    (
        "mail_from",
        "pinbridge@localhost",
        "From address of conferencing emails",
    ),
    (
        "mail_from_name",
        "(the tenant's display name)",
        "From display name of conferencing emails",
    ),
    (
        "mail_concurrency",
        "16",
        "emails sent at once (SMTP connections kept open)",
    ),
    (
        "mail_retry_first_seconds",
        "30",
        "delay before the first retry of a temporary failure; each retry doubles it, with jitter, up to an hour",
    ),
    (
        "mail_retry_period_seconds",
        "86400",
        "how long temporary failures are retried before an email is marked failed",
    ),
    (
        "mail_lease_seconds",
        "300",
        "how long a worker holds an email it is sending; an email whose worker died is sent again after this",
    ),
    (
        "sip_udp",
        "127.0.0.1:5060",
        "address SIP over UDP listens on (port 0 picks a free port)",
    ),
    (
        "sip_tcp",
        "127.0.0.1:5060",
        "address SIP over TCP listens on (port 0 picks a free port)",
    ),
    (
        "rtp_ports",
        "20000-29999",
        "UDP ports for call media, LOW-HIGH: an even port for RTP and the odd one above for RTCP per call",
    ),
    (
        "trunk_allow",
        "127.0.0.0/8,::1/128",
        "trunk peers (CIDR, comma-separated) whose calls are accepted; others get what sip_untrusted says",
    ),
    (
        "sip_untrusted",
        "403",
        "what SIP requests from outside trunk_allow get: 403 (a stateless 403 Forbidden, within the rate limits) or drop (nothing)",
    ),
    (
        "sip_rate_invite",
        "10",
        "INVITEs per second one source may send (bursts of twice that); more are dropped; 0: no limit",
    ),
    (
        "sip_rate_options",
        "5",
        "OPTIONS per second one source may send (bursts of twice that); 0: no limit",
    ),
    (
        "sip_rate_register",
        "2",
        "REGISTERs per second one source may send (bursts of twice that); 0: no limit",
    ),
    (
        "sip_rate_other",
        "10",
        "other SIP messages and non-SIP datagrams per second one source may send (bursts of twice that); 0: no limit",
    ),
    (
        "sip_rate_limit_trunks",
        "false",
        "true applies the per-source rate limits to trunk_allow sources too",
    ),
    (
        "sip_rate_sources",
        "8192",
        "the most source addresses the rate limiter tracks; sources idle longest are forgotten first",
    ),
    (
        "public_address",
        "(the bound address)",
        "IP address put in SDP, Contact and Via when bound to a wildcard address or behind NAT",
    ),
    (
        "rtp_timeout_seconds",
        "60",
        "a call with no RTP for this long is hung up",
    ),
    (
        "lobby_reminder_seconds",
        "60",
        "callers in the lobby are reminded this often that they are still waiting (over the music); 0: never",
    ),
    (
        "sip_tls",
        "(none)",
        "address SIP over TLS listens on; its calls get SRTP (SDES); needs tls_cert and tls_key",
    ),
    (
        "sip_tls_client_ca",
        "(none)",
        "PEM file of CAs: clients of SIP over TLS must present a certificate one of them issued",
    ),
    (
        "sip_tls_plain_rtp",
        "false",
        "calls over TLS that offer plain RTP are taken instead of refused with 488",
    ),
    (
        "https",
        "(none)",
        "address the web server also serves HTTPS on; needs tls_cert and tls_key",
    ),
    (
        "tls_cert",
        "(none)",
        "PEM certificate chain for HTTPS and SIP over TLS",
    ),
    (
        "tls_key",
        "(none)",
        "PEM private key for HTTPS and SIP over TLS",
    ),
    (
        "trusted_proxies",
        "(none)",
        "comma-separated CIDRs of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed",
    ),
];

/// The `--config` file and the environment, read once.
pub struct Sources {
    file: BTreeMap<String, toml::Value>,
    file_path: Option<PathBuf>,
    env: BTreeMap<String, String>,
}

impl Sources {
    pub fn load(config_file: Option<&Path>) -> Result<Self, String> {
        let mut file = BTreeMap::new();
        if let Some(path) = config_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
            let table: toml::Table = text
                .parse()
                .map_err(|e| format!("config file {} is not valid TOML: {e}", path.display()))?;
            for (key, value) in table {
                if !KEYS.iter().any(|(k, _, _)| *k == key) {
                    return Err(format!(
                        "config file {}: unknown key {key:?} (known keys: {})",
                        path.display(),
                        KEYS.iter()
                            .map(|(k, _, _)| *k)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                file.insert(key, value);
            }
        }
        let env = KEYS
            .iter()
            .filter_map(|(key, _, _)| {
                let name = env_name(key);
                std::env::var(&name).ok().map(|v| (key.to_string(), v))
            })
            .collect();
        Ok(Self {
            file,
            file_path: config_file.map(Path::to_path_buf),
            env,
        })
    }

    /// The value of `key`: the flag if given, else the file, else the environment.
    pub fn get<T: FromStr>(&self, key: &str, flag: Option<T>) -> Result<Option<T>, String>
    where
        T::Err: std::fmt::Display,
    {
        debug_assert!(
            KEYS.iter().any(|(k, _, _)| *k == key),
            "undocumented key {key}"
        );
        if flag.is_some() {
            return Ok(flag);
        }
        if let Some(value) = self.file.get(key) {
            let path = self.file_path.as_deref().unwrap_or(Path::new("?"));
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    return Err(format!(
                        "config file {}: {key}: expected text, a number or true/false",
                        path.display()
                    ));
                }
            };
            return text
                .parse()
                .map(Some)
                .map_err(|e| format!("config file {}: {key}: {e}", path.display()));
        }
        if let Some(text) = self.env.get(key) {
            return text
                .parse()
                .map(Some)
                .map_err(|e| format!("{}: {e}", env_name(key)));
        }
        Ok(None)
    }
}

pub fn env_name(key: &str) -> String {
    format!("PINBRIDGE_{}", key.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    /// The configuration reference lists every key, so none goes undocumented.
    #[test]
    fn the_reference_documents_every_key() {
        let reference = include_str!("../docs/configuration.md");
        for (key, _, _) in super::KEYS {
            assert!(
                reference.contains(&format!("`{key}`")),
                "docs/configuration.md does not document {key}"
            );
        }
    }
}
