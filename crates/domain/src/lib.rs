//! The domain core of pinbridge: identifiers, the PIN and its policy, tenant conferencing
//! settings, users, dial-in numbers, the audit vocabulary and the rules that decide what an
//! admin action changes and which email it causes.
//!
//! Nothing in this crate performs I/O: it never reads the clock, opens a socket or touches
//! the database. Randomness is taken as an argument (`rand_core::CryptoRng + RngCore`), so
//! callers pass the OS generator in production and a seeded one in tests.

pub mod audit;
pub mod cidr;
pub mod email;
pub mod keys;
pub mod meeting;
pub mod number;
pub mod ops;
pub mod pin;
pub mod settings;
pub mod text;
pub mod time;
pub mod user;

pub use audit::{Actor, AuditAction, AuditEntry};
pub use cidr::{Cidr, CidrError};
pub use keys::{KeyError, ServerKey};
pub use number::{NumberKind, ServiceNumber};
pub use pin::{PIN_MASK, Pin, PinHash, PinLength, SecretHasher, VerifyMemory};
pub use settings::{EntryExitAnnouncementsType, TenantSettings};
pub use text::{
    ConferenceId, DisplayName, E164, EmailAddress, LanguageTag, MeetingSubject, PublicUrl,
    TextError, TokenName, Upn,
};
pub use user::{AudioConferencing, Role, User, UserId, search_terms, search_words};
