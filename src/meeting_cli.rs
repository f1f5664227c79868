//! `pinbridge meeting`: create meetings, list them, and show one with its live state
//! (started or not, who is connected, in the lobby or the meeting).
//!
//! A user's own conference ID also works with `show`: it is the meeting that user
//! organises, with the user's own settings.

use clap::builder::BoolishValueParser;
use clap::{Args, Subcommand};
use pinbridge_domain::meeting::{MeetingSettings, resolve_anonymous_start, resolve_bypass_lobby};
use pinbridge_domain::{ConferenceId, ServiceNumber, TenantSettings, Upn, User};
use pinbridge_store::meetings::{LiveMeeting, NewMeeting};
use serde_json::{Value, json};

use crate::Globals;

use crate::output::{print_fields, print_json};

type Result<T = ()> = std::result::Result<T, String>;

#[derive(Subcommand)]
pub enum MeetingCommand {
    /// Create a meeting and print its conference ID and dial-in numbers.
    New(NewArgs),
    /// List every meeting.
    List,
    /// Show a meeting (or a user's own conference ID) and who is in it now.
    Show(ShowArgs),
}

#[derive(Args)]
pub struct NewArgs {
    /// The organiser's user principal name; must be enabled for audio conferencing.
    #[arg(long, value_name = "UPN")]
    organizer: String,
    /// The meeting's subject.
    #[arg(long, value_name = "TEXT")]
    subject: Option<String>,
    /// Let dial-in callers skip the lobby once the meeting has started [default: the
    /// tenant's setting].
    #[arg(long, value_name = "BOOL", value_parser = BoolishValueParser::new())]
    allow_pstn_users_to_bypass_lobby: Option<bool>,
    /// Let the first caller start the meeting without the organiser [default: the
    /// organiser's "callers can start my meetings"].
    #[arg(long, value_name = "BOOL", value_parser = BoolishValueParser::new())]
    allow_anonymous_start: Option<bool>,
}

#[derive(Args)]
pub struct ShowArgs {
    /// The conference ID.
    #[arg(value_name = "CONFERENCE_ID")]
    conference_id: String,
}

/// The longest subject accepted.
const MAX_SUBJECT_CHARS: usize = 200;

fn flag_text(flag: Option<bool>) -> String {
    match flag {
        Some(true) => "on".into(),
        Some(false) => "off".into(),
        None => "inherited".into(),
    }
}

/// The organiser's numbers, else every number of the tenant.
fn dial_in_numbers(organizer: &User, numbers: &[ServiceNumber]) -> Vec<Value> {
    let own: Vec<Value> = [
        (&organizer.conferencing.service_number, "toll"),
        (
            &organizer.conferencing.toll_free_service_number,
            "toll-free",
        ),
    ]
    .into_iter()
    .filter_map(|(n, kind)| {
        n.as_ref()
            .map(|n| json!({"number": n.as_str(), "kind": kind}))
    })
    .collect();
    if !own.is_empty() {
        return own;
    }
    numbers
        .iter()
        .map(|n| json!({"number": n.number.as_str(), "kind": n.kind.as_str()}))
        .collect()
}

