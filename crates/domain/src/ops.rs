//! What each admin or self-service action changes on a user, and the audit lines and
//! emails it causes. These are the only implementations: the CLI, the admin center and
//! the API all call them (through the application layer, which adds hashing and the
//! store transaction).

use crate::audit::{AuditAction, AuditEntry};
use crate::email::{self, EmailDecision, EmailKind, Trigger};
use crate::number::{NumberKind, ServiceNumber};
use crate::pin::PinHash;
use crate::settings::TenantSettings;
use crate::text::{ConferenceId, E164, EmailAddress, Upn};
use crate::user::User;

/// What an action produced besides the change to the user.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Effects {
    pub audit: Vec<AuditEntry>,
    /// At most one email per action; `NotSent` explains why none was queued.
    pub email: Option<EmailDecision>,
    /// The conference ID this action assigned, if it assigned a new one; the store
    /// reserves it and releases `released_conference_id`.
    pub assigned_conference_id: Option<ConferenceId>,
    pub released_conference_id: Option<ConferenceId>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    #[error(
        "audio conferencing is already enabled for {0}; to give them a new PIN use \
         `pinbridge user set {0} --reset-leader-pin`"
    )]
    AlreadyEnabled(Upn),
    #[error(
        "audio conferencing is not enabled for {0}; enable it with `pinbridge user enable {0}`"
    )]
    NotEnabled(Upn),
    #[error("{0} is not a registered dial-in number; register it with `pinbridge number add`")]
    UnregisteredNumber(E164),
    #[error("{number} is a {actual} number, not a {expected} number")]
    WrongNumberKind {
        number: E164,
        actual: &'static str,
        expected: &'static str,
    },
    #[error("{0} has no mailbox and no override address: nothing can be sent")]
    NoEmailAddress(Upn),
}

/// A new PIN's hash and its position in the user's PIN history.
#[derive(Debug, Clone)]
pub struct NewPin {
    pub hash: PinHash,
    pub issued_at_ms: i64,
}

/// Options of `user enable` (Enable-CsOnlineDialInConferencingUser).
#[derive(Debug, Clone, Default)]
pub struct EnableOptions {
    pub service_number: Option<E164>,
    pub toll_free_service_number: Option<E164>,
    pub allow_pstn_only_meetings: Option<bool>,
    pub send_email_to_address: Option<EmailAddress>,
}

/// Options of `user set` (Set-CsOnlineDialInConferencingUser).
#[derive(Debug, Clone, Default)]
pub struct SetOptions {
    pub reset_conference_id: bool,
    pub send_email: bool,
    pub email_override: Option<OverrideChange>,
    pub service_number: Option<E164>,
    pub toll_free_service_number: Option<E164>,
    pub allow_pstn_only_meetings: Option<bool>,
}

