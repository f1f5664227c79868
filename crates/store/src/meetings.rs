//! Meetings and their live state.
//!
//! A meeting has an organiser, a conference ID of its own (reserved in `conference_ids`
//! with no user, so it can never equal a user's own ID) and optional overrides of the
//! inherited settings. The bridge writes the live state of every meeting that has
//! callers (started or not, each participant and where they are), so that another
//! process (the CLI, the web) can show it.

use pinbridge_domain::audit::{Actor, AuditAction, AuditEntry};
use pinbridge_domain::meeting::MeetingSettings;
use pinbridge_domain::user::UserId;
use pinbridge_domain::{ConferenceId, Upn};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError, now_ms};

/// A meeting to create.
#[derive(Debug, Clone)]
pub struct NewMeeting {
    /// The organiser; must exist.
    pub organizer: Upn,
    /// A free-text subject.
    pub subject: Option<String>,
    /// The meeting's own settings; `None` inherits.
    pub settings: MeetingSettings,
}

/// A stored meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMeeting {
    pub id: i64,
    pub conference_id: ConferenceId,
    pub organizer_id: UserId,
    pub organizer: Upn,
    pub subject: Option<String>,
    pub settings: MeetingSettings,
    pub created_at_ms: i64,
}

/// One participant of a live meeting, as the bridge reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveParticipant {
    /// The bridge's identifier of the participant within the meeting.
    pub participant: i64,
    /// `phone` or `app`.
    pub kind: String,
    /// The participant is the organiser.
    pub is_organizer: bool,
    /// `lobby` or `meeting`.
    pub placement: String,
    /// The calling number, masked (`+1425555****`).
    pub calling_number: Option<String>,
    /// When the participant joined (Unix milliseconds).
    pub joined_at_ms: i64,
}

/// The live state of a meeting that has callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveMeeting {
    /// When the meeting started; `None` while callers only wait in the lobby.
    pub started_at_ms: Option<i64>,
    /// Everyone connected, in order of arrival.
    pub participants: Vec<LiveParticipant>,
}

const MEETING_COLUMNS: &str = "m.id, m.conference_id, m.organizer_user_id, u.upn, m.subject, \
     m.allow_anonymous_start, m.allow_pstn_users_to_bypass_lobby, m.created_at_ms";

fn optional_flag(row: &AnyRow, column: &str) -> Result<Option<bool>> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(|v| v != 0))
}

