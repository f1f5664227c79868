//! `pinbridge mail`: deliver the emails that are due, list the outbox, retry a failed
//! email. Also builds the mail transport and worker settings `serve` uses.

use std::path::Path;
use std::time::Duration;

use clap::{Args, Subcommand};
use pinbridge_domain::PublicUrl;
use pinbridge_mail::{MessageSettings, RetryPolicy, Security, SmtpConfig, Transport, WorkerConfig};
use pinbridge_store::outbox::{MailQuery, MailRecord};
use serde_json::{Value, json};

use crate::Globals;

use crate::output::{format_utc_millis, print_table};

type Result<T = ()> = std::result::Result<T, String>;

#[derive(Subcommand)]
pub enum MailCommand {
    /// Deliver every email that is due now, then exit.
    Flush,
    /// List queued, sent and failed emails, newest first (never their content).
    List(ListArgs),
    /// Queue a failed email again, with the same Message-ID.
    Retry(RetryArgs),
}

#[derive(Args)]
pub struct ListArgs {
    /// Only the emails that failed.
    #[arg(long)]
    failed: bool,
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    limit: u32,
}

#[derive(Args)]
pub struct RetryArgs {
    /// The email's ID, as `pinbridge mail list` shows it.
    #[arg(value_name = "ID")]
    id: i64,
}

fn seconds(g: &Globals, key: &str, default: u64) -> Result<Duration> {
    let value: u64 = g.sources.get(key, None)?.unwrap_or(default);
    if value == 0 {
        return Err(format!("{key} must be at least 1"));
    }
    Ok(Duration::from_secs(value))
}

/// The transport and worker settings from the config file and environment: SMTP when
/// `smtp_host` is set, else the mailbox folder `<data_dir>/mailbox/`.
pub fn worker_settings(g: &Globals, data_dir: &Path) -> Result<(Transport, WorkerConfig)> {
    let host: Option<String> = g.sources.get("smtp_host", None)?;
    let transport = match host {
        Some(host) => {
            let security_text: String = g
                .sources
                .get("smtp_security", None)?
                .unwrap_or_else(|| "starttls".to_owned());
            let security = Security::parse(&security_text).ok_or_else(|| {
                format!("smtp_security must be starttls, tls or none, not {security_text:?}")
            })?;
            let config = SmtpConfig {
                host,
                port: g.sources.get("smtp_port", None)?,
                security,
                username: g.sources.get("smtp_username", None)?,
                password: g.sources.get("smtp_password", None)?,
                ca_file: g.sources.get("smtp_ca_file", None)?,
                accept_invalid_certificate: g
                    .sources
                    .get("smtp_accept_invalid_certificate", None)?
                    .unwrap_or(false),
                timeout: seconds(g, "smtp_timeout_seconds", 30)?,
                connections: g.sources.get("mail_concurrency", None)?.unwrap_or(16),
            };
            Transport::smtp(&config).map_err(|e| e.to_string())?
        }
        None => Transport::mailbox(data_dir.join("mailbox")).map_err(|e| e.to_string())?,
    };
    let from_text: String = g
        .sources
        .get("mail_from", None)?
        .unwrap_or_else(|| "pinbridge@localhost".to_owned());
    let from_address = from_text
        .parse()
        .map_err(|e| format!("mail_from {from_text:?} is not an email address: {e}"))?;
    let from_name: Option<String> = g.sources.get("mail_from_name", None)?;
    if from_name
        .as_deref()
        .is_some_and(|n| n.chars().any(char::is_control))
    {
        return Err("mail_from_name must not contain line breaks or control characters".into());
    }
    let public_url = public_url(g)?;
    let mut config = WorkerConfig::new(MessageSettings {
        from_address,
        from_name,
        public_url: public_url.as_str().to_owned(),
    });
    config.concurrency = g
        .sources
        .get("mail_concurrency", None)?
        .unwrap_or(16)
        .max(1);
    config.lease = seconds(g, "mail_lease_seconds", 300)?;
    config.retry = RetryPolicy {
        first_delay: seconds(g, "mail_retry_first_seconds", 30)?,
        give_up_after: seconds(g, "mail_retry_period_seconds", 86_400)?,
        ..RetryPolicy::default()
    };
    Ok((transport, config))
}

