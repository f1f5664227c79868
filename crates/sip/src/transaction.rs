//! The transaction layer (RFC 3261 §17): server INVITE and non-INVITE transactions
//! (Figures 7 and 8, with RFC 6026's Accepted state), client non-INVITE transactions
//! (Figure 6), their timers (E, F, G, H, I, J, K, L; A, B and D belong to client INVITE
//! transactions, which the bridge never starts), and the timer table that collapses
//! every timer of the endpoint into one next deadline.
//!
//! [`Transactions`] holds every transaction and moves their states; the
//! [`crate::Endpoint`] above it builds the messages and decides what a request means.
//! Over reliable transports nothing is retransmitted and the absorbing timers (I, J, K)
//! are zero, so those transactions end at once.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::endpoint::{Transmit, Transport};
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
/// The Call-ID and CSeq number are part of every key: a retransmission, an ACK for a
/// non-2xx and a CANCEL all repeat them (§9.1, §17.1.1.3), so a peer that reuses a
/// branch for another request (as RFC 4475's messages do) is answered for that
/// request, not with the response to the earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TxKey {
    branch: String,
    sent_by: String,
    method: Method,
    call_id: String,
    seq: u32,
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
            call_id: request.headers.call_id().unwrap_or_default().to_owned(),
            seq: request.headers.cseq().map(|c| c.seq).unwrap_or_default(),
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

/// What a client transaction's timer did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ClientTimeout {
    /// Timer E: the request goes out again.
    Retransmit(Transmit),
    /// Timer F: no final response came; the transaction is gone. The call it belongs to.
    TimedOut(u64),
    /// Nothing to do (Timer K, or a timer of a finished transaction).
    Nothing,
}

/// Every transaction of the endpoint, server and client, by id, with their matching
/// indexes: server transactions by [`TxKey`], client transactions by branch.
#[derive(Debug, Default)]
pub(crate) struct Transactions {
    server: HashMap<u64, ServerTransaction>,
    server_index: HashMap<TxKey, u64>,
    client: HashMap<u64, ClientTransaction>,
    client_index: HashMap<String, u64>,
}

impl Transactions {
    /// The number of live transactions, server and client.
    pub(crate) fn len(&self) -> usize {
        self.server.len() + self.client.len()
    }

    /// The number of live server transactions.
    pub(crate) fn server_len(&self) -> usize {
        self.server.len()
    }

    /// The server transaction a request with this key belongs to.
    pub(crate) fn server_for(&self, key: &TxKey) -> Option<u64> {
        self.server_index.get(key).copied()
    }

    pub(crate) fn server(&self, id: u64) -> Option<&ServerTransaction> {
        self.server.get(&id)
    }

    /// Starts a server transaction for a new request.
    pub(crate) fn start_server(&mut self, id: u64, transaction: ServerTransaction) {
        self.server_index.insert(transaction.key.clone(), id);
        self.server.insert(id, transaction);
    }

    /// Ties a server transaction to the call its request belongs to.
    pub(crate) fn bind_call(&mut self, id: u64, call: u64) {
        if let Some(t) = self.server.get_mut(&id) {
            t.call = Some(call);
        }
    }

    /// The transaction, if it may still send a response (no final response yet).
    pub(crate) fn respondable(&self, id: u64) -> Option<&ServerTransaction> {
        self.server.get(&id).filter(|t| {
            !matches!(
                t.state,
                ServerState::Completed | ServerState::Confirmed | ServerState::Accepted
            )
        })
    }

