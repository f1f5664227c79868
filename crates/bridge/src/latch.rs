//! Which remote source a call's media is taken from and answered to.
//!
//! A call's RTP port is open to the whole network, so a packet that parses is not yet
//! the caller's: anyone who guesses the port could otherwise redirect the call's
//! outgoing audio to themselves and inject their own (the "RTP bleed" class of flaws).
//! The first source after the answer is latched, with its SSRC. Packets from another
//! source are ignored unless
//! - the latched source has been silent for [`SILENCE_BEFORE_MOVE`] (the caller's
//!   gateway moved to a new address or port, as NATs and media relays do), or
//! - they carry an SSRC other than the latched one, [`PROBATION`] packets in sequence
//!   (a new stream from the far end after a re-INVITE or a media relay change; RFC
//!   3550 §A.1 asks the same of any new source before it is believed).
//!
//! The same latch, keyed by source only, guards a call's RTCP port.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long the latched source must be silent before another may take its place.
pub const SILENCE_BEFORE_MOVE: Duration = Duration::from_secs(2);

/// How many packets in sequence a new source with a new SSRC sends before the call's
/// media moves to it.
pub const PROBATION: u8 = 4;

/// What to do with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// From the latched source: use it.
    Accept,
    /// The first packet, or a move the rules allow: the call now answers this source.
    Latched,
    /// From another source: ignore it.
    Ignore,
}

/// A candidate source on probation.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    source: SocketAddr,
    ssrc: u32,
    sequence: u16,
    count: u8,
}

/// The latch of one port; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct Latch {
    latched: Option<(SocketAddr, u32)>,
    last_heard: Option<Instant>,
    candidate: Option<Candidate>,
}

impl Latch {
    /// The latched source, if any packet has been accepted.
    pub fn source(&self) -> Option<SocketAddr> {
        self.latched.map(|(source, _)| source)
    }

    /// Forgets the latched source (the far end's media moved by signalling).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Judges an RTP packet from `source` with `ssrc` and `sequence`, arriving at `now`.
    pub fn rtp(&mut self, source: SocketAddr, ssrc: u32, sequence: u16, now: Instant) -> Verdict {
        let Some((latched, latched_ssrc)) = self.latched else {
            return self.latch(source, ssrc, now);
        };
        if source == latched {
            // A new stream from the same source (a gateway restarting) is still the caller.
            self.latched = Some((source, ssrc));
            self.last_heard = Some(now);
            self.candidate = None;
            return Verdict::Accept;
        }
        if self.silent_since(now) {
            return self.latch(source, ssrc, now);
        }
        if ssrc == latched_ssrc {
            return Verdict::Ignore;
        }
        let candidate = match self.candidate {
            Some(c)
                if c.source == source
                    && c.ssrc == ssrc
                    && sequence == c.sequence.wrapping_add(1) =>
            {
                Candidate {
                    sequence,
                    count: c.count + 1,
                    ..c
                }
            }
            _ => Candidate {
                source,
                ssrc,
                sequence,
                count: 1,
            },
        };
        if candidate.count >= PROBATION {
            return self.latch(source, ssrc, now);
        }
        self.candidate = Some(candidate);
        Verdict::Ignore
    }

    /// Judges an RTCP packet from `source` at `now`: the first source is latched, a move
    /// is allowed only after [`SILENCE_BEFORE_MOVE`].
    pub fn rtcp(&mut self, source: SocketAddr, now: Instant) -> Verdict {
        match self.latched {
            None => self.latch(source, 0, now),
            Some((latched, _)) if latched == source => {
                self.last_heard = Some(now);
                Verdict::Accept
            }
            Some(_) if self.silent_since(now) => self.latch(source, 0, now),
            Some(_) => Verdict::Ignore,
        }
    }

    fn silent_since(&self, now: Instant) -> bool {
        self.last_heard
            .is_none_or(|at| now.saturating_duration_since(at) >= SILENCE_BEFORE_MOVE)
    }

    fn latch(&mut self, source: SocketAddr, ssrc: u32, now: Instant) -> Verdict {
        self.latched = Some((source, ssrc));
        self.last_heard = Some(now);
        self.candidate = None;
        Verdict::Latched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    #[test]
    fn the_first_source_is_latched_and_others_ignored() {
        let now = Instant::now();
        let mut latch = Latch::default();
        assert_eq!(latch.rtp(addr(4000), 7, 1, now), Verdict::Latched);
        assert_eq!(latch.rtp(addr(4000), 7, 2, now), Verdict::Accept);
        assert_eq!(latch.rtp(addr(5000), 7, 3, now), Verdict::Ignore);
        assert_eq!(latch.source(), Some(addr(4000)));
    }

    #[test]
    fn a_foreign_source_with_the_callers_ssrc_never_takes_over_while_the_caller_talks() {
        let start = Instant::now();
        let mut latch = Latch::default();
        latch.rtp(addr(4000), 7, 1, start);
        for i in 0..100u16 {
            let now = start + Duration::from_millis(20 * u64::from(i));
            latch.rtp(addr(4000), 7, 2 + i, now);
            assert_eq!(latch.rtp(addr(5000), 7, 2 + i, now), Verdict::Ignore);
        }
        assert_eq!(latch.source(), Some(addr(4000)));
    }

    #[test]
    fn a_new_ssrc_in_sequence_moves_after_probation_only() {
        let now = Instant::now();
        let mut latch = Latch::default();
        latch.rtp(addr(4000), 7, 1, now);
        for seq in 100..100 + u16::from(PROBATION) - 1 {
            assert_eq!(latch.rtp(addr(5000), 9, seq, now), Verdict::Ignore);
        }
        assert_eq!(
            latch.rtp(addr(5000), 9, 100 + u16::from(PROBATION) - 1, now),
            Verdict::Latched
        );
        assert_eq!(latch.source(), Some(addr(5000)));
    }

    #[test]
    fn new_ssrc_packets_out_of_sequence_stay_on_probation() {
        let now = Instant::now();
        let mut latch = Latch::default();
        latch.rtp(addr(4000), 7, 1, now);
        for i in 0..50u16 {
            assert_eq!(latch.rtp(addr(5000), 9, i * 2, now), Verdict::Ignore);
        }
        assert_eq!(latch.source(), Some(addr(4000)));
    }

    #[test]
    fn another_source_takes_over_after_the_latched_one_is_silent() {
        let start = Instant::now();
        let mut latch = Latch::default();
        latch.rtp(addr(4000), 7, 1, start);
        let before = start + SILENCE_BEFORE_MOVE - Duration::from_millis(1);
        assert_eq!(latch.rtp(addr(5000), 7, 2, before), Verdict::Ignore);
        let after = start + SILENCE_BEFORE_MOVE;
        assert_eq!(latch.rtp(addr(5000), 7, 3, after), Verdict::Latched);
    }

    #[test]
    fn rtcp_latches_its_first_source() {
        let start = Instant::now();
        let mut latch = Latch::default();
        assert_eq!(latch.rtcp(addr(4001), start), Verdict::Latched);
        assert_eq!(latch.rtcp(addr(5001), start), Verdict::Ignore);
        assert_eq!(latch.rtcp(addr(4001), start), Verdict::Accept);
        assert_eq!(
            latch.rtcp(addr(5001), start + SILENCE_BEFORE_MOVE),
            Verdict::Latched
        );
    }
}
