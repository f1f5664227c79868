//! The control task: what the media engine asks of the store, done asynchronously.
//!
//! Conference look-ups and PIN checks run as tasks of their own (a PIN check is Argon2,
//! on the blocking pool) and answer the engine through its command channel. Live-state
//! writes run one after the other in a writer task, so the store sees them in order.
//! The task also keeps the tenant settings and service numbers the SIP side needs when a
//! call arrives, refreshed every few seconds.

use std::sync::mpsc::Sender;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use pinbridge_app::App;
use pinbridge_domain::meeting::{MeetingOptions, MeetingSettings, ParticipantKind, Placement};
use pinbridge_domain::{ConferenceId, ServiceNumber, TenantSettings};
use pinbridge_store::meetings::LiveParticipant;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::engine::{ControlRequest, EngineCommand, LiveUpdate, MeetingRecord};

/// How often the cached tenant settings and numbers are re-read.
const REFRESH: Duration = Duration::from_secs(5);

/// What the SIP side reads when a call arrives.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// The tenant settings (name recording, lobby wait).
    pub settings: TenantSettings,
    /// The service numbers, each with its language.
    pub numbers: Vec<ServiceNumber>,
}

impl Directory {
    /// The primary language of the service number a call dialled, if it is registered.
    /// Numbers match with or without the leading `+`.
    pub fn language_of(&self, called: &str) -> Option<&str> {
        let digits = called.trim_start_matches('+');
        self.numbers
            .iter()
            .find(|n| !digits.is_empty() && n.number.digits() == digits)
            .map(|n| n.primary_language.as_str())
    }
}

/// The shared, refreshed copy of the [`Directory`].
pub type SharedDirectory = Arc<RwLock<Directory>>;

/// Reads the directory once.
pub async fn load_directory(app: &App) -> Result<Directory, pinbridge_store::StoreError> {
    Ok(Directory {
        settings: app.store().tenant_settings().await?,
        numbers: app.store().numbers().await?,
    })
}

/// Runs the control task until the engine drops its sender.
pub async fn run(
    app: App,
    mut requests: UnboundedReceiver<ControlRequest>,
    engine: Sender<EngineCommand>,
    directory: SharedDirectory,
) {
    let (live_tx, live_rx) = unbounded_channel();
    let writer = tokio::spawn(write_live(app.clone(), live_rx));
    let mut refresh = tokio::time::interval(REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some(request) = request else { break };
                match request {
                    ControlRequest::Lookup(call, id) => {
                        let app = app.clone();
                        let engine = engine.clone();
                        let directory = Arc::clone(&directory);
                        tokio::spawn(async move {
                            let record = lookup(&app, &id, &directory).await;
                            let _ = engine.send(EngineCommand::LookedUp(call, record.map(Box::new)));
                        });
                    }
                    ControlRequest::VerifyPin { call, organiser, digits, calling_number } => {
                        let app = app.clone();
                        let engine = engine.clone();
                        tokio::spawn(async move {
                            let correct = match app.verify_pin(&organiser, digits.reveal()).await {
                                Ok(correct) => correct,
                                Err(e) => {
                                    tracing::error!(error = %e, "the PIN check failed");
                                    false
                                }
                            };
                            if !correct {
                                // A security event; the digits are never logged.
                                tracing::warn!(
                                    organiser = %organiser.upn,
                                    calling_number = calling_number.as_deref().unwrap_or("-"),
                                    "wrong organiser PIN entered by phone"
                                );
                            }
                            let _ = engine.send(EngineCommand::PinChecked(call, correct));
                        });
                    }
                    ControlRequest::Live(update) => {
                        let _ = live_tx.send(update);
                    }
                }
            }
            _ = refresh.tick() => {
                match load_directory(&app).await {
                    Ok(fresh) => {
                        if let Ok(mut shared) = directory.write() {
                            *shared = fresh;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot refresh tenant settings and numbers"),
                }
            }
        }
    }
    drop(live_tx);
    let _ = writer.await;
}

/// The meeting a conference ID leads to: a meeting's own ID, or a user's own ID (a
/// meeting that user organises). Its organiser must be enabled for audio conferencing.
async fn lookup(
    app: &App,
    id: &ConferenceId,
    directory: &SharedDirectory,
) -> Option<MeetingRecord> {
    let store = app.store();
    let found = async {
        let (organiser, settings) = match store.meeting(id).await? {
            Some(meeting) => (store.user(&meeting.organizer).await?, meeting.settings),
            None => (
                store.user_by_conference_id(id).await?,
                MeetingSettings::default(),
            ),
        };
        let tenant = store.tenant_settings().await?;
        Ok::<_, pinbridge_store::StoreError>((organiser, settings, tenant))
    }
    .await;
    match found {
        Ok((Some(organiser), settings, tenant)) if organiser.conferencing.enabled => {
            if let Ok(mut shared) = directory.write() {
                shared.settings = tenant.clone();
            }
            let options = MeetingOptions::resolve(id.clone(), &organiser, settings, &tenant);
            Some(MeetingRecord { options, organiser })
        }
        Ok(_) => None,
        Err(e) => {
            tracing::error!(error = %e, "conference look-up failed");
            None
        }
    }
}

fn placement_name(placement: Placement) -> &'static str {
    match placement {
        Placement::Lobby => "lobby",
        Placement::Meeting => "meeting",
    }
}

fn kind_name(kind: ParticipantKind) -> &'static str {
    match kind {
        ParticipantKind::Phone => "phone",
        ParticipantKind::App => "app",
    }
}

/// Writes live state in the order it happened.
async fn write_live(app: App, mut updates: UnboundedReceiver<LiveUpdate>) {
    let store = app.store();
    while let Some(update) = updates.recv().await {
        let result = match &update {
            LiveUpdate::Meeting {
                conference_id,
                started_at_ms,
            } => store.live_set_meeting(conference_id, *started_at_ms).await,
            LiveUpdate::MeetingClosed { conference_id } => {
                store.live_remove_meeting(conference_id).await
            }
            LiveUpdate::Participant {
                conference_id,
                participant,
                is_organiser,
                kind,
                placement,
                calling_number,
                joined_at_ms,
            } => {
                let row = LiveParticipant {
                    participant: *participant as i64,
                    kind: kind_name(*kind).to_owned(),
                    is_organizer: *is_organiser,
                    placement: placement_name(*placement).to_owned(),
                    calling_number: calling_number.clone(),
                    joined_at_ms: *joined_at_ms,
                };
                store.live_set_participant(conference_id, &row).await
            }
            LiveUpdate::ParticipantLeft {
                conference_id,
                participant,
            } => {
                store
                    .live_remove_participant(conference_id, *participant as i64)
                    .await
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot write live meeting state");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinbridge_domain::{E164, LanguageTag, NumberKind};

    #[test]
    fn finds_the_language_of_a_called_number_with_or_without_plus() {
        let number = ServiceNumber::new(
            E164::parse("+14255550100").unwrap(),
            NumberKind::Toll,
            LanguageTag::parse("en-US").unwrap(),
            Vec::new(),
        )
        .unwrap();
        let directory = Directory {
            settings: TenantSettings::default(),
            numbers: vec![number],
        };
        assert_eq!(directory.language_of("+14255550100"), Some("en-US"));
        assert_eq!(directory.language_of("14255550100"), Some("en-US"));
        assert_eq!(directory.language_of("+14255550199"), None);
        assert_eq!(directory.language_of(""), None);
    }
}
