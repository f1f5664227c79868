//! `pinbridge token`: bearer tokens for the REST API. A token is printed once, when it
//! is created; the store keeps only its SHA-256. Creating and revoking are audited
//! (`api_token.created`, `api_token.revoked`), by the token's name only.

use clap::Subcommand;
use pinbridge_app::IssuedApiToken;
use pinbridge_domain::TokenName;
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

pub async fn run(g: &Globals, command: TokenCommand) -> Result<(), String> {
    match command {
        TokenCommand::Create { name } => {
            let name = TokenName::parse(&name).map_err(|e| e.to_string())?;
            let app = g.open().await?;
            let IssuedApiToken { token, secret } = app
                .create_api_token(&crate::admin::actor(), &name)
                .await
                .map_err(|e| e.to_string())?;
            if g.json {
                println!(
                    "{}",
                    json!({"name": token.name, "token": secret, "created_at_ms": token.created_at_ms})
                );
            } else {
                println!("{secret}");
                eprintln!(
                    "token {:?} created; it is shown only this once",
                    name.as_str()
                );
            }
        }
        TokenCommand::List => {
            let app = g.open().await?;
            let tokens = app.api_tokens().await.map_err(|e| e.to_string())?;
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
            let app = g.open().await?;
            if !app
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
