//! The bridge's counters and gauges, as plain atomics, rendered in the Prometheus text
//! format for `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Every metric of the bridge. One process-wide instance, [`METRICS`].
#[derive(Debug, Default)]
pub struct Metrics {
    /// Calls the bridge holds (answered or not yet).
    pub active_calls: AtomicI64,
    /// Calls waiting in a lobby.
    pub lobby_calls: AtomicI64,
    /// Meetings that have started and not ended.
    pub active_meetings: AtomicI64,
    /// Calls answered with 200 OK.
    pub calls_answered: AtomicU64,
    /// Calls refused because no RTP port was free.
    pub calls_refused_no_port: AtomicU64,
    /// Calls whose INVITE had no SDP (late offer): our offer went in the 200 OK.
    pub calls_late_offer: AtomicU64,
    /// Calls ended with BYE because the ACK carried no usable answer to our offer.
    pub calls_ended_bad_answer: AtomicU64,
    /// SIP TCP connections open (accepted and opened by the bridge).
    pub sip_tcp_connections: AtomicI64,
    /// SIP TCP connections closed at accept: the peer is outside the trunk allow-list.
    pub sip_tcp_refused_not_allowed: AtomicU64,
    /// SIP TCP connections closed at accept: the peer already has its cap of connections.
    pub sip_tcp_refused_peer_limit: AtomicU64,
    /// SIP TCP connections refused (at accept, or not opened) because the total cap is
    /// reached.
    pub sip_tcp_refused_total_limit: AtomicU64,
    /// SIP TCP connections closed after the idle timeout.
    pub sip_tcp_closed_idle: AtomicU64,
    /// SIP TCP connections closed because the peer let their write queue fill.
    pub sip_tcp_closed_write_queue_full: AtomicU64,
    /// SIP TLS connections whose handshake failed or timed out (a bad or missing client
    /// certificate, a client that does not speak TLS).
    pub sip_tls_handshakes_failed: AtomicU64,
    /// Failed accepts on the SIP TCP and TLS listeners (each pauses accepting briefly).
    pub sip_accept_failures: AtomicU64,
    /// Calls over TLS refused with 488 because their offer was plain RTP.
    pub calls_refused_plain_rtp: AtomicU64,
    /// SRTP and SRTCP packets refused: not authentic, replayed or malformed.
    pub srtp_packets_refused: AtomicU64,
    /// Wrong organiser PINs entered.
    pub pin_failures: AtomicU64,
    /// Locks of phone PIN entry (per organiser or calling number) after too many wrong PINs.
    pub pin_locks: AtomicU64,
    /// PINs entered while PIN entry was locked, refused without a check.
    pub pin_entries_refused_locked: AtomicU64,
    /// RTP packets received.
    pub rtp_packets_received: AtomicU64,
    /// RTP packets that arrived after their audio was played.
    pub rtp_packets_late: AtomicU64,
    /// RTP packets the senders' sequence numbers say never arrived.
    pub rtp_packets_lost: AtomicU64,
    /// RTP packets sent.
    pub rtp_packets_sent: AtomicU64,
    /// RTP packets that could not be sent (socket full or failing).
    pub rtp_send_failures: AtomicU64,
    /// Media ticks run (one every 20 ms).
    pub ticks: AtomicU64,
    /// Media ticks that started later than one frame after their due time.
    pub late_ticks: AtomicU64,
    /// Calls hung up because no RTP arrived for the RTP timeout.
    pub rtp_timeouts: AtomicU64,
    /// PIN checks refused (goodbye) because too many were waiting.
    pub pin_checks_refused: AtomicU64,
    /// PIN checks that waited for a free Argon2 slot.
    pub pin_checks_queued: AtomicU64,
    /// RTP packets from a source other than the call's latched one, ignored.
    pub rtp_packets_foreign: AtomicU64,
    /// RTCP packets from a source other than the call's latched one, ignored.
    pub rtcp_packets_foreign: AtomicU64,
    /// Times a call's media moved to a new source (after silence, or a new SSRC on probation).
    pub rtp_source_moves: AtomicU64,
    /// Commands the media engine's full queue refused.
    pub engine_queue_full: AtomicU64,
    /// Requests the control task's full queue refused.
    pub control_queue_full: AtomicU64,
    /// SIP messages refused before reaching a transaction, by [`Refusal`].
    pub sip_refused: [AtomicU64; Refusal::ALL.len()],
    /// Server and client SIP transactions held.
    pub sip_transactions: AtomicI64,
    /// SIP calls (dialogs) held, including ones whose BYE is in flight.
    pub sip_calls: AtomicI64,
    /// Source addresses the SIP rate limiter tracks.
    pub sip_limited_sources: AtomicI64,
}

