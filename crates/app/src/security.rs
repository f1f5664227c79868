//! Security events and the PIN-guessing defence for organiser PINs entered by phone.
//!
//! Every security event is one log line on the target [`TARGET`], in one format:
//!
//! ```text
//! event=<kind> source=<ip address> <key>=<value> ...
//! ```
//!
//! `event` and `source` always come first, in that order, so a ban tool's pattern can be
//! anchored on them before any value a caller chose; the other values are cleaned of
//! spaces and anything but plain characters. `contrib/fail2ban/` holds a filter for
//! these lines. The kinds are:
//!
//! | kind | when | other keys |
//! |---|---|---|
//! | `phone-pin-failed` | a wrong organiser PIN was entered by phone | `organiser`, `caller` (masked), `failures` |
//! | `phone-pin-locked` | that failure locked PIN entry for a subject | `subject`, `until` (RFC 3339), `lock` (how many in a row) |
//! | `phone-pin-refused` | a PIN was entered while PIN entry is locked; nothing was checked | `organiser`, `caller` (masked) |
//!
//! Across calls, wrong PINs are counted per organiser (`organiser:UPN`) and per calling
//! number (`caller:NUMBER`, `caller:anonymous` without one) by the store's phone-PIN
//! throttle ([`PHONE_PIN_POLICY`]); failures and locks are in the audit log too. A lock
//! only stops PIN entry by phone: the organiser can still start the meeting from the web.

use std::fmt;
use std::net::IpAddr;

use pinbridge_domain::audit::{Actor, AuditAction, AuditEntry};
use pinbridge_domain::number::mask_calling_number;
use pinbridge_domain::time::format_rfc3339_millis;
use pinbridge_domain::{Upn, User};
use pinbridge_store::now_ms;
use pinbridge_store::throttle::{Throttle, ThrottleLock, ThrottlePolicy};

use crate::{App, Result};

/// The log target of security events.
pub const TARGET: &str = "pinbridge::security";

const MINUTE_MS: i64 = 60_000;

/// Wrong phone PINs across calls: 5 in 15 minutes lock PIN entry for the organiser (or
/// the calling number) for 15 minutes; each lock in a row lasts twice as long as the one
/// before, up to a day.
pub const PHONE_PIN_POLICY: ThrottlePolicy = ThrottlePolicy {
    max_failures: 5,
    window_ms: 15 * MINUTE_MS,
    lock_ms: 15 * MINUTE_MS,
    longest_lock_ms: 24 * 60 * MINUTE_MS,
};

/// Who entered a phone PIN.
#[derive(Debug, Clone, Copy)]
pub struct PinCaller<'a> {
    /// The calling number as delivered, unmasked.
    pub number: Option<&'a str>,
    /// The address the call's signalling came from.
    pub source: IpAddr,
}

impl PinCaller<'_> {
    fn subject(&self) -> String {
        match self.number.map(clean).filter(|n| !n.is_empty()) {
            Some(number) => format!("caller:{number}"),
            None => "caller:anonymous".to_owned(),
        }
    }

    fn shown(&self) -> String {
        self.number
            .map(|n| mask_calling_number(&clean(n)))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "anonymous".to_owned())
    }
}

/// The throttle subject of an organiser.
pub fn organiser_subject(upn: &Upn) -> String {
    format!("organiser:{upn}")
}

/// A phone PIN throttle subject as an admin names it (`organiser:UPN`, the UPN in any
/// case, or `caller:NUMBER`), in its stored form; `None` for anything else.
pub fn lock_subject(text: &str) -> Option<String> {
    match text.trim().split_once(':') {
        Some(("organiser", upn)) => Upn::parse(upn).ok().map(|u| organiser_subject(&u)),
        Some(("caller", number)) => {
            let number = clean(number);
            (!number.is_empty()).then(|| format!("caller:{number}"))
        }
        _ => None,
    }
}

/// A value as it may appear in a security event or a throttle subject: at most 64 of the
/// characters numbers, addresses and user names are made of.
fn clean(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+-._@*#".contains(*c))
        .take(64)
        .collect()
}