fn meeting_from_row(row: &AnyRow) -> Result<StoredMeeting> {
    let corrupt =
        |what: &str, e: &dyn std::fmt::Display| StoreError::Corrupt(format!("{what}: {e}"));
    let conference_id: String = row.try_get("conference_id")?;
    let upn: String = row.try_get("upn")?;
    Ok(StoredMeeting {
        id: row.try_get("id")?,
        conference_id: ConferenceId::parse(&conference_id)
            .map_err(|e| corrupt("conference_id", &e))?,
        organizer_id: UserId(row.try_get("organizer_user_id")?),
        organizer: Upn::parse(&upn).map_err(|e| corrupt("upn", &e))?,
        subject: row.try_get("subject")?,
        settings: MeetingSettings {
            allow_anonymous_start: optional_flag(row, "allow_anonymous_start")?,
            allow_pstn_users_to_bypass_lobby: optional_flag(
                row,
                "allow_pstn_users_to_bypass_lobby",
            )?,
        },
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

fn flag_value(flag: Option<bool>) -> Option<i64> {
    flag.map(i64::from)
}

impl Store {
    /// Creates a meeting with a fresh conference ID, reserved so that no user or other
    /// meeting can have it, and audits it (`meeting.created`, naming the organiser).
    pub async fn create_meeting(&self, actor: &Actor, new: &NewMeeting) -> Result<StoredMeeting> {
        const ATTEMPTS: usize = 8;
        for _ in 0..ATTEMPTS {
            let mut tx = self.begin_write().await?;
            let organizer: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE upn = $1")
                .bind(new.organizer.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            let organizer =
                organizer.ok_or_else(|| StoreError::UnknownUser(new.organizer.clone()))?;
            let candidate = ConferenceId::generate(&mut rand_core::OsRng);
            let taken: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM conference_ids WHERE conference_id = $1")
                    .bind(candidate.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            if taken.is_some() {
                tx.rollback().await?;
                continue;
            }
            let now = now_ms();
            sqlx::query(
                "INSERT INTO conference_ids (conference_id, user_id, assigned_at_ms) VALUES ($1, NULL, $2)",
            )
            .bind(candidate.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO meetings (conference_id, organizer_user_id, subject, allow_anonymous_start, \
                 allow_pstn_users_to_bypass_lobby, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(candidate.as_str())
            .bind(organizer)
            .bind(new.subject.as_deref())
            .bind(flag_value(new.settings.allow_anonymous_start))
            .bind(flag_value(new.settings.allow_pstn_users_to_bypass_lobby))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let entry = AuditEntry::new(
                AuditAction::MeetingCreated,
                Some(&new.organizer),
                format!("meeting {candidate} created"),
            );
            Self::append_audit(&mut tx, actor, &[entry]).await?;
            tx.commit().await?;
            return self
                .meeting(&candidate)
                .await?
                .ok_or_else(|| StoreError::Database("the new meeting vanished".into()));
        }
        Err(StoreError::Database(
            "could not find a free conference ID".into(),
        ))
    }

    /// The meeting with this conference ID, if any (not a user's own conference ID).
    pub async fn meeting(&self, id: &ConferenceId) -> Result<Option<StoredMeeting>> {
        let sql = format!(
            "SELECT {MEETING_COLUMNS} FROM meetings m JOIN users u ON u.id = m.organizer_user_id \
             WHERE m.conference_id = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(meeting_from_row).transpose()
    }

    /// Every meeting, oldest first.
    pub async fn meetings(&self) -> Result<Vec<StoredMeeting>> {
        let sql = format!(
            "SELECT {MEETING_COLUMNS} FROM meetings m JOIN users u ON u.id = m.organizer_user_id \
             ORDER BY m.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(meeting_from_row).collect()
    }

    /// The meetings `organizer` organises, oldest first.
    pub async fn meetings_of(&self, organizer: &Upn) -> Result<Vec<StoredMeeting>> {
        let sql = format!(
            "SELECT {MEETING_COLUMNS} FROM meetings m JOIN users u ON u.id = m.organizer_user_id \
             WHERE u.upn = $1 ORDER BY m.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(organizer.as_str())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(meeting_from_row).collect()
    }

    /// The live state of a meeting, if it has callers.
    pub async fn live_meeting(&self, id: &ConferenceId) -> Result<Option<LiveMeeting>> {
        let row = sqlx::query("SELECT started_at_ms FROM live_meetings WHERE conference_id = $1")
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let started_at_ms: Option<i64> = row.try_get("started_at_ms")?;
        let rows = sqlx::query(
            "SELECT participant, kind, is_organizer, placement, calling_number, joined_at_ms \
             FROM live_participants WHERE conference_id = $1 ORDER BY joined_at_ms, participant",
        )
        .bind(id.as_str())
        .fetch_all(self.pool())
        .await?;
        let participants = rows
            .iter()
            .map(|row| {
                Ok(LiveParticipant {
                    participant: row.try_get("participant")?,
                    kind: row.try_get("kind")?,
                    is_organizer: row.try_get::<i64, _>("is_organizer")? != 0,
                    placement: row.try_get("placement")?,
                    calling_number: row.try_get("calling_number")?,
                    joined_at_ms: row.try_get("joined_at_ms")?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Some(LiveMeeting {
            started_at_ms,
            participants,
        }))
    }

    /// Forgets all live state (a bridge starting has no calls yet).
    pub async fn live_reset(&self) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM live_participants")
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM live_meetings")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that a meeting has callers, and whether (since when) it has started.
    pub async fn live_set_meeting(
        &self,
        id: &ConferenceId,
        started_at_ms: Option<i64>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO live_meetings (conference_id, started_at_ms, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (conference_id) DO UPDATE SET started_at_ms = excluded.started_at_ms, \
             updated_at_ms = excluded.updated_at_ms",
        )
        .bind(id.as_str())
        .bind(started_at_ms)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Forgets a meeting's live state: nobody is connected any more.
    pub async fn live_remove_meeting(&self, id: &ConferenceId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM live_participants WHERE conference_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM live_meetings WHERE conference_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a participant, or where they are now.
    pub async fn live_set_participant(&self, id: &ConferenceId, p: &LiveParticipant) -> Result<()> {
        sqlx::query(
            "INSERT INTO live_participants (conference_id, participant, kind, is_organizer, placement, \
             calling_number, joined_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (conference_id, participant) DO UPDATE SET kind = excluded.kind, \
             is_organizer = excluded.is_organizer, placement = excluded.placement, \
             calling_number = excluded.calling_number, joined_at_ms = excluded.joined_at_ms",
        )
        .bind(id.as_str())
        .bind(p.participant)
        .bind(p.kind.as_str())
        .bind(i64::from(p.is_organizer))
        .bind(p.placement.as_str())
        .bind(p.calling_number.as_deref())
        .bind(p.joined_at_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Removes a participant who left.
    pub async fn live_remove_participant(&self, id: &ConferenceId, participant: i64) -> Result<()> {
        sqlx::query("DELETE FROM live_participants WHERE conference_id = $1 AND participant = $2")
            .bind(id.as_str())
            .bind(participant)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