/// Why the SIP endpoint refused a message before any transaction took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// From outside the trunk allow-list (answered 403, or dropped).
    Untrusted,
    /// A known scanner's User-Agent (dropped).
    Scanner,
    /// Over its source's INVITE rate limit (dropped).
    RateInvite,
    /// Over its source's OPTIONS rate limit (dropped).
    RateOptions,
    /// Over its source's REGISTER rate limit (dropped).
    RateRegister,
    /// Over its source's limit for everything else (dropped).
    RateOther,
    /// Not SIP, or missing what a request needs (400 to a trunk, else dropped).
    Malformed,
    /// A response or ACK that matches nothing (dropped).
    Unmatched,
    /// The endpoint holds as many transactions or calls as it may (503).
    Overloaded,
}

impl Refusal {
    /// Every reason, in the order of [`Metrics::sip_refused`].
    pub const ALL: [Refusal; 9] = [
        Refusal::Untrusted,
        Refusal::Scanner,
        Refusal::RateInvite,
        Refusal::RateOptions,
        Refusal::RateRegister,
        Refusal::RateOther,
        Refusal::Malformed,
        Refusal::Unmatched,
        Refusal::Overloaded,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Untrusted => "untrusted",
            Refusal::Scanner => "scanner",
            Refusal::RateInvite => "rate_limited_invite",
            Refusal::RateOptions => "rate_limited_options",
            Refusal::RateRegister => "rate_limited_register",
            Refusal::RateOther => "rate_limited_other",
            Refusal::Malformed => "malformed",
            Refusal::Unmatched => "unmatched",
            Refusal::Overloaded => "overloaded",
        }
    }

    /// The reason of an endpoint's refusal.
    pub fn of(error: &pinbridge_sip::InputError) -> Self {
        use pinbridge_sip::{InputError, RequestClass};
        match error {
            InputError::Denied => Refusal::Untrusted,
            InputError::Scanner => Refusal::Scanner,
            InputError::RateLimited(RequestClass::Invite) => Refusal::RateInvite,
            InputError::RateLimited(RequestClass::Options) => Refusal::RateOptions,
            InputError::RateLimited(RequestClass::Register) => Refusal::RateRegister,
            InputError::RateLimited(RequestClass::Other) => Refusal::RateOther,
            InputError::Malformed(_) => Refusal::Malformed,
            InputError::Unmatched => Refusal::Unmatched,
            InputError::Overloaded => Refusal::Overloaded,
        }
    }

    fn index(self) -> usize {
        Refusal::ALL
            .iter()
            .position(|r| *r == self)
            .unwrap_or_default()
    }
}

/// Counts a message the SIP endpoint refused.
pub(crate) fn refused(error: &pinbridge_sip::InputError) {
    add(&METRICS.sip_refused[Refusal::of(error).index()], 1);
}

/// The process-wide metrics.
pub static METRICS: Metrics = Metrics {
    active_calls: AtomicI64::new(0),
    lobby_calls: AtomicI64::new(0),
    active_meetings: AtomicI64::new(0),
    calls_answered: AtomicU64::new(0),
    calls_refused_no_port: AtomicU64::new(0),
    calls_late_offer: AtomicU64::new(0),
    calls_ended_bad_answer: AtomicU64::new(0),
    sip_tcp_connections: AtomicI64::new(0),
    sip_tcp_refused_not_allowed: AtomicU64::new(0),
    sip_tcp_refused_peer_limit: AtomicU64::new(0),
    sip_tcp_refused_total_limit: AtomicU64::new(0),
    sip_tcp_closed_idle: AtomicU64::new(0),
    sip_tcp_closed_write_queue_full: AtomicU64::new(0),
    sip_tls_handshakes_failed: AtomicU64::new(0),
    sip_accept_failures: AtomicU64::new(0),
    calls_refused_plain_rtp: AtomicU64::new(0),
    srtp_packets_refused: AtomicU64::new(0),
    pin_failures: AtomicU64::new(0),
    pin_locks: AtomicU64::new(0),
    pin_entries_refused_locked: AtomicU64::new(0),
    rtp_packets_received: AtomicU64::new(0),
    rtp_packets_late: AtomicU64::new(0),
    rtp_packets_lost: AtomicU64::new(0),
    rtp_packets_sent: AtomicU64::new(0),
    rtp_send_failures: AtomicU64::new(0),
    ticks: AtomicU64::new(0),
    late_ticks: AtomicU64::new(0),
    rtp_timeouts: AtomicU64::new(0),
    pin_checks_refused: AtomicU64::new(0),
    pin_checks_queued: AtomicU64::new(0),
    rtp_packets_foreign: AtomicU64::new(0),
    rtcp_packets_foreign: AtomicU64::new(0),
    rtp_source_moves: AtomicU64::new(0),
    engine_queue_full: AtomicU64::new(0),
    control_queue_full: AtomicU64::new(0),
    sip_refused: [const { AtomicU64::new(0) }; Refusal::ALL.len()],
    sip_transactions: AtomicI64::new(0),
    sip_calls: AtomicI64::new(0),
    sip_limited_sources: AtomicI64::new(0),
};