fn numbers_text(numbers: &[Value]) -> String {
    if numbers.is_empty() {
        return "(none registered)".into();
    }
    numbers
        .iter()
        .map(|n| {
            format!(
                "{} ({})",
                n["number"].as_str().unwrap_or(""),
                n["kind"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn meeting(g: &Globals, cmd: MeetingCommand) -> Result {
    match cmd {
        MeetingCommand::New(args) => new(g, args).await,
        MeetingCommand::List => list(g).await,
        MeetingCommand::Show(args) => show(g, args).await,
    }
}

async fn new(g: &Globals, args: NewArgs) -> Result {
    let organizer = Upn::parse(&args.organizer).map_err(|e| e.to_string())?;
    let subject = args
        .subject
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    if let Some(s) = &subject
        && (s.chars().count() > MAX_SUBJECT_CHARS || s.chars().any(char::is_control))
    {
        return Err(format!(
            "the subject must be at most {MAX_SUBJECT_CHARS} characters on one line"
        ));
    }
    let app = g.open().await?;
    let store = app.store();
    let user = store
        .user(&organizer)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no user {organizer}"))?;
    if !user.conferencing.enabled {
        return Err(format!(
            "{organizer} is not enabled for audio conferencing (enable the user first)"
        ));
    }
    let settings = MeetingSettings {
        allow_anonymous_start: args.allow_anonymous_start,
        allow_pstn_users_to_bypass_lobby: args.allow_pstn_users_to_bypass_lobby,
    };
    let meeting = store
        .create_meeting(&NewMeeting {
            organizer: organizer.clone(),
            subject,
            settings,
        })
        .await
        .map_err(|e| e.to_string())?;
    let numbers = store.numbers().await.map_err(|e| e.to_string())?;
    let dial_in = dial_in_numbers(&user, &numbers);
    if g.json {
        print_json(&json!({
            "conference_id": meeting.conference_id.as_str(),
            "organizer": organizer.as_str(),
            "subject": meeting.subject,
            "allow_anonymous_start": settings.allow_anonymous_start,
            "allow_pstn_users_to_bypass_lobby": settings.allow_pstn_users_to_bypass_lobby,
            "dial_in_numbers": dial_in,
        }));
    } else {
        print_fields(&[
            ("conference ID", meeting.conference_id.to_string()),
            ("organizer", organizer.to_string()),
            (
                "subject",
                meeting.subject.clone().unwrap_or_else(|| "-".into()),
            ),
            ("dial-in numbers", numbers_text(&dial_in)),
            ("anonymous start", flag_text(settings.allow_anonymous_start)),
            (
                "lobby bypass",
                flag_text(settings.allow_pstn_users_to_bypass_lobby),
            ),
        ]);
    }
    Ok(())
}

async fn list(g: &Globals) -> Result {
    let app = g.open().await?;
    let meetings = app.store().meetings().await.map_err(|e| e.to_string())?;
    if g.json {
        let rows: Vec<Value> = meetings
            .iter()
            .map(|m| {
                json!({
                    "conference_id": m.conference_id.as_str(),
                    "organizer": m.organizer.as_str(),
                    "subject": m.subject,
                    "allow_anonymous_start": m.settings.allow_anonymous_start,
                    "allow_pstn_users_to_bypass_lobby": m.settings.allow_pstn_users_to_bypass_lobby,
                    "created_at_ms": m.created_at_ms,
                })
            })
            .collect();
        print_json(&Value::Array(rows));
        return Ok(());
    }
    let rows: Vec<[String; 5]> = meetings
        .iter()
        .map(|m| {
            [
                m.conference_id.to_string(),
                m.organizer.to_string(),
                m.subject.clone().unwrap_or_else(|| "-".into()),
                flag_text(m.settings.allow_anonymous_start),
                flag_text(m.settings.allow_pstn_users_to_bypass_lobby),
            ]
        })
        .collect();
    let header = [
        "CONFERENCE ID",
        "ORGANIZER",
        "SUBJECT",
        "ANONYMOUS START",
        "LOBBY BYPASS",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    Ok(())
}

async fn show(g: &Globals, args: ShowArgs) -> Result {
    let id = ConferenceId::parse(&args.conference_id).map_err(|e| e.to_string())?;
    let app = g.open().await?;
    let store = app.store();
    let (organizer, subject, settings, personal) =
        match store.meeting(&id).await.map_err(|e| e.to_string())? {
            Some(m) => {
                let user = store
                    .user(&m.organizer)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| {
                        format!("the organiser {} of meeting {id} is gone", m.organizer)
                    })?;
                (user, m.subject, m.settings, false)
            }
            None => {
                let user = store
                    .user_by_conference_id(&id)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("no meeting with conference ID {id}"))?;
                (user, None, MeetingSettings::default(), true)
            }
        };
    let tenant: TenantSettings = store.tenant_settings().await.map_err(|e| e.to_string())?;
    let numbers = store.numbers().await.map_err(|e| e.to_string())?;
    let live = store.live_meeting(&id).await.map_err(|e| e.to_string())?;
    let anonymous_start = resolve_anonymous_start(
        settings.allow_anonymous_start,
        organizer.conferencing.allow_pstn_only_meetings,
    );
    let bypass_lobby = resolve_bypass_lobby(
        settings.allow_pstn_users_to_bypass_lobby,
        tenant.allow_pstn_users_to_bypass_lobby,
    );
    let dial_in = dial_in_numbers(&organizer, &numbers);
    let started_at_ms = live.as_ref().and_then(|l| l.started_at_ms);
    let participants = live
        .as_ref()
        .map_or(&[][..], |l: &LiveMeeting| &l.participants[..]);
    if g.json {
        let people: Vec<Value> = participants
            .iter()
            .map(|p| {
                json!({
                    "participant": p.participant,
                    "kind": p.kind,
                    "organizer": p.is_organizer,
                    "placement": p.placement,
                    "calling_number": p.calling_number,
                    "joined_at_ms": p.joined_at_ms,
                })
            })
            .collect();
        print_json(&json!({
            "conference_id": id.as_str(),
            "organizer": organizer.upn.as_str(),
            "personal": personal,
            "subject": subject,
            "allow_anonymous_start": settings.allow_anonymous_start,
            "allow_pstn_users_to_bypass_lobby": settings.allow_pstn_users_to_bypass_lobby,
            "anonymous_start": anonymous_start,
            "bypass_lobby": bypass_lobby,
            "dial_in_numbers": dial_in,
            "started": started_at_ms.is_some(),
            "started_at_ms": started_at_ms,
            "participants": people,
        }));
        return Ok(());
    }
    print_fields(&[
        ("conference ID", id.to_string()),
        ("organizer", organizer.upn.to_string()),
        (
            "subject",
            subject.unwrap_or_else(|| {
                if personal {
                    "(the organiser's own conference ID)".into()
                } else {
                    "-".into()
                }
            }),
        ),
        ("dial-in numbers", numbers_text(&dial_in)),
        (
            "anonymous start",
            format!(
                "{} ({})",
                if anonymous_start { "on" } else { "off" },
                flag_text(settings.allow_anonymous_start)
            ),
        ),
        (
            "lobby bypass",
            format!(
                "{} ({})",
                if bypass_lobby { "on" } else { "off" },
                flag_text(settings.allow_pstn_users_to_bypass_lobby)
            ),
        ),
        (
            "started",
            if started_at_ms.is_some() {
                "yes".into()
            } else {
                "no".into()
            },
        ),
        ("participants", participants.len().to_string()),
    ]);
    for p in participants {
        println!(
            "  {:<5}  {:<7}  {:<9}  {}",
            p.kind,
            p.placement,
            if p.is_organizer { "organizer" } else { "-" },
            p.calling_number.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}