impl SetOptions {
    /// Whether these options (with or without a PIN reset) act on audio conferencing,
    /// and so need it to be enabled. Changing only the override address does not.
    pub fn needs_audio_conferencing(&self, reset_pin: bool) -> bool {
        reset_pin
            || self.reset_conference_id
            || self.send_email
            || self.service_number.is_some()
            || self.toll_free_service_number.is_some()
            || self.allow_pstn_only_meetings.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverrideChange {
    Set(EmailAddress),
    Clear,
}

fn registered(
    numbers: &[ServiceNumber],
    number: &E164,
    expected: NumberKind,
) -> Result<E164, OpError> {
    let found = numbers
        .iter()
        .find(|n| &n.number == number)
        .ok_or_else(|| OpError::UnregisteredNumber(number.clone()))?;
    if found.kind != expected {
        return Err(OpError::WrongNumberKind {
            number: number.clone(),
            actual: found.kind.as_str(),
            expected: expected.as_str(),
        });
    }
    Ok(found.number.clone())
}

/// The tenant's default toll number for newly enabled users: the first registered one.
fn default_toll_number(numbers: &[ServiceNumber]) -> Option<E164> {
    numbers
        .iter()
        .find(|n| n.kind == NumberKind::Toll)
        .map(|n| n.number.clone())
}

fn install_pin(user: &mut User, pin: NewPin) -> i64 {
    let c = &mut user.conferencing;
    c.pin_version += 1;
    c.pin_hash = Some(pin.hash);
    c.pin_set_at_ms = Some(pin.issued_at_ms);
    c.pin_version
}

/// Enables audio conferencing: a conference ID (the reserved one if the user had one),
/// dial-in numbers, the "callers can start" option seeded from the tenant default, and a
/// new PIN. Sends the set-up email.
pub fn enable(
    user: &mut User,
    options: &EnableOptions,
    settings: &TenantSettings,
    numbers: &[ServiceNumber],
    candidate_conference_id: ConferenceId,
    pin: NewPin,
) -> Result<Effects, OpError> {
    if user.conferencing.enabled {
        return Err(OpError::AlreadyEnabled(user.upn.clone()));
    }
    let service_number = match &options.service_number {
        Some(n) => Some(registered(numbers, n, NumberKind::Toll)?),
        None => user
            .conferencing
            .service_number
            .clone()
            .or_else(|| default_toll_number(numbers)),
    };
    let toll_free = match &options.toll_free_service_number {
        Some(n) => Some(registered(numbers, n, NumberKind::TollFree)?),
        None => user.conferencing.toll_free_service_number.clone(),
    };
    let mut effects = Effects::default();
    if let Some(address) = &options.send_email_to_address {
        user.email_override = Some(address.clone());
        effects.audit.push(AuditEntry::new(
            AuditAction::EmailOverrideSet,
            Some(&user.upn),
            format!("conferencing emails go to {address}"),
        ));
    }
    let c = &mut user.conferencing;
    c.enabled = true;
    if c.conference_id.is_none() {
        c.conference_id = Some(candidate_conference_id.clone());
        effects.assigned_conference_id = Some(candidate_conference_id);
    }
    c.service_number = service_number;
    c.toll_free_service_number = toll_free;
    c.allow_pstn_only_meetings = options
        .allow_pstn_only_meetings
        .unwrap_or(settings.allow_pstn_only_meetings_by_default);
    let version = install_pin(user, pin);
    let c = &user.conferencing;
    effects.audit.push(AuditEntry::new(
        AuditAction::UserEnabled,
        Some(&user.upn),
        format!(
            "audio conferencing enabled; conference ID {}; PIN #{version} issued",
            c.conference_id.as_ref().map_or("-", |id| id.as_str())
        ),
    ));
    effects.email = Some(email::decide(
        EmailKind::SetUp,
        Trigger::Automatic,
        settings,
        user,
    ));
    Ok(effects)
}

/// Disables audio conferencing: the PIN is removed, the conference ID
/// stays reserved, the notice email is sent.
pub fn disable(user: &mut User, settings: &TenantSettings) -> Result<Effects, OpError> {
    if !user.conferencing.enabled {
        return Err(OpError::NotEnabled(user.upn.clone()));
    }
    let c = &mut user.conferencing;
    c.enabled = false;
    c.pin_hash = None;
    c.pin_set_at_ms = None;
    Ok(Effects {
        audit: vec![AuditEntry::new(
            AuditAction::UserDisabled,
            Some(&user.upn),
            "audio conferencing disabled; PIN removed; conference ID kept reserved",
        )],
        email: Some(email::decide(
            EmailKind::Disabled,
            Trigger::Automatic,
            settings,
            user,
        )),
        ..Effects::default()
    })
}

/// `user set`: any combination of the options, plus a PIN reset when `pin` is given.
/// At most one email results: the PIN-reset email if the PIN was reset, else the
/// conference-info-changed email if the ID or a default number changed, else the
/// conference info on request.
pub fn set(
    user: &mut User,
    options: &SetOptions,
    pin: Option<NewPin>,
    candidate_conference_id: Option<ConferenceId>,
    settings: &TenantSettings,
    numbers: &[ServiceNumber],
) -> Result<Effects, OpError> {
    let touches_conferencing = options.needs_audio_conferencing(pin.is_some());
    if touches_conferencing && !user.conferencing.enabled {
        return Err(OpError::NotEnabled(user.upn.clone()));
    }
    let service_number = options
        .service_number
        .as_ref()
        .map(|n| registered(numbers, n, NumberKind::Toll))
        .transpose()?;
    let toll_free = options
        .toll_free_service_number
        .as_ref()
        .map(|n| registered(numbers, n, NumberKind::TollFree))
        .transpose()?;

    let mut effects = Effects::default();
    let upn = user.upn.clone();
    let mut audit = |action, detail: String| {
        effects
            .audit
            .push(AuditEntry::new(action, Some(&upn), detail))
    };

    match &options.email_override {
        Some(OverrideChange::Set(address)) => {
            user.email_override = Some(address.clone());
            audit(
                AuditAction::EmailOverrideSet,
                format!("conferencing emails go to {address}"),
            );
        }
        Some(OverrideChange::Clear) => {
            user.email_override = None;
            audit(
                AuditAction::EmailOverrideCleared,
                "conferencing emails go to the mailbox".into(),
            );
        }
        None => {}
    }
    let mut info_changed = false;
    if options.reset_conference_id {
        let new_id =
            candidate_conference_id.expect("the caller supplies a candidate ID when resetting it");
        let old = user.conferencing.conference_id.replace(new_id.clone());
        audit(
            AuditAction::ConferenceIdReset,
            format!(
                "conference ID {} -> {new_id}",
                old.as_ref().map_or("-", |id| id.as_str())
            ),
        );
        effects.assigned_conference_id = Some(new_id);
        effects.released_conference_id = old;
        info_changed = true;
    }
    let c = &mut user.conferencing;
    let mut number_changes = Vec::new();
    if let Some(n) = service_number
        && c.service_number.as_ref() != Some(&n)
    {
        number_changes.push(format!("toll number -> {n}"));
        c.service_number = Some(n);
    }
    if let Some(n) = toll_free
        && c.toll_free_service_number.as_ref() != Some(&n)
    {
        number_changes.push(format!("toll-free number -> {n}"));
        c.toll_free_service_number = Some(n);
    }
    if !number_changes.is_empty() {
        audit(AuditAction::DialInNumbersChanged, number_changes.join("; "));
        info_changed = true;
    }
    if let Some(allow) = options.allow_pstn_only_meetings
        && c.allow_pstn_only_meetings != allow
    {
        c.allow_pstn_only_meetings = allow;
        audit(
            AuditAction::PstnOnlyMeetingsChanged,
            format!("callers can start this user's meetings: {allow}"),
        );
    }
    let pin_reset = pin.is_some();
    if let Some(pin) = pin {
        let version = install_pin(user, pin);
        audit(
            AuditAction::PinReset,
            format!("PIN #{version} issued by an admin"),
        );
    }
    let trigger = if options.send_email {
        Trigger::Explicit
    } else {
        Trigger::Automatic
    };
    let kind = if pin_reset {
        Some(EmailKind::PinReset)
    } else if info_changed {
        Some(EmailKind::ConferenceInfoChanged)
    } else if options.send_email {
        Some(EmailKind::ConferenceInfo)
    } else {
        None
    };
    effects.email = kind.map(|kind| email::decide(kind, trigger, settings, user));
    if let Some(EmailDecision::Queue {
        kind: EmailKind::ConferenceInfo,
        to,
    }) = &effects.email
    {
        effects.audit.push(AuditEntry::new(
            AuditAction::ConferenceInfoSent,
            Some(&user.upn),
            format!("conference information sent to {to}"),
        ));
    }
    Ok(effects)
}

/// The user resets their own PIN in the self-service portal: no email is sent.
pub fn reset_pin_by_self(user: &mut User, pin: NewPin) -> Result<Effects, OpError> {
    if !user.conferencing.enabled {
        return Err(OpError::NotEnabled(user.upn.clone()));
    }
    let version = install_pin(user, pin);
    Ok(Effects {
        audit: vec![AuditEntry::new(
            AuditAction::PinResetBySelf,
            Some(&user.upn),
            format!("PIN #{version} issued in the self-service portal; no email sent"),
        )],
        ..Effects::default()
    })
}

/// Sets the web sign-in password.
pub fn set_password(user: &mut User, hash: PinHash) -> Effects {
    user.password_hash = Some(hash);
    Effects {
        audit: vec![AuditEntry::new(
            AuditAction::PasswordSet,
            Some(&user.upn),
            "password set",
        )],
        ..Effects::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::NotSentReason;
    use crate::text::{DisplayName, LanguageTag};
    use crate::user::{AudioConferencing, Role, UserId};

    fn user(mailbox: bool) -> User {
        User {
            id: UserId(1),
            upn: Upn::parse("alice@contoso.example").unwrap(),
            display_name: DisplayName::parse("Alice").unwrap(),
            primary_smtp_address: mailbox
                .then(|| EmailAddress::parse("alice@contoso.example").unwrap()),
            email_override: None,
            role: Role::User,
            password_hash: None,
            conferencing: AudioConferencing::default(),
            created_at_ms: 0,
        }
    }

    fn numbers() -> Vec<ServiceNumber> {
        let n = |e: &str, kind| {
            ServiceNumber::new(
                E164::parse(e).unwrap(),
                kind,
                LanguageTag::default(),
                vec![],
            )
            .unwrap()
        };
        vec![
            n("+14255550100", NumberKind::Toll),
            n("+18005550100", NumberKind::TollFree),
        ]
    }

    fn pin(tag: &str) -> NewPin {
        NewPin {
            hash: PinHash::from_stored(tag.into()),
            issued_at_ms: 1,
        }
    }

    fn cid(s: &str) -> ConferenceId {
        ConferenceId::parse(s).unwrap()
    }

    #[test]
    fn enable_disable_enable() {
        let settings = TenantSettings::default();
        let mut u = user(true);
        let fx = enable(
            &mut u,
            &EnableOptions::default(),
            &settings,
            &numbers(),
            cid("123456789"),
            pin("a"),
        )
        .unwrap();
        assert!(u.conferencing.enabled);
        assert_eq!(
            u.conferencing.service_number.as_ref().unwrap().as_str(),
            "+14255550100"
        );
        assert_eq!(fx.assigned_conference_id, Some(cid("123456789")));
        assert!(matches!(
            fx.email,
            Some(EmailDecision::Queue {
                kind: EmailKind::SetUp,
                ..
            })
        ));
        let err = enable(
            &mut u,
            &EnableOptions::default(),
            &settings,
            &numbers(),
            cid("223456789"),
            pin("b"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("--reset-leader-pin"));

        let fx = disable(&mut u, &settings).unwrap();
        assert!(u.conferencing.pin_hash.is_none());
        assert_eq!(u.conferencing.conference_id, Some(cid("123456789")));
        assert!(matches!(
            fx.email,
            Some(EmailDecision::Queue {
                kind: EmailKind::Disabled,
                ..
            })
        ));

        let fx = enable(
            &mut u,
            &EnableOptions::default(),
            &settings,
            &numbers(),
            cid("323456789"),
            pin("c"),
        )
        .unwrap();
        assert_eq!(
            u.conferencing.conference_id,
            Some(cid("123456789")),
            "the reserved ID comes back"
        );
        assert_eq!(fx.assigned_conference_id, None);
        assert_eq!(u.conferencing.pin_version, 2);
    }

    #[test]
    fn numbers_must_be_registered_and_of_the_right_kind() {
        let settings = TenantSettings::default();
        let mut u = user(true);
        let opts = EnableOptions {
            service_number: Some(E164::parse("+14255550199").unwrap()),
            ..Default::default()
        };
        assert!(matches!(
            enable(
                &mut u,
                &opts,
                &settings,
                &numbers(),
                cid("123456789"),
                pin("a")
            ),
            Err(OpError::UnregisteredNumber(_))
        ));
        let opts = EnableOptions {
            service_number: Some(E164::parse("+18005550100").unwrap()),
            ..Default::default()
        };
        assert!(matches!(
            enable(
                &mut u,
                &opts,
                &settings,
                &numbers(),
                cid("123456789"),
                pin("a")
            ),
            Err(OpError::WrongNumberKind { .. })
        ));
        assert!(!u.conferencing.enabled, "a refused action changes nothing");
    }

    #[test]
    fn emails_follow_settled_rule_six() {
        let settings = TenantSettings {
            automatically_send_emails: false,
            ..TenantSettings::default()
        };
        let mut u = user(true);
        let fx = enable(
            &mut u,
            &EnableOptions::default(),
            &settings,
            &numbers(),
            cid("123456789"),
            pin("a"),
        )
        .unwrap();
        assert_eq!(
            fx.email,
            Some(EmailDecision::NotSent {
                kind: EmailKind::SetUp,
                reason: NotSentReason::AutomaticEmailsOff
            })
        );
        // An explicit send with a reset carries the PIN even with automatic emails off.
        let opts = SetOptions {
            send_email: true,
            ..Default::default()
        };
        let fx = set(&mut u, &opts, Some(pin("b")), None, &settings, &numbers()).unwrap();
        assert!(matches!(
            fx.email,
            Some(EmailDecision::Queue {
                kind: EmailKind::PinReset,
                ..
            })
        ));
        // An explicit send alone is the conference info, without PIN.
        let fx = set(&mut u, &opts, None, None, &settings, &numbers()).unwrap();
        assert!(matches!(
            fx.email,
            Some(EmailDecision::Queue {
                kind: EmailKind::ConferenceInfo,
                ..
            })
        ));
        // The override is remembered and used.
        let opts = SetOptions {
            email_override: Some(OverrideChange::Set(
                EmailAddress::parse("a@hotmail.example").unwrap(),
            )),
            send_email: true,
            ..Default::default()
        };
        let fx = set(&mut u, &opts, None, None, &settings, &numbers()).unwrap();
        match fx.email {
            Some(EmailDecision::Queue { to, .. }) => assert_eq!(to.as_str(), "a@hotmail.example"),
            other => panic!("unexpected {other:?}"),
        }
        // No mailbox and no override: nothing sent, and why.
        let mut nobox = user(false);
        let fx = enable(
            &mut nobox,
            &EnableOptions::default(),
            &TenantSettings::default(),
            &numbers(),
            cid("423456789"),
            pin("a"),
        )
        .unwrap();
        assert_eq!(
            fx.email,
            Some(EmailDecision::NotSent {
                kind: EmailKind::SetUp,
                reason: NotSentReason::NoAddress
            })
        );
    }

    #[test]
    fn self_service_reset_sends_nothing() {
        let settings = TenantSettings::default();
        let mut u = user(true);
        enable(
            &mut u,
            &EnableOptions::default(),
            &settings,
            &numbers(),
            cid("123456789"),
            pin("a"),
        )
        .unwrap();
        let fx = reset_pin_by_self(&mut u, pin("b")).unwrap();
        assert_eq!(fx.email, None);
        assert_eq!(fx.audit[0].action, AuditAction::PinResetBySelf);
    }

    #[test]
    fn conference_id_reset_releases_the_old_one() {
        let settings = TenantSettings::default();
        let mut u = user(true);
        enable(
            &mut u,
            &EnableOptions::default(),
            &settings,
            &numbers(),
            cid("123456789"),
            pin("a"),
        )
        .unwrap();
        let opts = SetOptions {
            reset_conference_id: true,
            ..Default::default()
        };
        let fx = set(
            &mut u,
            &opts,
            None,
            Some(cid("987654321")),
            &settings,
            &numbers(),
        )
        .unwrap();
        assert_eq!(fx.released_conference_id, Some(cid("123456789")));
        assert!(matches!(
            fx.email,
            Some(EmailDecision::Queue {
                kind: EmailKind::ConferenceInfoChanged,
                ..
            })
        ));
    }
}