/// Adds `n` to a counter.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The metrics in the Prometheus text exposition format (version 0.0.4).
pub fn render() -> String {
    let m = &METRICS;
    let gauges: [(&str, &str, &AtomicI64); 7] = [
        (
            "pinbridge_active_calls",
            "Calls the bridge holds.",
            &m.active_calls,
        ),
        (
            "pinbridge_lobby_calls",
            "Calls waiting in a lobby.",
            &m.lobby_calls,
        ),
        (
            "pinbridge_active_meetings",
            "Meetings that have started and not ended.",
            &m.active_meetings,
        ),
        (
            "pinbridge_sip_tcp_connections",
            "SIP TCP connections open.",
            &m.sip_tcp_connections,
        ),
        (
            "pinbridge_sip_transactions",
            "SIP transactions held (server and client).",
            &m.sip_transactions,
        ),
        (
            "pinbridge_sip_calls",
            "SIP calls (dialogs) held, including ones whose BYE is in flight.",
            &m.sip_calls,
        ),
        (
            "pinbridge_sip_rate_limited_sources",
            "Source addresses the SIP rate limiter tracks (a bounded table).",
            &m.sip_limited_sources,
        ),
    ];
    let counters: &[(&str, &str, &AtomicU64)] = &[
        (
            "pinbridge_calls_answered_total",
            "Calls answered.",
            &m.calls_answered,
        ),
        (
            "pinbridge_calls_refused_no_port_total",
            "Calls refused with 503 because no RTP port was free.",
            &m.calls_refused_no_port,
        ),
        (
            "pinbridge_calls_late_offer_total",
            "Calls whose INVITE had no SDP offer; the 200 OK carried ours.",
            &m.calls_late_offer,
        ),
        (
            "pinbridge_calls_ended_bad_answer_total",
            "Calls ended with BYE because the ACK had no usable SDP answer.",
            &m.calls_ended_bad_answer,
        ),
        (
            "pinbridge_sip_tcp_refused_not_allowed_total",
            "SIP TCP connections closed at accept: peer outside the trunk allow-list.",
            &m.sip_tcp_refused_not_allowed,
        ),
        (
            "pinbridge_sip_tcp_refused_peer_limit_total",
            "SIP TCP connections closed at accept: too many from the peer's address.",
            &m.sip_tcp_refused_peer_limit,
        ),
        (
            "pinbridge_sip_tcp_refused_total_limit_total",
            "SIP TCP connections refused: too many open in total.",
            &m.sip_tcp_refused_total_limit,
        ),
        (
            "pinbridge_sip_tcp_closed_idle_total",
            "SIP TCP connections closed after the idle timeout.",
            &m.sip_tcp_closed_idle,
        ),
        (
            "pinbridge_sip_tcp_closed_write_queue_full_total",
            "SIP TCP connections closed because the peer did not read and the write queue filled.",
            &m.sip_tcp_closed_write_queue_full,
        ),
        (
            "pinbridge_sip_tls_handshakes_failed_total",
            "SIP TLS connections closed because the handshake failed or timed out.",
            &m.sip_tls_handshakes_failed,
        ),
        (
            "pinbridge_sip_accept_failures_total",
            "Failed accepts on the SIP TCP and TLS listeners (out of file descriptors, most often); each pauses accepting for 250 ms.",
            &m.sip_accept_failures,
        ),
        (
            "pinbridge_calls_refused_plain_rtp_total",
            "Calls over TLS refused with 488 because they offered plain RTP.",
            &m.calls_refused_plain_rtp,
        ),
        (
            "pinbridge_srtp_packets_refused_total",
            "SRTP and SRTCP packets refused: not authentic, replayed or malformed.",
            &m.srtp_packets_refused,
        ),
        (
            "pinbridge_pin_failures_total",
            "Wrong organiser PINs entered.",
            &m.pin_failures,
        ),
        (
            "pinbridge_pin_locks_total",
            "Locks of phone PIN entry after too many wrong PINs (per organiser or calling number).",
            &m.pin_locks,
        ),
        (
            "pinbridge_pin_entries_refused_locked_total",
            "PINs entered by phone while PIN entry was locked, refused without a check.",
            &m.pin_entries_refused_locked,
        ),
        (
            "pinbridge_rtp_packets_received_total",
            "RTP packets received.",
            &m.rtp_packets_received,
        ),
        (
            "pinbridge_rtp_packets_late_total",
            "RTP packets that arrived after their audio was played.",
            &m.rtp_packets_late,
        ),
        (
            "pinbridge_rtp_packets_lost_total",
            "RTP packets that never arrived, by the senders' sequence numbers.",
            &m.rtp_packets_lost,
        ),
        (
            "pinbridge_rtp_packets_sent_total",
            "RTP packets sent.",
            &m.rtp_packets_sent,
        ),
        (
            "pinbridge_rtp_send_failures_total",
            "RTP packets that could not be sent.",
            &m.rtp_send_failures,
        ),
        (
            "pinbridge_media_ticks_total",
            "Media ticks run, one every 20 ms: the denominator of the late mixes.",
            &m.ticks,
        ),
        (
            "pinbridge_late_mixes_total",
            "Media ticks that ran more than one frame late.",
            &m.late_ticks,
        ),
        (
            "pinbridge_rtp_timeouts_total",
            "Calls hung up because no RTP arrived.",
            &m.rtp_timeouts,
        ),
        (
            "pinbridge_pin_checks_refused_total",
            "PIN checks refused (goodbye) because too many were waiting.",
            &m.pin_checks_refused,
        ),
        (
            "pinbridge_pin_checks_queued_total",
            "PIN checks that waited for a free Argon2 slot.",
            &m.pin_checks_queued,
        ),
        (
            "pinbridge_rtp_packets_foreign_total",
            "RTP packets from a source other than the call's latched one, ignored.",
            &m.rtp_packets_foreign,
        ),
        (
            "pinbridge_rtcp_packets_foreign_total",
            "RTCP packets from a source other than the call's latched one, ignored.",
            &m.rtcp_packets_foreign,
        ),
        (
            "pinbridge_rtp_source_moves_total",
            "Times a call's media moved to a new source (after silence, or a new SSRC on probation).",
            &m.rtp_source_moves,
        ),
        (
            "pinbridge_engine_queue_full_total",
            "Commands the media engine's full queue refused.",
            &m.engine_queue_full,
        ),
        (
            "pinbridge_control_queue_full_total",
            "Requests the control task's full queue refused.",
            &m.control_queue_full,
        ),
    ];
    let mut out = String::new();
    for (name, help, value) in gauges {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}",
            value.load(Ordering::Relaxed)
        );
    }
    for &(name, help, value) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            value.load(Ordering::Relaxed)
        );
    }
    let name = "pinbridge_sip_refused_total";
    let _ = writeln!(
        out,
        "# HELP {name} SIP messages refused before any transaction took them, by reason \
         (untrusted: 403 or dropped; overloaded: 503; malformed: 400 to a trunk; the rest dropped).\n\
         # TYPE {name} counter"
    );
    for reason in Refusal::ALL {
        let _ = writeln!(
            out,
            "{name}{{reason=\"{}\"}} {}",
            reason.label(),
            m.sip_refused[reason.index()].load(Ordering::Relaxed)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_with_help_and_type() {
        let text = render();
        for name in [
            "pinbridge_active_calls",
            "pinbridge_lobby_calls",
            "pinbridge_active_meetings",
            "pinbridge_pin_failures_total",
            "pinbridge_pin_locks_total",
            "pinbridge_pin_entries_refused_locked_total",
            "pinbridge_rtp_packets_late_total",
            "pinbridge_rtp_packets_lost_total",
            "pinbridge_media_ticks_total",
            "pinbridge_late_mixes_total",
            "pinbridge_rtp_packets_foreign_total",
            "pinbridge_pin_checks_refused_total",
            "pinbridge_engine_queue_full_total",
            "pinbridge_sip_transactions",
            "pinbridge_sip_calls",
            "pinbridge_sip_rate_limited_sources",
        ] {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} missing");
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{name} "))),
                "{name} has no sample"
            );
        }
        assert!(text.contains("# TYPE pinbridge_sip_refused_total counter"));
        for reason in Refusal::ALL {
            let sample = format!(
                "pinbridge_sip_refused_total{{reason=\"{}\"}} ",
                reason.label()
            );
            assert!(text.contains(&sample), "{sample} missing");
        }
    }
}
