//! Per-source rate limits: a token bucket per request class (INVITE, OPTIONS, REGISTER,
//! everything else) for each source address, in a table with a fixed maximum of entries.
//!
//! The table is two generations of at most half the maximum each: a source seen in the
//! older generation moves to the newer one; when the newer one is full, the older one is
//! forgotten whole and the newer one takes its place. A source that sends nothing for a
//! whole generation is forgotten, and comes back with full buckets: forgetting only ever
//! lets a source send more, never less. Every operation is O(1) amortised, whatever the
//! number of sources, so a flood from many (spoofed) addresses costs no more per
//! datagram than one from a single address. `now` is an argument: the table reads no
//! clock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// What a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestClass {
    /// INVITE.
    Invite,
    /// OPTIONS.
    Options,
    /// REGISTER.
    Register,
    /// Any other method, and datagrams that are not SIP.
    Other,
}

impl RequestClass {
    /// The class of a message from its first bytes, without parsing it: the method token
    /// of a request line (methods are case-sensitive, RFC 3261 §7.1).
    pub fn of(contents: &[u8]) -> Self {
        let start = contents
            .iter()
            .position(|b| !matches!(b, b'\r' | b'\n'))
            .unwrap_or(contents.len());
        let rest = &contents[start..];
        let token = rest.split(|&b| b == b' ').next().unwrap_or_default();
        match token {
            b"INVITE" => Self::Invite,
            b"OPTIONS" => Self::Options,
            b"REGISTER" => Self::Register,
            _ => Self::Other,
        }
    }

    /// Whether the message is a response (its start line begins `SIP/`), by its first
    /// bytes.
    pub fn is_response(contents: &[u8]) -> bool {
        let start = contents
            .iter()
            .position(|b| !matches!(b, b'\r' | b'\n'))
            .unwrap_or(contents.len());
        contents[start..].starts_with(b"SIP/")
    }

    /// The lowercase name, for logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Self::Invite => "invite",
            Self::Options => "options",
            Self::Register => "register",
            Self::Other => "other",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Invite => 0,
            Self::Options => 1,
            Self::Register => 2,
            Self::Other => 3,
        }
    }
}

/// A token bucket's shape: `per_second` requests on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// The refill rate, in requests per second (at least 1).
    pub per_second: u32,
    /// The bucket's size: how many may come at once after a quiet spell (at least 1).
    pub burst: u32,
}

impl Rate {
    /// `per_second` on average, with bursts of twice that.
    pub fn per_second(per_second: u32) -> Self {
        Self {
            per_second,
            burst: per_second.saturating_mul(2),
        }
    }
}

/// The limits per source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLimits {
    /// INVITEs (new calls and re-INVITEs); `None`: not limited.
    pub invite: Option<Rate>,
    /// OPTIONS.
    pub options: Option<Rate>,
    /// REGISTER (which the bridge does not take: 405, or 403 from outside).
    pub register: Option<Rate>,
    /// Everything else: other methods and datagrams that are not SIP (responses are
    /// not limited: from outside they are dropped unparsed, from a trunk they answer
    /// our own requests).
    pub other: Option<Rate>,
    /// The most source addresses tracked at once (at least 2).
    pub table_size: usize,
    /// Whether sources in the trunk allow-list are limited too; by default a trunk,
    /// which carries every caller's calls, is not.
    pub limit_trunks: bool,
}

impl Default for SourceLimits {
    fn default() -> Self {
        Self {
            invite: Some(Rate::per_second(10)),
            options: Some(Rate::per_second(5)),
            register: Some(Rate::per_second(2)),
            other: Some(Rate::per_second(10)),
            table_size: 8192,
            limit_trunks: false,
        }
    }
}

impl SourceLimits {
    /// No limit on anything.
    pub fn unlimited() -> Self {
        Self {
            invite: None,
            options: None,
            register: None,
            other: None,
            ..Self::default()
        }
    }

    fn rate(&self, class: RequestClass) -> Option<Rate> {
        match class {
            RequestClass::Invite => self.invite,
            RequestClass::Options => self.options,
            RequestClass::Register => self.register,
            RequestClass::Other => self.other,
        }
    }
}

/// Tokens are counted in thousandths, so rates below one per millisecond refill exactly.
const MILLI: u64 = 1000;