/// One security event; its `Display` is the documented line format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityEvent {
    PhonePinFailed {
        source: IpAddr,
        organiser: String,
        caller: String,
        failures: i64,
    },
    PhonePinLocked {
        source: IpAddr,
        subject: String,
        until_ms: i64,
        lock: i64,
    },
    PhonePinRefused {
        source: IpAddr,
        organiser: String,
        caller: String,
    },
}

impl SecurityEvent {
    /// Writes the event on [`TARGET`].
    pub fn log(&self) {
        tracing::warn!(target: TARGET, "{self}");
    }
}

impl fmt::Display for SecurityEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PhonePinFailed {
                source,
                organiser,
                caller,
                failures,
            } => write!(
                f,
                "event=phone-pin-failed source={source} organiser={} caller={} failures={failures}",
                clean(organiser),
                clean(caller)
            ),
            Self::PhonePinLocked {
                source,
                subject,
                until_ms,
                lock,
            } => write!(
                f,
                "event=phone-pin-locked source={source} subject={} until={} lock={lock}",
                clean_subject(subject),
                format_rfc3339_millis(*until_ms)
            ),
            Self::PhonePinRefused {
                source,
                organiser,
                caller,
            } => write!(
                f,
                "event=phone-pin-refused source={source} organiser={} caller={}",
                clean(organiser),
                clean(caller)
            ),
        }
    }
}

/// A throttle subject (`kind:value`) cleaned for a log line.
fn clean_subject(subject: &str) -> String {
    match subject.split_once(':') {
        Some((kind, value)) => format!("{}:{}", clean(kind), clean(value)),
        None => clean(subject),
    }
}

impl App {
    /// Whether phone PIN entry is locked for `organiser` or for this caller; when it is,
    /// the refusal is a security event and nothing is to be checked.
    pub async fn phone_pin_locked(&self, organiser: &Upn, caller: &PinCaller<'_>) -> Result<bool> {
        let subjects = [organiser_subject(organiser), caller.subject()];
        let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
        let locked = self
            .store
            .locked_until(Throttle::PhonePin, &subjects, now_ms())
            .await?
            .is_some();
        if locked {
            SecurityEvent::PhonePinRefused {
                source: caller.source,
                organiser: organiser.to_string(),
                caller: caller.shown(),
            }
            .log();
        }
        Ok(locked)
    }

    /// Counts a wrong phone PIN against the organiser and the caller, audited, and logs
    /// the security events. Returns how many subjects (the organiser, the caller) this
    /// failure locked: PIN entry is locked when it is not 0.
    pub async fn record_phone_pin_failure(
        &self,
        organiser: &User,
        caller: &PinCaller<'_>,
    ) -> Result<usize> {
        let upn = &organiser.upn;
        let subjects = [organiser_subject(upn), caller.subject()];
        let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
        let shown = caller.shown();
        let failures = self
            .store
            .record_failure_audited(
                Throttle::PhonePin,
                &subjects,
                PHONE_PIN_POLICY,
                now_ms(),
                &Actor::system(),
                |failures| {
                    let mut entries = vec![AuditEntry::new(
                        AuditAction::PhonePinFailed,
                        Some(upn),
                        format!("wrong organiser PIN entered by phone from {shown}"),
                    )];
                    for f in failures {
                        if let Some(until) = f.locked_until_ms {
                            entries.push(AuditEntry::new(
                                AuditAction::PhonePinLocked,
                                Some(upn),
                                format!(
                                    "phone PIN entry locked for {} until {} after {} wrong PINs",
                                    shown_subject(&f.subject),
                                    format_rfc3339_millis(until),
                                    f.failures
                                ),
                            ));
                        }
                    }
                    entries
                },
            )
            .await?;
        SecurityEvent::PhonePinFailed {
            source: caller.source,
            organiser: upn.to_string(),
            caller: shown,
            failures: failures.first().map_or(1, |f| f.failures),
        }
        .log();
        let mut locked = 0;
        for f in &failures {
            if let Some(until_ms) = f.locked_until_ms {
                locked += 1;
                SecurityEvent::PhonePinLocked {
                    source: caller.source,
                    subject: shown_subject(&f.subject),
                    until_ms,
                    lock: f.locks,
                }
                .log();
            }
        }
        Ok(locked)
    }

