//! Row mapping: reading and writing the domain's types.

use pinbridge_domain::audit::{Actor, AuditAction, AuditEntry};
use pinbridge_domain::settings::EntryExitAnnouncementsType;
use pinbridge_domain::text::LanguageTag;
use pinbridge_domain::user::{AudioConferencing, Role, UserId, search_terms, search_words};
use pinbridge_domain::{
    ConferenceId, DisplayName, E164, EmailAddress, NumberKind, PinHash, PinLength, ServiceNumber,
    TenantSettings, Upn, User,
};
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Executor, Row, Transaction};

use crate::{Result, Store, StoreError, now_ms};

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn flag(row: &AnyRow, column: &str) -> Result<bool> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

pub(crate) async fn read_settings(tx: &mut Transaction<'static, Any>) -> Result<TenantSettings> {
    let row = sqlx::query("SELECT * FROM tenant_settings WHERE id = 1")
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else {
        return Ok(TenantSettings::default());
    };
    settings_from_row(&row)
}

fn settings_from_row(row: &AnyRow) -> Result<TenantSettings> {
    let pin_length = u8::try_from(row.try_get::<i64, _>("pin_length")?)
        .ok()
        .and_then(|n| PinLength::new(n).ok())
        .ok_or_else(|| corrupt("pin_length", "out of range"))?;
    let kind: String = row.try_get("entry_exit_announcements_type")?;
    let display_name: String = row.try_get("display_name")?;
    Ok(TenantSettings {
        pin_length,
        automatically_send_emails: flag(row, "automatically_send_emails")?,
        allow_pstn_only_meetings_by_default: flag(row, "allow_pstn_only_meetings_by_default")?,
        enable_entry_exit_notifications: flag(row, "enable_entry_exit_notifications")?,
        entry_exit_announcements_type: EntryExitAnnouncementsType::parse(&kind)
            .map_err(|e| corrupt("entry_exit_announcements_type", e))?,
        enable_name_recording: flag(row, "enable_name_recording")?,
        allow_pstn_users_to_bypass_lobby: flag(row, "allow_pstn_users_to_bypass_lobby")?,
        lobby_wait_minutes: u32::try_from(row.try_get::<i64, _>("lobby_wait_minutes")?)
            .map_err(|e| corrupt("lobby_wait_minutes", e))?,
        display_name: DisplayName::parse(&display_name).map_err(|e| corrupt("display_name", e))?,
    })
}

