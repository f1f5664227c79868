//! `pinbridge`: the service (`serve`) and the admin command line, the equivalent of the
//! Teams dial-in conferencing PowerShell cmdlets. This binary is glue: every action is
//! implemented once in `pinbridge-app`.

mod admin;
mod config;
mod demo;
mod mail_cli;
mod meeting_cli;
mod output;
mod pin_locks_cli;
mod serve;
mod token_cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "pinbridge",
    version,
    about = "Self-hosted audio conferencing with organiser PINs"
)]
struct Cli {
    /// A TOML config file; flags override it, and it overrides PINBRIDGE_* variables.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory of the embedded store [default: ./pinbridge-data].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Use PostgreSQL (postgres://…) instead of the embedded store.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: web server, SIP dial-in bridge and mail delivery.
    Serve(Box<serve::ServeArgs>),
    /// Tenant conferencing settings (Get-/Set-CsOnlineDialInConferencingTenantSettings).
    #[command(subcommand)]
    Tenant(admin::TenantCommand),
    /// Dial-in service numbers (Get-/Register-CsOnlineDialInConferencingServiceNumber).
    #[command(subcommand)]
    Number(admin::NumberCommand),
    /// Users and their audio conferencing (Enable-/Get-/Set-CsOnlineDialInConferencingUser).
    #[command(subcommand)]
    User(admin::UserCommand),
    /// The audit log, newest first.
    Audit(admin::AuditArgs),
    /// Meetings: create, list, and show who is in one now.
    #[command(subcommand)]
    Meeting(meeting_cli::MeetingCommand),
    /// Bearer tokens for the REST API (/api/v1).
    #[command(subcommand)]
    Token(token_cli::TokenCommand),
    /// Phone PIN entry locked after too many wrong PINs: list and clear.
    #[command(subcommand)]
    PinLocks(pin_locks_cli::PinLocksCommand),
    /// The email outbox: deliver what is due, list, retry a failed email.
    #[command(subcommand)]
    Mail(mail_cli::MailCommand),
}

/// Global options every command shares.
pub struct Globals {
    pub sources: config::Sources,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub json: bool,
}

impl Globals {
    /// Where the store is and its key, from flags, the config file and the environment.
    pub fn store_config(&self) -> Result<pinbridge_app::StoreConfig, String> {
        let data_dir = self
            .sources
            .get("data_dir", self.data_dir.clone())?
            .unwrap_or_else(|| PathBuf::from("./pinbridge-data"));
        Ok(pinbridge_app::StoreConfig {
            data_dir,
            database_url: self
                .sources
                .get("database_url", self.database_url.clone())?,
            server_key: self.sources.get::<String>("server_key", None)?,
            open: pinbridge_store::OpenOptions::default(),
        })
    }

    pub async fn open(&self) -> Result<pinbridge_app::App, String> {
        let config = self.store_config()?;
        pinbridge_app::App::open(&config)
            .await
            .map_err(|e| e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's message, without its usage paragraphs, kept to one line even when
            // the offending value holds line breaks.
            let text = e.to_string();
            let message = text.split("\n\n").next().unwrap_or("bad arguments");
            let line = message.trim_end().replace('\r', "\\r").replace('\n', "\\n");
            eprintln!("error: {} (see --help)", line.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    let sources = match config::Sources::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let globals = Globals {
        sources,
        data_dir: cli.data_dir,
        database_url: cli.database_url,
        json: cli.json,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(&globals, *args).await,
            Command::Tenant(cmd) => admin::tenant(&globals, cmd).await,
            Command::Number(cmd) => admin::number(&globals, cmd).await,
            Command::User(cmd) => admin::user(&globals, cmd).await,
            Command::Audit(args) => admin::audit(&globals, args).await,
            Command::Meeting(cmd) => meeting_cli::meeting(&globals, cmd).await,
            Command::Token(cmd) => token_cli::run(&globals, cmd).await,
            Command::Mail(cmd) => mail_cli::mail(&globals, cmd).await,
            Command::PinLocks(cmd) => pin_locks_cli::run(&globals, cmd).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ExitCode {
    // One line: the first line of the message is the whole story.
    let line = message.lines().next().unwrap_or(message);
    eprintln!("error: {line}");
    ExitCode::FAILURE
}
