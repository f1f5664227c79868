//! The admin verbs. Each parses its arguments into domain values (so bad input is
//! refused before anything is opened or written), calls one application action, and
//! prints a table or, with `--json`, JSON.

use std::io::BufRead;

use clap::builder::BoolishValueParser;
use clap::{Args, Subcommand};
use pinbridge_app::{AddUser, UserChangeOutcome};
use pinbridge_domain::audit::Actor;
use pinbridge_domain::email::EmailDecision;
use pinbridge_domain::ops::{EnableOptions, OverrideChange, SetOptions};
use pinbridge_domain::settings::{EntryExitAnnouncementsType, TenantSettingsChange};
use pinbridge_domain::user::Role;
use pinbridge_domain::{
    DisplayName, E164, EmailAddress, LanguageTag, NumberKind, PIN_MASK, PinLength, ServiceNumber,
    TenantSettings, Upn, User,
};
use pinbridge_store::{AuditQuery, UserQuery};
use serde_json::{Value, json};

use crate::Globals;

use crate::output::{format_utc_millis, print_fields, print_json, print_table};

type Result<T = ()> = std::result::Result<T, String>;

/// A fallible step's error as the one-line message every command prints.
pub(crate) fn parsed<T, E: std::fmt::Display>(r: std::result::Result<T, E>) -> Result<T> {
    r.map_err(|e| e.to_string())
}

pub(crate) fn actor() -> Actor {
    // The operating-system account running the command, as the shell names it.
    let name = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unnamed".into());
    Actor::cli(&name)
}

fn read_password_stdin() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err("no password on standard input".into());
    }
    Ok(password)
}

// ---- tenant ----

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Show the conferencing settings.
    Show,
    /// Change conferencing settings; only the given ones change.
    Set(TenantSetArgs),
}

#[derive(Args)]
pub struct TenantSetArgs {
    /// Digits in PINs generated from now on (4-12); existing PINs keep their length.
    #[arg(long, value_name = "N", value_parser = |s: &str| PinLength::parse(s))]
    pin_length: Option<PinLength>,
    #[arg(long, value_name = "BOOL", value_parser = BoolishValueParser::new())]
    automatically_send_emails: Option<bool>,
    #[arg(long, value_name = "BOOL", value_parser = BoolishValueParser::new())]
    allow_pstn_only_meetings_by_default: Option<bool>,
    #[arg(long, value_name = "BOOL", value_parser = BoolishValueParser::new())]
    enable_name_recording: Option<bool>,
    #[arg(long, value_name = "BOOL", value_parser = BoolishValueParser::new())]
    enable_entry_exit_notifications: Option<bool>,
    #[arg(long, value_name = "use-names|tone-only", value_parser = |s: &str| EntryExitAnnouncementsType::parse(s))]
    entry_exit_announcements_type: Option<EntryExitAnnouncementsType>,
    #[arg(long, value_name = "BOOL", value_parser = BoolishValueParser::new())]
    allow_pstn_users_to_bypass_lobby: Option<bool>,
    /// Minutes a caller waits in the lobby before being told nobody admitted them.
    #[arg(long, value_name = "MINUTES")]
    lobby_wait_minutes: Option<u32>,
    #[arg(long, value_name = "NAME", value_parser = |s: &str| DisplayName::parse(s))]
    display_name: Option<DisplayName>,
}

pub fn settings_json(s: &TenantSettings) -> Value {
    json!({
        "pin_length": s.pin_length.get(),
        "automatically_send_emails": s.automatically_send_emails,
        "allow_pstn_only_meetings_by_default": s.allow_pstn_only_meetings_by_default,
        "enable_entry_exit_notifications": s.enable_entry_exit_notifications,
        "entry_exit_announcements_type": s.entry_exit_announcements_type.as_str(),
        "enable_name_recording": s.enable_name_recording,
        "allow_pstn_users_to_bypass_lobby": s.allow_pstn_users_to_bypass_lobby,
        "lobby_wait_minutes": s.lobby_wait_minutes,
        "display_name": s.display_name.as_str(),
    })
}

fn print_settings(g: &Globals, s: &TenantSettings) {
    let value = settings_json(s);
    if g.json {
        print_json(&value);
    } else if let Some(map) = value.as_object() {
        let fields: Vec<(&str, String)> = map
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                )
            })
            .collect();
        print_fields(&fields);
    }
}