/// One source's buckets: the tokens of each class (in thousandths) as of `updated`.
#[derive(Debug, Clone, Copy)]
struct Entry {
    tokens: [u64; 4],
    updated: Instant,
}

/// The per-source token buckets.
#[derive(Debug)]
pub struct SourceLimiter {
    limits: SourceLimits,
    newer: HashMap<IpAddr, Entry>,
    older: HashMap<IpAddr, Entry>,
}

impl SourceLimiter {
    /// A table with no sources.
    pub fn new(limits: SourceLimits) -> Self {
        let limits = SourceLimits {
            table_size: limits.table_size.max(2),
            ..limits
        };
        Self {
            limits,
            newer: HashMap::new(),
            older: HashMap::new(),
        }
    }

    /// The limits.
    pub fn limits(&self) -> &SourceLimits {
        &self.limits
    }

    /// The number of sources tracked; never more than [`SourceLimits::table_size`].
    pub fn len(&self) -> usize {
        self.newer.len() + self.older.len()
    }

    /// Whether no source is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes a token for a request of `class` from `source` at `now`; `false` when the
    /// bucket is empty (the request is to be dropped).
    pub fn allow(&mut self, now: Instant, source: IpAddr, class: RequestClass) -> bool {
        if self.limits.rate(class).is_none() {
            return true;
        }
        let limits = self.limits;
        let entry = self.entry(now, source);
        let elapsed = now.saturating_duration_since(entry.updated);
        entry.updated = entry.updated.max(now);
        for (i, tokens) in entry.tokens.iter_mut().enumerate() {
            if let Some(r) = limits.rate(CLASSES[i]) {
                *tokens = refill(*tokens, r, elapsed);
            }
        }
        let tokens = &mut entry.tokens[class.index()];
        if *tokens >= MILLI {
            *tokens -= MILLI;
            true
        } else {
            false
        }
    }

    /// The entry of `source`, created with full buckets when it has none.
    fn entry(&mut self, now: Instant, source: IpAddr) -> &mut Entry {
        let half = self.limits.table_size / 2;
        if !self.newer.contains_key(&source) {
            let moved = self.older.remove(&source);
            if self.newer.len() >= half {
                self.older = std::mem::take(&mut self.newer);
            }
            let limits = self.limits;
            let entry = moved.unwrap_or_else(|| Entry {
                tokens: CLASSES.map(|c| limits.rate(c).map_or(0, capacity)),
                updated: now,
            });
            self.newer.insert(source, entry);
        }
        self.newer
            .get_mut(&source)
            .expect("the entry was just inserted")
    }
}

const CLASSES: [RequestClass; 4] = [
    RequestClass::Invite,
    RequestClass::Options,
    RequestClass::Register,
    RequestClass::Other,
];

fn capacity(rate: Rate) -> u64 {
    u64::from(rate.burst.max(1)) * MILLI
}

