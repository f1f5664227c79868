//! `pinbridge pin-locks`: phone PIN entry locked after too many wrong PINs, per organiser
//! (`organiser:UPN`) and per calling number (`caller:NUMBER`). Clearing is audited
//! (`phone_pin.lock_cleared`).

use clap::Subcommand;
use pinbridge_domain::Upn;
use pinbridge_domain::time::format_utc_millis;

use crate::Globals;

#[derive(Subcommand)]
pub enum PinLocksCommand {
    /// List the locks in force now.
    List,
    /// Clear a lock and the wrong PINs behind it.
    Clear {
        /// The subject as `list` shows it: organiser:UPN or caller:NUMBER.
        #[arg(required_unless_present = "user", conflicts_with = "user")]
        subject: Option<String>,
        /// The organiser's lock, by user principal name.
        #[arg(long, value_name = "UPN")]
        user: Option<String>,
    },
}

pub async fn run(g: &Globals, command: PinLocksCommand) -> Result<(), String> {
    match command {
        PinLocksCommand::List => {
            let app = g.open().await?;
            let locks = app.phone_pin_locks().await.map_err(|e| e.to_string())?;
            if g.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&locks).map_err(|e| e.to_string())?
                );
            } else {
                println!("SUBJECT  WRONG_PINS  LOCKED_UNTIL  LOCKS_IN_A_ROW");
                for lock in locks {
                    println!(
                        "{}  {}  {}  {}",
                        lock.subject,
                        lock.failures,
                        format_utc_millis(lock.locked_until_ms),
                        lock.locks
                    );
                }
            }
        }
        PinLocksCommand::Clear { subject, user } => {
            let subject = match (subject, user) {
                (_, Some(user)) => {
                    let upn = Upn::parse(&user).map_err(|e| e.to_string())?;
                    pinbridge_app::security::organiser_subject(&upn)
                }
                (Some(subject), None) => pinbridge_app::security::lock_subject(&subject)
                    .ok_or_else(|| {
                        format!(
                            "{subject:?} is not a lock subject (organiser:UPN or caller:NUMBER)"
                        )
                    })?,
                (None, None) => return Err("name a subject or --user".into()),
            };
            let app = g.open().await?;
            if !app
                .clear_phone_pin_lock(&crate::admin::actor(), &subject)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!("no wrong PINs or lock recorded for {subject}"));
            }
            eprintln!("cleared {subject}");
        }
    }
    Ok(())
}
