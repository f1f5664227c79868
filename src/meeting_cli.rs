//! `pinbridge meeting`: create meetings, list them, and show one with its live state
//! (started or not, who is connected, in the lobby or the meeting).
//!
//! A user's own conference ID also works with `show`: it is the meeting that user
//! organises, with the user's own settings.

use clap::builder::BoolishValueParser;
use clap::{Args, Subcommand};
use pinbridge_app::MeetingRequest;
use pinbridge_app::report::DialInNumber;
use pinbridge_domain::meeting::MeetingSettings;
use pinbridge_domain::{ConferenceId, MeetingSubject, Upn};

use crate::Globals;

use crate::output::{print_fields, print_json, print_table};

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

fn flag_text(flag: Option<bool>) -> String {
    match flag {
        Some(true) => "on".into(),
        Some(false) => "off".into(),
        None => "inherited".into(),
    }
}

fn numbers_text(numbers: &[DialInNumber]) -> String {
    if numbers.is_empty() {
        return "(none registered)".into();
    }
    numbers
        .iter()
        .map(|n| format!("{} ({})", n.number, n.kind.as_str()))
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
    let request = MeetingRequest {
        organizer: Upn::parse(&args.organizer).map_err(|e| e.to_string())?,
        subject: MeetingSubject::parse_optional(args.subject.as_deref().unwrap_or(""))
            .map_err(|e| e.to_string())?,
        settings: MeetingSettings {
            allow_anonymous_start: args.allow_anonymous_start,
            allow_pstn_users_to_bypass_lobby: args.allow_pstn_users_to_bypass_lobby,
        },
    };
    let app = g.open().await?;
    let report = app
        .create_meeting(&crate::admin::actor(), &request)
        .await
        .map_err(|e| e.to_string())?;
    if g.json {
        print_json(&report);
    } else {
        print_fields(&[
            ("conference ID", report.conference_id.clone()),
            ("organizer", report.organizer.clone()),
            (
                "subject",
                report.subject.clone().unwrap_or_else(|| "-".into()),
            ),
            ("dial-in numbers", numbers_text(&report.dial_in_numbers)),
            ("anonymous start", flag_text(report.allow_anonymous_start)),
            (
                "lobby bypass",
                flag_text(report.allow_pstn_users_to_bypass_lobby),
            ),
        ]);
    }
    Ok(())
}

async fn list(g: &Globals) -> Result {
    let app = g.open().await?;
    let meetings = app.meeting_summaries().await.map_err(|e| e.to_string())?;
    if g.json {
        print_json(&meetings);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = meetings
        .iter()
        .map(|m| {
            vec![
                m.conference_id.clone(),
                m.organizer.clone(),
                m.subject.clone().unwrap_or_else(|| "-".into()),
                flag_text(m.allow_anonymous_start),
                flag_text(m.allow_pstn_users_to_bypass_lobby),
            ]
        })
        .collect();
    print_table(
        &[
            "CONFERENCE ID",
            "ORGANIZER",
            "SUBJECT",
            "ANONYMOUS START",
            "LOBBY BYPASS",
        ],
        &rows,
    );
    Ok(())
}

async fn show(g: &Globals, args: ShowArgs) -> Result {
    let id = ConferenceId::parse(&args.conference_id).map_err(|e| e.to_string())?;
    let app = g.open().await?;
    let report = app.meeting_report(&id).await.map_err(|e| e.to_string())?;
    if g.json {
        print_json(&report);
        return Ok(());
    }
    let on_off = |on: bool| if on { "on" } else { "off" };
    print_fields(&[
        ("conference ID", report.conference_id.clone()),
        ("organizer", report.organizer.clone()),
        (
            "subject",
            report.subject.clone().unwrap_or_else(|| {
                if report.personal {
                    "(the organiser's own conference ID)".into()
                } else {
                    "-".into()
                }
            }),
        ),
        ("dial-in numbers", numbers_text(&report.dial_in_numbers)),
        (
            "anonymous start",
            format!(
                "{} ({})",
                on_off(report.anonymous_start),
                flag_text(report.allow_anonymous_start)
            ),
        ),
        (
            "lobby bypass",
            format!(
                "{} ({})",
                on_off(report.bypass_lobby),
                flag_text(report.allow_pstn_users_to_bypass_lobby)
            ),
        ),
        ("started", if report.started { "yes" } else { "no" }.into()),
        ("participants", report.participants.len().to_string()),
    ]);
    for p in &report.participants {
        println!(
            "  {:<5}  {:<7}  {:<9}  {}",
            p.kind.as_str(),
            p.placement.as_str(),
            if p.organizer { "organizer" } else { "-" },
            p.calling_number.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}