pub async fn tenant(g: &Globals, cmd: TenantCommand) -> Result {
    match cmd {
        TenantCommand::Show => {
            let app = g.open().await?;
            print_settings(g, &parsed(app.tenant_settings().await)?);
        }
        TenantCommand::Set(a) => {
            let change = TenantSettingsChange {
                pin_length: a.pin_length,
                automatically_send_emails: a.automatically_send_emails,
                allow_pstn_only_meetings_by_default: a.allow_pstn_only_meetings_by_default,
                enable_entry_exit_notifications: a.enable_entry_exit_notifications,
                entry_exit_announcements_type: a.entry_exit_announcements_type,
                enable_name_recording: a.enable_name_recording,
                allow_pstn_users_to_bypass_lobby: a.allow_pstn_users_to_bypass_lobby,
                lobby_wait_minutes: a.lobby_wait_minutes,
                display_name: a.display_name,
            };
            if change == TenantSettingsChange::default() {
                return Err("nothing to change: give at least one setting (see --help)".into());
            }
            let app = g.open().await?;
            let (settings, changed) = parsed(app.update_tenant_settings(&actor(), &change).await)?;
            if !g.json {
                if changed.is_empty() {
                    println!("nothing changed");
                }
                if change.pin_length.is_some() {
                    println!(
                        "note: the PIN length applies to PINs generated from now on; existing PINs keep theirs"
                    );
                }
            }
            print_settings(g, &settings);
        }
    }
    Ok(())
}

// ---- numbers ----

#[derive(Subcommand)]
pub enum NumberCommand {
    /// Register a dial-in service number.
    Add(NumberAddArgs),
    /// List the registered numbers.
    List,
}

#[derive(Args)]
pub struct NumberAddArgs {
    /// The number in E.164 form, e.g. +14255550100.
    #[arg(value_parser = |s: &str| E164::parse(s))]
    number: E164,
    /// A toll-free number (default: toll).
    #[arg(long)]
    toll_free: bool,
    /// The language its prompts are played in.
    #[arg(long, default_value = "en-US", value_parser = |s: &str| LanguageTag::parse(s))]
    language: LanguageTag,
    /// Up to four more languages, comma-separated (fr-FR,de-DE).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = |s: &str| LanguageTag::parse(s.trim()))]
    alternate_languages: Vec<LanguageTag>,
}

/// What callers of `number` will not get because there are no prompts in a language:
/// the primary language plays in the default one, an alternate is not offered.
fn prompt_notes(number: &ServiceNumber) -> Vec<String> {
    let has_prompts = |l: &LanguageTag| {
        pinbridge_bridge::LANGUAGES
            .iter()
            .any(|p| p.eq_ignore_ascii_case(l.as_str()))
    };
    let mut notes = Vec::new();
    if !has_prompts(&number.primary_language) {
        notes.push(format!(
            "there are no {} prompts: callers of {} hear {}",
            number.primary_language,
            number.number,
            pinbridge_bridge::DEFAULT_LANGUAGE
        ));
    }
    for l in number
        .alternate_languages
        .iter()
        .filter(|l| !has_prompts(l))
    {
        notes.push(format!(
            "there are no {l} prompts: the greeting of {} does not offer {l}",
            number.number
        ));
    }
    notes
}

fn number_json(n: &ServiceNumber) -> Value {
    json!({
        "number": n.number.as_str(),
        "kind": n.kind.as_str(),
        "primary_language": n.primary_language.as_str(),
        "alternate_languages": n.alternate_languages.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
    })
}

pub async fn number(g: &Globals, cmd: NumberCommand) -> Result {
    match cmd {
        NumberCommand::Add(a) => {
            let kind = if a.toll_free {
                NumberKind::TollFree
            } else {
                NumberKind::Toll
            };
            let number = parsed(ServiceNumber::new(
                a.number,
                kind,
                a.language,
                a.alternate_languages,
            ))?;
            let app = g.open().await?;
            parsed(app.add_number(&actor(), &number).await)?;
            if g.json {
                print_json(&number_json(&number));
            } else {
                println!("registered {} ({})", number.number, kind.as_str());
            }
            for note in prompt_notes(&number) {
                eprintln!("note: {note}");
            }
        }
        NumberCommand::List => {
            let app = g.open().await?;
            let numbers = parsed(app.numbers().await)?;
            if g.json {
                print_json(&Value::Array(numbers.iter().map(number_json).collect()));
            } else {
                let rows: Vec<Vec<String>> = numbers
                    .iter()
                    .map(|n| {
                        let alts: Vec<&str> =
                            n.alternate_languages.iter().map(|l| l.as_str()).collect();
                        vec![
                            n.number.to_string(),
                            n.kind.as_str().into(),
                            n.primary_language.to_string(),
                            alts.join(","),
                        ]
                    })
                    .collect();
                print_table(&["NUMBER", "KIND", "LANGUAGE", "ALTERNATES"], &rows);
            }
        }
    }
    Ok(())
}

