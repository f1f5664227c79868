//! `pinbridge token`: bearer tokens for the REST API. A token is printed once, when it
//! is created; the store keeps only its SHA-256. Creating and revoking are audited
//! (`api_token.created`, `api_token.revoked`), by the token's name only.

use clap::Subcommand;
use serde_json::json;

use crate::Globals;

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (once: it cannot be shown again).
    Create {
        /// A name that says who or what uses the token; the audit log names it.
        #[arg(long)]
        name: String,
    },
    /// List the tokens (names and dates, never the tokens).
    List,
    /// Revoke a token by name: requests with it are refused from now on.
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// The longest token name.
const MAX_NAME_CHARS: usize = 64;

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "a token name is 1 to {MAX_NAME_CHARS} letters, digits, '-', '_' or '.'"
        ))
    }
}

pub async fn run(g: &Globals, command: TokenCommand) -> Result<(), String> {
    let app = g.open().await?;
    let store = app.store();
    match command {
        TokenCommand::Create { name } => {
            check_name(&name)?;
            let secret = format!("pb_{}", pinbridge_web::session::random_secret());
            let token = store
                .create_api_token(
                    &crate::admin::actor(),
                    &name,
                    &pinbridge_web::session::secret_hash(&secret),
                )
                .await
                .map_err(|e| e.to_string())?;
            if g.json {
                println!(
                    "{}",
                    json!({"name": token.name, "token": secret, "created_at_ms": token.created_at_ms})
                );
            } else {
                println!("{secret}");
                eprintln!("token {name:?} created; it is shown only this once");
            }
        }
        TokenCommand::List => {
            let tokens = store.api_tokens().await.map_err(|e| e.to_string())?;
            if g.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&tokens).map_err(|e| e.to_string())?
                );
            } else {
                println!("NAME  STATE  CREATED_MS  LAST_USED_MS");
                for t in tokens {
                    let state = if t.revoked_at_ms.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    let used = t.last_used_at_ms.map(|t| t.to_string()).unwrap_or_default();
                    println!("{}  {state}  {}  {used}", t.name, t.created_at_ms);
                }
            }
        }
        TokenCommand::Revoke { name } => {
            if !store
                .revoke_api_token(&crate::admin::actor(), &name)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!("no active token named {name:?}"));
            }
            if g.json {
                println!("{}", json!({"revoked": name}));
            } else {
                println!("token {name:?} revoked");
            }
        }
    }
    Ok(())
}