    /// Sends `bytes`, a response with `status`, through a server transaction that may
    /// still respond: records it for retransmissions and moves the state, arming Timer
    /// L (INVITE 2xx), G and H (INVITE non-2xx) or J (non-INVITE final). A reliable
    /// non-INVITE transaction ends with its final response.
    pub(crate) fn send_response(
        &mut self,
        timers: &mut TimerTable,
        config: &TimerConfig,
        now: Instant,
        id: u64,
        status: u16,
        bytes: Vec<u8>,
    ) -> Option<Transmit> {
        let t = self.server.get_mut(&id)?;
        t.last_response = Some(bytes.clone());
        let reliable = t.transport.is_reliable();
        let transmit = Transmit {
            transport: t.transport,
            destination: t.destination,
            contents: bytes,
        };
        match (t.is_invite(), status) {
            (_, 100..=199) => t.state = ServerState::Proceeding,
            (true, 200..=299) => {
                t.state = ServerState::Accepted;
                timers.set(TimerKey::Server(id, ServerTimer::L), now, config.timeout());
            }
            (true, _) => {
                t.state = ServerState::Completed;
                t.retransmit_interval = config.t1;
                if !reliable {
                    timers.set(TimerKey::Server(id, ServerTimer::G), now, config.t1);
                }
                timers.set(TimerKey::Server(id, ServerTimer::H), now, config.timeout());
            }
            (false, _) => {
                t.state = ServerState::Completed;
                if reliable {
                    self.remove_server(timers, id);
                } else {
                    timers.set(TimerKey::Server(id, ServerTimer::J), now, config.timeout());
                }
            }
        }
        Some(transmit)
    }

    /// The last response of a server transaction, sent again for a retransmitted request.
    pub(crate) fn retransmission(&self, id: u64) -> Option<Transmit> {
        let t = self.server.get(&id)?;
        let bytes = t.last_response.as_ref()?;
        Some(Transmit {
            transport: t.transport,
            destination: t.destination,
            contents: bytes.clone(),
        })
    }

    /// An ACK matching an INVITE server transaction (§17.2.1): the ACK of a non-2xx
    /// final response moves it to Confirmed (ending it at once over reliable transports,
    /// after Timer I otherwise) and is absorbed, as are its retransmissions. `false`
    /// when the ACK is for a 2xx, which belongs to the dialog.
    pub(crate) fn ack(
        &mut self,
        timers: &mut TimerTable,
        config: &TimerConfig,
        now: Instant,
        id: u64,
    ) -> bool {
        let Some(t) = self.server.get_mut(&id) else {
            return false;
        };
        match t.state {
            ServerState::Completed => {
                t.state = ServerState::Confirmed;
                let reliable = t.transport.is_reliable();
                timers.cancel(TimerKey::Server(id, ServerTimer::G));
                timers.cancel(TimerKey::Server(id, ServerTimer::H));
                if reliable {
                    self.remove_server(timers, id);
                } else {
                    timers.set(TimerKey::Server(id, ServerTimer::I), now, config.t4);
                }
                true
            }
            ServerState::Confirmed => true,
            _ => false,
        }
    }

    /// Runs a server transaction's timer: G retransmits the non-2xx final response with
    /// back-off; H (no ACK came), I, J and L end the transaction.
    pub(crate) fn server_timer(
        &mut self,
        timers: &mut TimerTable,
        config: &TimerConfig,
        now: Instant,
        id: u64,
        timer: ServerTimer,
    ) -> Option<Transmit> {
        match timer {
            ServerTimer::G => {
                let t = self.server.get_mut(&id)?;
                if t.state != ServerState::Completed {
                    return None;
                }
                t.retransmit_interval = config.backoff(t.retransmit_interval);
                let interval = t.retransmit_interval;
                let transmit = self.retransmission(id);
                timers.set(TimerKey::Server(id, ServerTimer::G), now, interval);
                transmit
            }
            ServerTimer::H => {
                timers.cancel(TimerKey::Server(id, ServerTimer::G));
                self.remove_server(timers, id);
                None
            }
            ServerTimer::I | ServerTimer::J | ServerTimer::L => {
                self.remove_server(timers, id);
                None
            }
        }
    }

    /// Starts a client non-INVITE transaction and arms Timer E (unreliable transports)
    /// and Timer F; the caller sends the request.
    pub(crate) fn start_client(
        &mut self,
        timers: &mut TimerTable,
        config: &TimerConfig,
        now: Instant,
        id: u64,
        transaction: ClientTransaction,
    ) {
        let reliable = transaction.transport.is_reliable();
        self.client_index.insert(transaction.branch.clone(), id);
        self.client.insert(id, transaction);
        if !reliable {
            timers.set(TimerKey::Client(id, ClientTimer::E), now, config.t1);
        }
        timers.set(TimerKey::Client(id, ClientTimer::F), now, config.timeout());
    }