/// `tokens` after `elapsed` at `rate`, capped at the bucket's size.
fn refill(tokens: u64, rate: Rate, elapsed: Duration) -> u64 {
    // Thousandths of a token per microsecond = per_second / 1000 per millisecond.
    let added = elapsed
        .as_micros()
        .saturating_mul(u128::from(rate.per_second.max(1)))
        / 1000;
    let added = u64::try_from(added).unwrap_or(u64::MAX);
    tokens.saturating_add(added).min(capacity(rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn limits(rate: Rate) -> SourceLimits {
        SourceLimits {
            invite: Some(rate),
            options: Some(rate),
            register: Some(rate),
            other: Some(rate),
            table_size: 8,
            limit_trunks: false,
        }
    }

    #[test]
    fn classes_from_the_first_bytes() {
        assert_eq!(
            RequestClass::of(b"INVITE sip:a@b SIP/2.0\r\n"),
            RequestClass::Invite
        );
        assert_eq!(
            RequestClass::of(b"\r\nOPTIONS sip:a@b SIP/2.0"),
            RequestClass::Options
        );
        assert_eq!(RequestClass::of(b"REGISTER sip:b"), RequestClass::Register);
        assert_eq!(RequestClass::of(b"invite sip:a@b"), RequestClass::Other);
        assert_eq!(RequestClass::of(b"SIP/2.0 200 OK"), RequestClass::Other);
        assert_eq!(RequestClass::of(b"\xff\x00garbage"), RequestClass::Other);
        assert_eq!(RequestClass::of(b""), RequestClass::Other);
        assert_eq!(RequestClass::of(b"INVITE"), RequestClass::Invite);
        assert!(RequestClass::is_response(b"SIP/2.0 200 OK\r\n"));
        assert!(RequestClass::is_response(b"\r\nSIP/2.0 403 Forbidden"));
        assert!(!RequestClass::is_response(b"INVITE sip:a SIP/2.0"));
        assert!(!RequestClass::is_response(b"SIP"));
    }

    #[test]
    fn a_burst_then_the_rate() {
        let rate = Rate {
            per_second: 10,
            burst: 5,
        };
        let mut l = SourceLimiter::new(limits(rate));
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        let allowed = (0..20)
            .filter(|_| l.allow(t0, a, RequestClass::Invite))
            .count();
        assert_eq!(allowed, 5);
        // One token per 100 ms.
        assert!(!l.allow(t0 + Duration::from_millis(99), a, RequestClass::Invite));
        assert!(l.allow(t0 + Duration::from_millis(100), a, RequestClass::Invite));
        assert!(!l.allow(t0 + Duration::from_millis(100), a, RequestClass::Invite));
        // Over ten seconds of one request a millisecond: the burst, and ten a second.
        let mut allowed = 0;
        for ms in 101..10_101 {
            if l.allow(t0 + Duration::from_millis(ms), a, RequestClass::Invite) {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 100);
        // A long silence refills no more than the burst.
        let later = t0 + Duration::from_secs(3600);
        let allowed = (0..20)
            .filter(|_| l.allow(later, a, RequestClass::Invite))
            .count();
        assert_eq!(allowed, 5);
    }

    #[test]
    fn classes_and_sources_have_their_own_buckets() {
        let mut l = SourceLimiter::new(limits(Rate {
            per_second: 1,
            burst: 1,
        }));
        let t0 = Instant::now();
        let (a, b) = (ip("192.0.2.1"), ip("2001:db8::1"));
        assert!(l.allow(t0, a, RequestClass::Invite));
        assert!(!l.allow(t0, a, RequestClass::Invite));
        assert!(l.allow(t0, a, RequestClass::Options));
        assert!(l.allow(t0, a, RequestClass::Register));
        assert!(l.allow(t0, a, RequestClass::Other));
        assert!(!l.allow(t0, a, RequestClass::Other));
        assert!(l.allow(t0, b, RequestClass::Invite));
    }

    #[test]
    fn an_unlimited_class_is_always_allowed() {
        let mut l = SourceLimiter::new(SourceLimits {
            options: None,
            ..limits(Rate {
                per_second: 1,
                burst: 1,
            })
        });
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        assert!((0..1000).all(|_| l.allow(t0, a, RequestClass::Options)));
        let mut unlimited = SourceLimiter::new(SourceLimits::unlimited());
        assert!((0..1000).all(|_| unlimited.allow(t0, a, RequestClass::Invite)));
        assert!(unlimited.is_empty());
    }

    #[test]
    fn the_table_never_exceeds_its_size() {
        let mut l = SourceLimiter::new(limits(Rate {
            per_second: 1,
            burst: 1,
        }));
        let t0 = Instant::now();
        for i in 0..100_000u32 {
            let source = IpAddr::from(i.to_be_bytes());
            assert!(l.allow(t0, source, RequestClass::Invite));
            assert!(l.len() <= 8, "{} sources after {i}", l.len());
        }
    }

    #[test]
    fn a_busy_source_stays_while_idle_ones_are_forgotten() {
        let mut l = SourceLimiter::new(limits(Rate {
            per_second: 1,
            burst: 1,
        }));
        let t0 = Instant::now();
        let busy = ip("192.0.2.1");
        assert!(l.allow(t0, busy, RequestClass::Invite));
        for i in 0..1000u32 {
            let source = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
            l.allow(t0, source, RequestClass::Invite);
            // The busy source keeps sending: it is never forgotten, so its empty bucket
            // stays empty.
            assert!(!l.allow(t0, busy, RequestClass::Invite), "after {i}");
        }
    }
}
