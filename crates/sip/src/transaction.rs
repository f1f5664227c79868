//! Transaction state (RFC 3261 §17) and the timer table that collapses every timer of
//! the endpoint into one next deadline.
//!
//! The state machines are driven by [`crate::Endpoint`]: this module holds the states,
//! the matching keys (§17.2.3) and the timer bookkeeping.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::Transport;
use crate::header::Via;
use crate::message::{Method, Request};

/// The RFC 3261 timer base values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// T1, the round-trip estimate (default 500 ms).
    pub t1: Duration,
    /// T2, the cap on non-INVITE and response retransmission intervals (default 4 s).
    pub t2: Duration,
    /// T4, how long a message may stay in the network (default 5 s).
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64·T1: Timers B, F, H, J (unreliable) and L, and the 2xx give-up time.
    pub fn timeout(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// The next retransmission interval: doubled, capped at T2.
    pub fn backoff(&self, interval: Duration) -> Duration {
        interval.saturating_mul(2).min(self.t2)
    }
}

/// Timers of a server transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ServerTimer {
    /// INVITE final non-2xx response retransmission (unreliable transports).
    G,
    /// Give up waiting for the ACK of a non-2xx final response.
    H,
    /// Absorb ACK retransmissions in Confirmed.
    I,
    /// Absorb request retransmissions in a completed non-INVITE transaction.
    J,
    /// Absorb INVITE retransmissions in Accepted (RFC 6026).
    L,
}

/// Timers of a client non-INVITE transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ClientTimer {
    /// Request retransmission (unreliable transports).
    E,
    /// Transaction timeout.
    F,
    /// Absorb response retransmissions.
    K,
}

/// Timers of a call (the UAS core and the dialog).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum CallTimer {
    /// 2xx retransmission until the ACK arrives (§13.3.1.4).
    Retransmit2xx,
    /// Give up waiting for the ACK of a 2xx.
    AckTimeout,
    /// The session interval ran out without a refresh (RFC 4028 §10).
    SessionExpiry,
}

/// Which entity a timer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    Server(u64, ServerTimer),
    Client(u64, ClientTimer),
    Call(u64, CallTimer),
}

/// All armed timers, ordered by deadline; setting a key again replaces its deadline.
#[derive(Debug, Default)]
pub(crate) struct TimerTable {
    by_key: HashMap<TimerKey, Instant>,
    by_deadline: BTreeSet<(Instant, TimerKey)>,
}

impl TimerTable {
    /// Arms (or re-arms) a timer to fire `after` from `now`; at least one millisecond
    /// later so that handling expired timers always terminates.
    pub(crate) fn set(&mut self, key: TimerKey, now: Instant, after: Duration) {
        let after = after.max(Duration::from_millis(1));
        let Some(deadline) = now.checked_add(after) else {
            return;
        };
        self.cancel(key);
        self.by_key.insert(key, deadline);
        self.by_deadline.insert((deadline, key));
    }

    /// Disarms a timer.
    pub(crate) fn cancel(&mut self, key: TimerKey) {
        if let Some(deadline) = self.by_key.remove(&key) {
            self.by_deadline.remove(&(deadline, key));
        }
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline.first().map(|(deadline, _)| *deadline)
    }

    /// Removes and returns one timer whose deadline is at or before `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<TimerKey> {
        let (deadline, key) = *self.by_deadline.first()?;
        if deadline > now {
            return None;
        }
        self.by_deadline.remove(&(deadline, key));
        self.by_key.remove(&key);
        Some(key)
    }

    /// Whether a timer is armed.
    #[cfg(test)]
    pub(crate) fn is_armed(&self, key: TimerKey) -> bool {
        self.by_key.contains_key(&key)
    }
}

/// What identifies a server transaction (§17.2.3): the branch, the sent-by of the top
/// Via and the method, with ACK folded into INVITE. Requests without the magic cookie
/// (RFC 2543 peers) are keyed by Call-ID, From tag, CSeq number and top Via instead.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TxKey {
    branch: String,
    sent_by: String,
    method: Method,
}