    /// The client transaction whose request carried this branch.
    pub(crate) fn client_for(&self, branch: &str) -> Option<u64> {
        self.client_index.get(branch).copied()
    }

    /// A response to a client transaction (§17.1.2.2), whose CSeq must name its method.
    /// `Ok(Some(call))` when it is the first final response, which completes the
    /// transaction (Timer K, or at once when reliable); `Ok(None)` for provisional
    /// responses and retransmitted finals; `Err(())` when it matches no transaction.
    pub(crate) fn client_response(
        &mut self,
        timers: &mut TimerTable,
        config: &TimerConfig,
        now: Instant,
        id: u64,
        method: &Method,
        status: u16,
    ) -> Result<Option<u64>, ()> {
        let t = self.client.get_mut(&id).ok_or(())?;
        if *method != t.method {
            return Err(());
        }
        if status < 200 {
            if t.state == ClientState::Trying {
                t.state = ClientState::Proceeding;
            }
            return Ok(None);
        }
        if t.state == ClientState::Completed {
            return Ok(None);
        }
        t.state = ClientState::Completed;
        let reliable = t.transport.is_reliable();
        let call = t.call;
        timers.cancel(TimerKey::Client(id, ClientTimer::E));
        timers.cancel(TimerKey::Client(id, ClientTimer::F));
        if reliable {
            self.remove_client(timers, id);
        } else {
            timers.set(TimerKey::Client(id, ClientTimer::K), now, config.t4);
        }
        Ok(Some(call))
    }

    /// Runs a client transaction's timer: E retransmits the request (doubling up to T2,
    /// every T2 once a provisional response came), F gives up, K ends it.
    pub(crate) fn client_timer(
        &mut self,
        timers: &mut TimerTable,
        config: &TimerConfig,
        now: Instant,
        id: u64,
        timer: ClientTimer,
    ) -> ClientTimeout {
        match timer {
            ClientTimer::E => {
                let Some(t) = self.client.get_mut(&id) else {
                    return ClientTimeout::Nothing;
                };
                if t.state == ClientState::Completed {
                    return ClientTimeout::Nothing;
                }
                t.retransmit_interval = match t.state {
                    ClientState::Proceeding => config.t2,
                    _ => config.backoff(t.retransmit_interval),
                };
                let interval = t.retransmit_interval;
                let transmit = Transmit {
                    transport: t.transport,
                    destination: t.destination,
                    contents: t.bytes.clone(),
                };
                timers.set(TimerKey::Client(id, ClientTimer::E), now, interval);
                ClientTimeout::Retransmit(transmit)
            }
            ClientTimer::F => {
                timers.cancel(TimerKey::Client(id, ClientTimer::E));
                let call = self.client.get(&id).map(|t| t.call);
                self.remove_client(timers, id);
                call.map_or(ClientTimeout::Nothing, ClientTimeout::TimedOut)
            }
            ClientTimer::K => {
                self.remove_client(timers, id);
                ClientTimeout::Nothing
            }
        }
    }

    fn remove_server(&mut self, timers: &mut TimerTable, id: u64) {
        if let Some(t) = self.server.remove(&id) {
            self.server_index.remove(&t.key);
        }
        for timer in [
            ServerTimer::G,
            ServerTimer::H,
            ServerTimer::I,
            ServerTimer::J,
            ServerTimer::L,
        ] {
            timers.cancel(TimerKey::Server(id, timer));
        }
    }

    fn remove_client(&mut self, timers: &mut TimerTable, id: u64) {
        if let Some(t) = self.client.remove(&id) {
            self.client_index.remove(&t.branch);
        }
        for timer in [ClientTimer::E, ClientTimer::F, ClientTimer::K] {
            timers.cancel(TimerKey::Client(id, timer));
        }
    }
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