pub(crate) async fn write_settings(
    tx: &mut Transaction<'static, Any>,
    s: &TenantSettings,
) -> Result<()> {
    sqlx::query("DELETE FROM tenant_settings WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO tenant_settings (id, pin_length, automatically_send_emails, \
         allow_pstn_only_meetings_by_default, enable_entry_exit_notifications, \
         entry_exit_announcements_type, enable_name_recording, allow_pstn_users_to_bypass_lobby, \
         lobby_wait_minutes, display_name) VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(i64::from(s.pin_length.get()))
    .bind(i64::from(s.automatically_send_emails))
    .bind(i64::from(s.allow_pstn_only_meetings_by_default))
    .bind(i64::from(s.enable_entry_exit_notifications))
    .bind(s.entry_exit_announcements_type.as_str())
    .bind(i64::from(s.enable_name_recording))
    .bind(i64::from(s.allow_pstn_users_to_bypass_lobby))
    .bind(i64::from(s.lobby_wait_minutes))
    .bind(s.display_name.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) async fn read_numbers<'e, E: Executor<'e, Database = Any>>(
    executor: E,
) -> Result<Vec<ServiceNumber>> {
    let rows = sqlx::query("SELECT * FROM service_numbers ORDER BY created_at_ms, number")
        .fetch_all(executor)
        .await?;
    rows.iter().map(number_from_row).collect()
}

fn number_from_row(row: &AnyRow) -> Result<ServiceNumber> {
    let number: String = row.try_get("number")?;
    let kind: String = row.try_get("kind")?;
    let primary: String = row.try_get("primary_language")?;
    let alternates: String = row.try_get("alternate_languages")?;
    ServiceNumber::new(
        E164::parse(&number).map_err(|e| corrupt("number", e))?,
        NumberKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        LanguageTag::parse(&primary).map_err(|e| corrupt("primary_language", e))?,
        ServiceNumber::parse_languages(&alternates)
            .map_err(|e| corrupt("alternate_languages", e))?,
    )
    .map_err(|e| corrupt("service number", e))
}

const USER_COLUMNS: &str = "id, upn, display_name, primary_smtp_address, email_override, role, \
    password_hash, created_at_ms, conf_enabled, conference_id, service_number, \
    toll_free_service_number, allow_pstn_only_meetings, pin_hash, pin_version, pin_set_at_ms";

fn user_from_row(row: &AnyRow) -> Result<User> {
    let text = |c: &str| -> Result<String> { Ok(row.try_get::<String, _>(c)?) };
    let opt = |c: &str| -> Result<Option<String>> { Ok(row.try_get::<Option<String>, _>(c)?) };
    let email = |c: &str| -> Result<Option<EmailAddress>> {
        opt(c)?
            .map(|v| EmailAddress::parse(&v).map_err(|e| corrupt(c, e)))
            .transpose()
    };
    let number = |c: &str| -> Result<Option<E164>> {
        opt(c)?
            .map(|v| E164::parse(&v).map_err(|e| corrupt(c, e)))
            .transpose()
    };
    let role = text("role")?;
    Ok(User {
        id: UserId(row.try_get("id")?),
        upn: Upn::parse(&text("upn")?).map_err(|e| corrupt("upn", e))?,
        display_name: DisplayName::parse(&text("display_name")?)
            .map_err(|e| corrupt("display_name", e))?,
        primary_smtp_address: email("primary_smtp_address")?,
        email_override: email("email_override")?,
        role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
        password_hash: opt("password_hash")?.map(PinHash::from_stored),
        created_at_ms: row.try_get("created_at_ms")?,
        conferencing: AudioConferencing {
            enabled: flag(row, "conf_enabled")?,
            conference_id: opt("conference_id")?
                .map(|v| ConferenceId::parse(&v).map_err(|e| corrupt("conference_id", e)))
                .transpose()?,
            service_number: number("service_number")?,
            toll_free_service_number: number("toll_free_service_number")?,
            allow_pstn_only_meetings: flag(row, "allow_pstn_only_meetings")?,
            pin_hash: opt("pin_hash")?.map(PinHash::from_stored),
            pin_version: row.try_get("pin_version")?,
            pin_set_at_ms: row.try_get("pin_set_at_ms")?,
        },
    })
}

pub(crate) async fn read_user_for_update(
    store: &Store,
    tx: &mut Transaction<'static, Any>,
    upn: &Upn,
) -> Result<Option<User>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE upn = $1{}",
        store.for_update()
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(upn.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

pub(crate) async fn write_user(tx: &mut Transaction<'static, Any>, u: &User) -> Result<()> {
    let c = &u.conferencing;
    sqlx::query(
        "UPDATE users SET display_name = $2, primary_smtp_address = $3, email_override = $4, role = $5, \
         password_hash = $6, conf_enabled = $7, conference_id = $8, service_number = $9, \
         toll_free_service_number = $10, allow_pstn_only_meetings = $11, pin_hash = $12, \
         pin_version = $13, pin_set_at_ms = $14 WHERE id = $1",
    )
    .bind(u.id.0)
    .bind(u.display_name.as_str())
    .bind(u.primary_smtp_address.as_ref().map(|a| a.as_str()))
    .bind(u.email_override.as_ref().map(|a| a.as_str()))
    .bind(u.role.as_str())
    .bind(u.password_hash.as_ref().map(|h| h.as_str()))
    .bind(i64::from(c.enabled))
    .bind(c.conference_id.as_ref().map(|id| id.as_str()))
    .bind(c.service_number.as_ref().map(|n| n.as_str()))
    .bind(c.toll_free_service_number.as_ref().map(|n| n.as_str()))
    .bind(i64::from(c.allow_pstn_only_meetings))
    .bind(c.pin_hash.as_ref().map(|h| h.as_str()))
    .bind(c.pin_version)
    .bind(c.pin_set_at_ms)
    .execute(&mut **tx)
    .await?;
    write_search_terms(tx, u.id, &u.upn, &u.display_name).await
}

/// Replaces the words a users search finds this user by.
async fn write_search_terms(
    tx: &mut Transaction<'static, Any>,
    id: UserId,
    upn: &Upn,
    display_name: &DisplayName,
) -> Result<()> {
    sqlx::query("DELETE FROM user_search_terms WHERE user_id = $1")
        .bind(id.0)
        .execute(&mut **tx)
        .await?;
    for term in search_terms(upn, display_name) {
        sqlx::query("INSERT INTO user_search_terms (term, user_id) VALUES ($1, $2)")
            .bind(term)
            .bind(id.0)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The range of terms that start with `prefix`: `[prefix, prefix + U+10FFFF)` in byte
/// order, which the terms index answers directly.
fn prefix_range(prefix: &str) -> (String, String) {
    (prefix.to_owned(), format!("{prefix}\u{10FFFF}"))
}

/// A user to add to the directory.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub upn: Upn,
    pub display_name: DisplayName,
    pub primary_smtp_address: Option<EmailAddress>,
    pub role: Role,
    pub password_hash: Option<PinHash>,
}

/// A page of the users list.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Words that must each start a word of the UPN or display name (any case).
    pub search: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

#[derive(Debug, Clone)]
pub struct UserPage {
    pub users: Vec<User>,
    /// How many users match the search in all.
    pub total: i64,
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub limit: u32,
    pub target: Option<Upn>,
}

/// One stored line of the audit log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at_ms: i64,
    pub actor: Actor,
    pub action: AuditAction,
    pub target: Option<Upn>,
    pub detail: String,
}

impl Store {
    pub async fn tenant_settings(&self) -> Result<TenantSettings> {
        let row = sqlx::query("SELECT * FROM tenant_settings WHERE id = 1")
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(row) => settings_from_row(&row),
            None => Ok(TenantSettings::default()),
        }
    }

    pub async fn numbers(&self) -> Result<Vec<ServiceNumber>> {
        read_numbers(self.pool()).await
    }

    pub async fn add_number(&self, actor: &Actor, number: &ServiceNumber) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM service_numbers WHERE number = $1")
                .bind(number.number.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_some() {
            return Err(StoreError::DuplicateNumber(number.number.to_string()));
        }
        let alternates: Vec<&str> = number
            .alternate_languages
            .iter()
            .map(|l| l.as_str())
            .collect();
        sqlx::query(
            "INSERT INTO service_numbers (number, kind, primary_language, alternate_languages, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(number.number.as_str())
        .bind(number.kind.as_str())
        .bind(number.primary_language.as_str())
        .bind(alternates.join(","))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let entry = AuditEntry::new(
            AuditAction::NumberRegistered,
            None,
            format!(
                "{} registered ({}, {})",
                number.number,
                number.kind.as_str(),
                number.primary_language
            ),
        );
        Self::append_audit(&mut tx, actor, &[entry]).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn add_user(&self, actor: &Actor, new: &NewUser) -> Result<User> {
        let mut tx = self.begin_write().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE upn = $1")
            .bind(new.upn.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::DuplicateUser(new.upn.clone()));
        }
        sqlx::query(
            "INSERT INTO users (upn, display_name, primary_smtp_address, role, password_hash, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new.upn.as_str())
        .bind(new.display_name.as_str())
        .bind(new.primary_smtp_address.as_ref().map(|a| a.as_str()))
        .bind(new.role.as_str())
        .bind(new.password_hash.as_ref().map(|h| h.as_str()))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let mailbox = match &new.primary_smtp_address {
            Some(a) => format!("mailbox {a}"),
            None => "no mailbox".to_owned(),
        };
        let entry = AuditEntry::new(
            AuditAction::UserAdded,
            Some(&new.upn),
            format!("user added ({}, {mailbox})", new.role.as_str()),
        );
        Self::append_audit(&mut tx, actor, &[entry]).await?;
        let user = read_user_for_update(self, &mut tx, &new.upn)
            .await?
            .ok_or_else(|| StoreError::Database("the new user vanished".into()))?;
        write_search_terms(&mut tx, user.id, &user.upn, &user.display_name).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn user(&self, upn: &Upn) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE upn = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(upn.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// The user whose conference ID this is, if any.
    pub async fn user_by_conference_id(&self, id: &ConferenceId) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE conference_id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// A page of users in UPN order. With a search, a user matches when every word of
    /// it starts one of the user's words (see [`search_terms`]): `ali`, `smith`,
    /// `alice.smith@contoso` all find Alice Smith.
    pub async fn list_users(&self, query: &UserQuery) -> Result<UserPage> {
        let limit = i64::from(query.limit.clamp(1, 1000));
        let offset = i64::from(query.offset);
        let words = query
            .search
            .as_deref()
            .map(search_words)
            .unwrap_or_default();
        // One range of the terms index per word; a user must be in every range.
        let ranges: Vec<String> = (0..words.len())
            .map(|i| {
                format!(
                    "SELECT user_id FROM user_search_terms WHERE term >= ${} AND term < ${}",
                    2 * i + 1,
                    2 * i + 2
                )
            })
            .collect();
        let filter = if ranges.is_empty() {
            String::new()
        } else {
            format!(" WHERE id IN ({})", ranges.join(" INTERSECT "))
        };
        let next = 2 * words.len() + 1;
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users{filter} ORDER BY upn LIMIT ${next} OFFSET ${}",
            next + 1
        );
        let count_sql = format!("SELECT COUNT(*) FROM users{filter}");
        let mut page = sqlx::query(AssertSqlSafe(sql));
        let mut count = sqlx::query_scalar::<_, i64>(AssertSqlSafe(count_sql));
        for word in &words {
            let (low, high) = prefix_range(word);
            page = page.bind(low.clone()).bind(high.clone());
            count = count.bind(low).bind(high);
        }
        let rows = page.bind(limit).bind(offset).fetch_all(self.pool()).await?;
        let total = count.fetch_one(self.pool()).await?;
        Ok(UserPage {
            users: rows.iter().map(user_from_row).collect::<Result<_>>()?,
            total,
        })
    }

    /// The audit log, newest first.
    pub async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let limit = i64::from(query.limit.clamp(1, 100_000));
        let rows = match &query.target {
            Some(upn) => {
                sqlx::query(
                    "SELECT * FROM audit_log WHERE target_upn = $1 ORDER BY id DESC LIMIT $2",
                )
                .bind(upn.as_str())
                .bind(limit)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query("SELECT * FROM audit_log ORDER BY id DESC LIMIT $1")
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?
            }
        };
        rows.iter()
            .map(|row| {
                let action: String = row.try_get("action")?;
                let target: Option<String> = row.try_get("target_upn")?;
                Ok(AuditRecord {
                    id: row.try_get("id")?,
                    at_ms: row.try_get("at_ms")?,
                    actor: Actor::from_stored(row.try_get("actor")?),
                    action: AuditAction::parse(&action)
                        .ok_or_else(|| corrupt("action", &action))?,
                    target: target
                        .map(|t| Upn::parse(&t).map_err(|e| corrupt("target_upn", e)))
                        .transpose()?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }
}