// ---- users ----

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user to the directory.
    Add(UserAddArgs),
    /// List users, optionally searching UPN and display name.
    List(UserListArgs),
    /// Show one user (Get-CsOnlineDialInConferencingUser).
    Show(UpnArg),
    /// Enable audio conferencing: prints the new PIN once.
    Enable(UserEnableArgs),
    /// Change a user's conferencing (Set-CsOnlineDialInConferencingUser).
    Set(UserSetArgs),
    /// Disable audio conferencing: removes the PIN, keeps the conference ID reserved.
    Disable(UpnArg),
}

fn upn_parser(s: &str) -> std::result::Result<Upn, String> {
    Upn::parse(s).map_err(|e| e.to_string())
}

fn email_parser(s: &str) -> std::result::Result<EmailAddress, String> {
    EmailAddress::parse(s).map_err(|e| e.to_string())
}

fn e164_parser(s: &str) -> std::result::Result<E164, String> {
    E164::parse(s).map_err(|e| e.to_string())
}

#[derive(Args)]
pub struct UpnArg {
    #[arg(value_name = "UPN", value_parser = upn_parser)]
    upn: Upn,
}

#[derive(Args)]
pub struct UserAddArgs {
    #[arg(value_name = "UPN", value_parser = upn_parser)]
    upn: Upn,
    #[arg(long, value_name = "NAME", value_parser = |s: &str| DisplayName::parse(s))]
    display_name: DisplayName,
    /// The mailbox address (default: the UPN).
    #[arg(long, value_name = "ADDR", value_parser = email_parser, conflicts_with = "no_mailbox")]
    primary_smtp_address: Option<EmailAddress>,
    /// The user has no mailbox: no conferencing email can reach them without an override.
    #[arg(long)]
    no_mailbox: bool,
    #[arg(long, value_name = "ROLE", default_value = "user", value_parser = ["user", "admin"])]
    role: String,
    /// Read the web sign-in password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Args)]
pub struct UserListArgs {
    #[arg(long, value_name = "TEXT")]
    search: Option<String>,
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: u32,
    #[arg(long, value_name = "N", default_value_t = 0)]
    offset: u32,
}

#[derive(Args)]
pub struct UserEnableArgs {
    #[arg(value_name = "UPN", value_parser = upn_parser)]
    upn: Upn,
    /// Default toll number (a registered toll number; default: the first one).
    #[arg(long, value_name = "E164", value_parser = e164_parser)]
    service_number: Option<E164>,
    #[arg(long, value_name = "E164", value_parser = e164_parser)]
    toll_free_service_number: Option<E164>,
    /// Callers can start this user's meetings (default: the tenant's default).
    #[arg(long, value_name = "BOOL", value_parser = BoolishValueParser::new())]
    allow_pstn_only_meetings: Option<bool>,
    /// Send conferencing emails to this address from now on.
    #[arg(long, value_name = "ADDR", value_parser = email_parser)]
    send_email_to_address: Option<EmailAddress>,
}

#[derive(Args)]
pub struct UserSetArgs {
    #[arg(value_name = "UPN", value_parser = upn_parser)]
    upn: Upn,
    /// Issue a new organiser PIN, printed once.
    #[arg(long)]
    reset_leader_pin: bool,
    /// Assign a new conference ID.
    #[arg(long)]
    reset_conference_id: bool,
    /// Send the conferencing email now, even with automatic emails off.
    #[arg(long)]
    send_email: bool,
    /// Send conferencing emails to this address from now on.
    #[arg(long, value_name = "ADDR", value_parser = email_parser, conflicts_with = "clear_send_email_to_address")]
    send_email_to_address: Option<EmailAddress>,
    /// Send conferencing emails to the mailbox again.
    #[arg(long)]
    clear_send_email_to_address: bool,
    #[arg(long, value_name = "E164", value_parser = e164_parser)]
    service_number: Option<E164>,
    #[arg(long, value_name = "E164", value_parser = e164_parser)]
    toll_free_service_number: Option<E164>,
    #[arg(long, value_name = "BOOL", value_parser = BoolishValueParser::new())]
    allow_pstn_only_meetings: Option<bool>,
    /// Read a new web sign-in password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
}

fn opt_str<T: ToString>(v: &Option<T>) -> Value {
    v.as_ref()
        .map_or(Value::Null, |v| Value::String(v.to_string()))
}

pub fn user_json(u: &User) -> Value {
    let c = &u.conferencing;
    json!({
        "upn": u.upn.as_str(),
        "display_name": u.display_name.as_str(),
        "primary_smtp_address": opt_str(&u.primary_smtp_address),
        "send_email_to_address": opt_str(&u.email_override),
        "role": u.role.as_str(),
        "has_password": u.password_hash.is_some(),
        "audio_conferencing": {
            "enabled": c.enabled,
            "conference_id": opt_str(&c.conference_id),
            "service_number": opt_str(&c.service_number),
            "toll_free_service_number": opt_str(&c.toll_free_service_number),
            "allow_pstn_only_meetings": c.allow_pstn_only_meetings,
            "leader_pin": if c.pin_hash.is_some() { Value::from(PIN_MASK) } else { Value::Null },
        },
    })
}

fn dash<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn user_fields(u: &User) -> Vec<(&'static str, String)> {
    let c = &u.conferencing;
    vec![
        ("upn", u.upn.to_string()),
        ("display name", u.display_name.to_string()),
        (
            "mailbox",
            u.primary_smtp_address
                .as_ref()
                .map_or_else(|| "(none)".into(), |a| a.to_string()),
        ),
        ("send email to", dash(&u.email_override)),
        ("role", u.role.as_str().into()),
        (
            "audio conferencing",
            if c.enabled { "enabled" } else { "disabled" }.into(),
        ),
        ("conference id", dash(&c.conference_id)),
        ("toll number", dash(&c.service_number)),
        ("toll-free number", dash(&c.toll_free_service_number)),
        (
            "callers can start meetings",
            c.allow_pstn_only_meetings.to_string(),
        ),
        (
            "pin",
            if c.pin_hash.is_some() {
                PIN_MASK.into()
            } else {
                "-".into()
            },
        ),
    ]
}

fn email_json(decision: &Option<EmailDecision>) -> Value {
    match decision {
        None => Value::Null,
        Some(EmailDecision::Queue { kind, to }) => {
            json!({"status": "queued", "kind": kind.as_str(), "to": to.as_str()})
        }
        Some(EmailDecision::NotSent { kind, reason }) => {
            json!({"status": "not-sent", "kind": kind.as_str(), "reason": reason.explain(*kind)})
        }
    }
}

fn email_line(decision: &EmailDecision) -> String {
    match decision {
        EmailDecision::Queue { kind, to } => format!("{} email queued for {to}", kind.as_str()),
        EmailDecision::NotSent { kind, reason } => {
            format!("no {} email: {}", kind.as_str(), reason.explain(*kind))
        }
    }
}

/// Prints a user change; the PIN, where there is one, is printed here and nowhere else.
fn print_change(g: &Globals, outcome: &UserChangeOutcome) {
    if g.json {
        let mut value = user_json(&outcome.user);
        if let (Some(issued), Some(map)) = (&outcome.new_pin, value.as_object_mut()) {
            map.insert("pin".into(), Value::from(issued.pin.reveal()));
            map.insert("pin_version".into(), Value::from(issued.version));
        }
        if let Some(map) = value.as_object_mut() {
            map.insert("email".into(), email_json(&outcome.email));
        }
        print_json(&value);
        return;
    }
    print_fields(&user_fields(&outcome.user));
    if let Some(issued) = &outcome.new_pin {
        println!();
        println!(
            "new PIN: {}   (shown only now; from here on it is listed as {PIN_MASK})",
            issued.pin.reveal()
        );
    }
    if let Some(decision) = &outcome.email {
        println!("{}", email_line(decision));
    }
}

pub async fn user(g: &Globals, cmd: UserCommand) -> Result {
    match cmd {
        UserCommand::Add(a) => {
            let role = Role::parse(&a.role).ok_or("role must be user or admin")?;
            let mailbox = if a.no_mailbox {
                None
            } else {
                Some(match a.primary_smtp_address {
                    Some(addr) => addr,
                    None => parsed(EmailAddress::parse(a.upn.as_str()))?,
                })
            };
            let password = if a.password_stdin {
                Some(read_password_stdin()?)
            } else {
                None
            };
            let app = g.open().await?;
            let user = parsed(
                app.add_user(
                    &actor(),
                    AddUser {
                        upn: a.upn,
                        display_name: a.display_name,
                        primary_smtp_address: mailbox,
                        role,
                        password,
                    },
                )
                .await,
            )?;
            if g.json {
                print_json(&user_json(&user));
            } else {
                print_fields(&user_fields(&user));
            }
        }
        UserCommand::List(a) => {
            let app = g.open().await?;
            let page = parsed(
                app.search_users(&UserQuery {
                    search: a.search,
                    limit: a.limit,
                    offset: a.offset,
                })
                .await,
            )?;
            if g.json {
                print_json(&json!({
                    "total": page.total,
                    "offset": a.offset,
                    "users": page.users.iter().map(user_json).collect::<Vec<_>>(),
                }));
            } else {
                let rows: Vec<Vec<String>> = page
                    .users
                    .iter()
                    .map(|u| {
                        let c = &u.conferencing;
                        vec![
                            u.upn.to_string(),
                            u.display_name.to_string(),
                            if c.enabled { "enabled" } else { "disabled" }.into(),
                            dash(&c.conference_id),
                            dash(&c.service_number),
                        ]
                    })
                    .collect();
                print_table(
                    &[
                        "UPN",
                        "DISPLAY NAME",
                        "AUDIO CONFERENCING",
                        "CONFERENCE ID",
                        "TOLL NUMBER",
                    ],
                    &rows,
                );
                println!(
                    "({} of {} shown, from {})",
                    page.users.len(),
                    page.total,
                    a.offset
                );
            }
        }
        UserCommand::Show(a) => {
            let app = g.open().await?;
            let user = parsed(app.user(&a.upn).await)?;
            if g.json {
                print_json(&user_json(&user));
            } else {
                print_fields(&user_fields(&user));
            }
        }
        UserCommand::Enable(a) => {
            let options = EnableOptions {
                service_number: a.service_number,
                toll_free_service_number: a.toll_free_service_number,
                allow_pstn_only_meetings: a.allow_pstn_only_meetings,
                send_email_to_address: a.send_email_to_address,
            };
            let app = g.open().await?;
            let outcome = parsed(app.enable_user(&actor(), &a.upn, &options).await)?;
            print_change(g, &outcome);
        }
        UserCommand::Set(a) => {
            let email_override = match (a.send_email_to_address, a.clear_send_email_to_address) {
                (Some(addr), _) => Some(OverrideChange::Set(addr)),
                (None, true) => Some(OverrideChange::Clear),
                (None, false) => None,
            };
            let options = SetOptions {
                reset_conference_id: a.reset_conference_id,
                send_email: a.send_email,
                email_override,
                service_number: a.service_number,
                toll_free_service_number: a.toll_free_service_number,
                allow_pstn_only_meetings: a.allow_pstn_only_meetings,
            };
            let nothing = !a.password_stdin
                && options.email_override.is_none()
                && !options.needs_audio_conferencing(a.reset_leader_pin);
            if nothing {
                return Err("nothing to change: give at least one option (see --help)".into());
            }
            let password = if a.password_stdin {
                Some(read_password_stdin()?)
            } else {
                None
            };
            let app = g.open().await?;
            let outcome = parsed(
                app.set_user(&actor(), &a.upn, &options, a.reset_leader_pin, password)
                    .await,
            )?;
            print_change(g, &outcome);
        }
        UserCommand::Disable(a) => {
            let app = g.open().await?;
            let outcome = parsed(app.disable_user(&actor(), &a.upn).await)?;
            print_change(g, &outcome);
        }
    }
    Ok(())
}

// ---- audit ----

#[derive(Args)]
pub struct AuditArgs {
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    limit: u32,
    /// Only entries about this user.
    #[arg(long, value_name = "UPN", value_parser = upn_parser)]
    user: Option<Upn>,
}

pub async fn audit(g: &Globals, a: AuditArgs) -> Result {
    let app = g.open().await?;
    let records = parsed(
        app.audit(&AuditQuery {
            limit: a.limit,
            target: a.user,
        })
        .await,
    )?;
    if g.json {
        let items: Vec<Value> = records
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "at": format_utc_millis(r.at_ms),
                    "at_ms": r.at_ms,
                    "actor": r.actor.as_str(),
                    "action": r.action.as_str(),
                    "user": opt_str(&r.target),
                    "detail": r.detail,
                })
            })
            .collect();
        print_json(&Value::Array(items));
    } else {
        let rows: Vec<Vec<String>> = records
            .iter()
            .map(|r| {
                vec![
                    format_utc_millis(r.at_ms),
                    r.actor.as_str().into(),
                    r.action.as_str().into(),
                    dash(&r.target),
                    r.detail.clone(),
                ]
            })
            .collect();
        print_table(&["WHEN", "WHO", "WHAT", "USER", "DETAIL"], &rows);
    }
    Ok(())
}