/// The `public_url` setting: where users reach the web server. Emails link to its
/// self-service portal; the web pages put its join links into meeting invitations.
pub fn public_url(g: &Globals) -> Result<PublicUrl> {
    Ok(g.sources.get("public_url", None)?.unwrap_or_default())
}

fn record_json(r: &MailRecord) -> Value {
    let time = |ms: Option<i64>| ms.map_or(Value::Null, |ms| Value::from(format_utc_millis(ms)));
    json!({
        "id": r.id,
        "message_id": r.message_id,
        "kind": r.kind.as_str(),
        "to": r.recipient,
        "user": r.user_upn,
        "status": r.status.as_str(),
        "attempts": r.attempts,
        "created": format_utc_millis(r.created_at_ms),
        "queued": format_utc_millis(r.queued_at_ms),
        "next_attempt": time((r.status.as_str() == "queued").then_some(r.next_attempt_at_ms)),
        "sent": time(r.sent_at_ms),
        "failed": time(r.failed_at_ms),
        "last_error": r.last_error,
        "carries_pin": r.carries_pin,
        "content_stored": r.has_content,
    })
}

pub async fn mail(g: &Globals, cmd: MailCommand) -> Result {
    let app = g.open().await?;
    match cmd {
        MailCommand::Flush => {
            let data_dir = g.store_config()?.data_dir;
            let (transport, config) = worker_settings(g, &data_dir)?;
            let worker = app.mail_worker(transport, config);
            let (_keep, stop) = tokio::sync::watch::channel(false);
            let report = worker.deliver_due(&stop).await.map_err(|e| e.to_string())?;
            if g.json {
                println!(
                    "{}",
                    json!({
                        "delivered": report.delivered,
                        "retry_later": report.retry_later,
                        "failed": report.failed,
                        "to": worker.transport().describe(),
                    })
                );
            } else {
                println!(
                    "delivered {}, to be retried later {}, failed {} (mail goes to {})",
                    report.delivered,
                    report.retry_later,
                    report.failed,
                    worker.transport().describe()
                );
            }
        }
        MailCommand::List(args) => {
            let records = app
                .mail_messages(&MailQuery {
                    failed_only: args.failed,
                    limit: args.limit,
                })
                .await
                .map_err(|e| e.to_string())?;
            if g.json {
                let items: Vec<Value> = records.iter().map(record_json).collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&Value::Array(items)).unwrap_or_default()
                );
            } else {
                let rows: Vec<Vec<String>> = records
                    .iter()
                    .map(|r| {
                        let when = match (r.sent_at_ms, r.failed_at_ms) {
                            (Some(ms), _) | (None, Some(ms)) => format_utc_millis(ms),
                            _ => format!("next {}", format_utc_millis(r.next_attempt_at_ms)),
                        };
                        vec![
                            r.id.to_string(),
                            r.status.as_str().into(),
                            r.kind.as_str().into(),
                            r.recipient.clone(),
                            r.user_upn.clone(),
                            r.attempts.to_string(),
                            when,
                            r.last_error.clone().unwrap_or_else(|| "-".into()),
                        ]
                    })
                    .collect();
                print_table(
                    &[
                        "ID",
                        "STATUS",
                        "KIND",
                        "TO",
                        "USER",
                        "ATTEMPTS",
                        "WHEN",
                        "LAST ERROR",
                    ],
                    &rows,
                );
            }
        }
        MailCommand::Retry(args) => {
            let retry = app
                .retry_failed_mail(&crate::admin::actor(), args.id)
                .await
                .map_err(|e| e.to_string())?;
            let r = &retry.record;
            let note = retry.pin_withheld.then(|| {
                format!(
                    "its PIN was erased when it failed, so this email carries no PIN; to email \
                     a new PIN run `pinbridge user set {} --reset-leader-pin --send-email`",
                    r.user_upn
                )
            });
            if g.json {
                let mut value = record_json(r);
                if let Some(map) = value.as_object_mut() {
                    map.insert("pin_withheld".into(), Value::from(retry.pin_withheld));
                }
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                );
            } else {
                println!(
                    "email {} ({}) queued again for {} with Message-ID {}; `pinbridge serve` or \
                     `pinbridge mail flush` delivers it",
                    r.id,
                    r.kind.as_str(),
                    r.recipient,
                    r.message_id
                );
                if let Some(note) = note {
                    println!("{note}");
                }
            }
        }
    }
    Ok(())
}