impl TxKey {
    /// The key of a request whose mandatory headers have been validated.
    pub(crate) fn for_request(request: &Request, via: &Via) -> Self {
        let method = match request.method {
            Method::Ack => Method::Invite,
            ref other => other.clone(),
        };
        let branch = if via.has_rfc3261_branch() {
            via.branch().unwrap_or_default().to_owned()
        } else {
            let from_tag = request
                .headers
                .from()
                .ok()
                .and_then(|f| f.tag().map(str::to_owned))
                .unwrap_or_default();
            let seq = request.headers.cseq().map(|c| c.seq).unwrap_or_default();
            format!(
                "rfc2543 {} {} {} {}",
                request.headers.call_id().unwrap_or_default(),
                from_tag,
                seq,
                via.branch().unwrap_or_default()
            )
        };
        Self {
            branch,
            sent_by: via.sent_by().to_ascii_lowercase(),
            method,
        }
    }

    /// The key of the INVITE transaction a CANCEL with this key refers to.
    pub(crate) fn cancelled_invite(&self) -> Self {
        Self {
            method: Method::Invite,
            ..self.clone()
        }
    }
}

/// The state of a server transaction (Figures 7 and 8, with RFC 6026's Accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerState {
    /// Non-INVITE: nothing sent yet.
    Trying,
    /// A provisional response was sent (INVITE starts here with 100 Trying).
    Proceeding,
    /// A final response was sent (non-2xx for INVITE).
    Completed,
    /// INVITE: the ACK for the non-2xx response arrived.
    Confirmed,
    /// INVITE: a 2xx was sent; the UAS core retransmits it.
    Accepted,
}

/// A server transaction.
#[derive(Debug)]
pub(crate) struct ServerTransaction {
    pub(crate) key: TxKey,
    pub(crate) request: Request,
    pub(crate) state: ServerState,
    pub(crate) source: SocketAddr,
    pub(crate) destination: SocketAddr,
    pub(crate) transport: Transport,
    pub(crate) last_response: Option<Vec<u8>>,
    pub(crate) retransmit_interval: Duration,
    pub(crate) call: Option<u64>,
}

impl ServerTransaction {
    pub(crate) fn is_invite(&self) -> bool {
        self.request.method == Method::Invite
    }
}

/// The state of a client non-INVITE transaction (Figure 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientState {
    Trying,
    Proceeding,
    Completed,
}

/// A client non-INVITE transaction (our BYE).
#[derive(Debug)]
pub(crate) struct ClientTransaction {
    pub(crate) branch: String,
    pub(crate) method: Method,
    pub(crate) bytes: Vec<u8>,
    pub(crate) destination: SocketAddr,
    pub(crate) transport: Transport,
    pub(crate) state: ClientState,
    pub(crate) retransmit_interval: Duration,
    pub(crate) call: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_table_orders_and_replaces() {
        let now = Instant::now();
        let mut table = TimerTable::default();
        let a = TimerKey::Server(1, ServerTimer::G);
        let b = TimerKey::Client(2, ClientTimer::E);
        table.set(a, now, Duration::from_secs(2));
        table.set(b, now, Duration::from_secs(1));
        assert_eq!(table.next_deadline(), Some(now + Duration::from_secs(1)));
        table.set(b, now, Duration::from_secs(3));
        assert_eq!(table.next_deadline(), Some(now + Duration::from_secs(2)));
        assert_eq!(table.pop_expired(now + Duration::from_secs(1)), None);
        assert_eq!(table.pop_expired(now + Duration::from_secs(5)), Some(a));
        assert_eq!(table.pop_expired(now + Duration::from_secs(5)), Some(b));
        assert!(!table.is_armed(a));
        table.set(a, now, Duration::ZERO);
        assert_eq!(table.next_deadline(), Some(now + Duration::from_millis(1)));
        table.cancel(a);
        assert_eq!(table.next_deadline(), None);
    }

    #[test]
    fn backoff_doubles_up_to_t2() {
        let config = TimerConfig::default();
        let mut interval = config.t1;
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.push(interval.as_millis());
            interval = config.backoff(interval);
        }
        assert_eq!(seen, vec![500, 1000, 2000, 4000, 4000]);
        assert_eq!(config.timeout(), Duration::from_secs(32));
    }
}