    /// A correct phone PIN: the organiser's and the caller's failures are forgotten.
    pub async fn record_phone_pin_success(
        &self,
        organiser: &Upn,
        caller: &PinCaller<'_>,
    ) -> Result<()> {
        self.store
            .clear_failures(Throttle::PhonePin, &organiser_subject(organiser))
            .await?;
        self.store
            .clear_failures(Throttle::PhonePin, &caller.subject())
            .await?;
        Ok(())
    }

    /// The phone PIN locks in force now.
    pub async fn phone_pin_locks(&self) -> Result<Vec<ThrottleLock>> {
        Ok(self.store.locks(Throttle::PhonePin, now_ms()).await?)
    }

    /// The phone PIN lock of a user as organiser, if one is in force.
    pub async fn organiser_pin_lock(&self, upn: &Upn) -> Result<Option<ThrottleLock>> {
        let subject = organiser_subject(upn);
        Ok(self
            .phone_pin_locks()
            .await?
            .into_iter()
            .find(|l| l.subject == subject))
    }

    /// Clears a phone PIN lock (and the failures behind it) of a subject
    /// (`organiser:UPN` or `caller:NUMBER`), audited; false when there was nothing to
    /// clear.
    pub async fn clear_phone_pin_lock(&self, actor: &Actor, subject: &str) -> Result<bool> {
        let target = subject
            .strip_prefix("organiser:")
            .and_then(|u| Upn::parse(u).ok());
        let shown = shown_subject(subject);
        Ok(self
            .store
            .clear_lock(
                Throttle::PhonePin,
                actor,
                subject,
                now_ms(),
                |failures, locked| {
                    let state = if locked {
                        "phone PIN lock cleared"
                    } else {
                        "wrong phone PINs cleared (not locked)"
                    };
                    AuditEntry::new(
                        AuditAction::PhonePinLockCleared,
                        target.as_ref(),
                        format!("{state} for {shown} after {failures} wrong PINs"),
                    )
                },
            )
            .await?)
    }

    /// Clears the phone PIN lock of a user as organiser, audited; false when there was
    /// nothing to clear. The user must exist.
    pub async fn clear_organiser_pin_lock(&self, actor: &Actor, upn: &Upn) -> Result<bool> {
        self.user(upn).await?;
        self.clear_phone_pin_lock(actor, &organiser_subject(upn))
            .await
    }
}

/// A subject as the audit log and the security log show it: a caller's number masked.
fn shown_subject(subject: &str) -> String {
    match subject.split_once(':') {
        Some(("caller", "anonymous")) => "caller:anonymous".to_owned(),
        Some(("caller", number)) => format!("caller:{}", mask_calling_number(number)),
        _ => subject.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_starts_with_its_kind_and_source_and_cleans_what_callers_chose() {
        let event = SecurityEvent::PhonePinFailed {
            source: "203.0.113.7".parse().unwrap(),
            organiser: "alice@contoso.com".into(),
            caller: "+1425555**** source=198.51.100.1".into(),
            failures: 2,
        };
        assert_eq!(
            event.to_string(),
            "event=phone-pin-failed source=203.0.113.7 organiser=alice@contoso.com \
             caller=+1425555****source198.51.100.1 failures=2"
        );
    }

    #[test]
    fn a_lock_event_names_the_subject_and_the_end_in_rfc_3339() {
        let event = SecurityEvent::PhonePinLocked {
            source: "::1".parse().unwrap(),
            subject: "caller:+1425555****".into(),
            until_ms: 1_796_306_400_000,
            lock: 2,
        };
        assert_eq!(
            event.to_string(),
            "event=phone-pin-locked source=::1 subject=caller:+1425555**** \
             until=2026-12-03T14:00:00Z lock=2"
        );
    }

    #[test]
    fn callers_are_known_by_their_number_or_as_anonymous() {
        let source = "127.0.0.1".parse().unwrap();
        let caller = PinCaller {
            number: Some("+14255550123"),
            source,
        };
        assert_eq!(caller.subject(), "caller:+14255550123");
        assert_eq!(caller.shown(), "+1425555****");
        let anonymous = PinCaller {
            number: Some("  "),
            source,
        };
        assert_eq!(anonymous.subject(), "caller:anonymous");
        assert_eq!(anonymous.shown(), "anonymous");
        assert_eq!(shown_subject("caller:+14255550123"), "caller:+1425555****");
    }
}
