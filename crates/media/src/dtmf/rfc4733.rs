use std::time::{Duration, Instant};

use thiserror::Error;

use super::DtmfDigit;
use crate::rtp::{RtpPacket, SequenceCheck, SequenceTracker};

/// How long an event without packets stays active before it is taken as ended.
pub const EVENT_TIMEOUT: Duration = Duration::from_millis(500);

/// How many of the latest events' timestamps are remembered, to tell a reordered packet
/// of one of them from a source that stepped back.
const RECENT_EVENTS: usize = 4;

/// How long after an event's last packet a first packet (marker bit) of that very event
/// is a new press of the same key, not a duplicate: a player of captured keys (SIPp's
/// `play_pcap_audio` of one stock capture twice) sends the same packets again, while a
/// network duplicate or a reordered first packet comes within the event or right after.
pub const REPLAY_GAP: Duration = Duration::from_millis(100);

/// Durations from which a new timestamp may be the next segment of a long event
/// (RFC 4733 §2.5.1.3: the duration field would overflow).
const LONG_EVENT_DURATION: u16 = 0xF000;

/// Why a payload is not an RFC 4733 telephone event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TelephoneEventError {
    /// The payload is shorter than one four-byte event.
    #[error("telephone-event payload too short: {0} bytes")]
    TooShort(usize),
}

/// One RFC 4733 telephone-event payload block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// The event code (0–15 are the DTMF keys).
    pub event: u8,
    /// The E bit: this is (a retransmission of) the last packet of the event.
    pub end: bool,
    /// The power level, in −dBm0 (0–63).
    pub volume: u8,
    /// The duration so far, in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first event block of a payload. Never panics, whatever the bytes.
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, TelephoneEventError> {
        match payload {
            [event, flags, d0, d1, ..] => Ok(TelephoneEvent {
                event: *event,
                end: flags & 0x80 != 0,
                volume: flags & 0x3F,
                duration: u16::from_be_bytes([*d0, *d1]),
            }),
            _ => Err(TelephoneEventError::TooShort(payload.len())),
        }
    }

    /// The four payload bytes of this event (the reserved bit is zero).
    pub fn to_bytes(self) -> [u8; 4] {
        let duration = self.duration.to_be_bytes();
        [
            self.event,
            (self.volume & 0x3F) | if self.end { 0x80 } else { 0 },
            duration[0],
            duration[1],
        ]
    }

    /// The DTMF key of this event, if it is one.
    pub fn digit(self) -> Option<DtmfDigit> {
        DtmfDigit::from_event_code(self.event)
    }
}

#[derive(Debug, Clone, Copy)]
struct CurrentEvent {
    timestamp: u32,
    event: u8,
    duration: u16,
    ended: bool,
    /// When its first packet came.
    started: Instant,
    last_packet: Instant,
}

/// Turns a stream of RFC 4733 packets into keypresses.
///
/// The packets' sequence numbers are checked as RFC 3550 appendix A.1 asks: a new
/// source (or SSRC) is believed after two packets in sequence, and after a large jump
/// forwards or backwards the sequence starts afresh once two packets follow on. A key
/// counts once, when its event begins: the first packet, newest in the sequence, with a
/// new RTP timestamp, wherever that timestamp lies (the stock captures of SIPp jump back
/// and forth from one key to the next). A step back in sequence numbers too small to be
/// a jump (up to 100) is a reordered packet, unless it carries a timestamp none of the
/// latest events had and the packet after it follows on with the same timestamp: then
/// the source stepped back, its sequence starts afresh there, and the event counts.
/// Repeated packets of the same event (updates, duplicates, the three retransmitted end
/// packets, a key held for seconds) add nothing, and a reordered packet of an earlier
/// event is ignored, except a first packet (marker bit) of an event that ended at least
/// [`REPLAY_GAP`] before: a player of captured keys typing the same key again. A missing end packet does not stall anything: the next event has a
/// new timestamp and counts, and [`EVENT_TIMEOUT`] after its last packet an event is
/// taken as ended.
#[derive(Debug, Clone, Default)]
pub struct TelephoneEventReceiver {
    sequence: SequenceTracker,
    current: Option<CurrentEvent>,
    /// The timestamps of the latest events, in a ring whose next slot is `recent_next`.
    recent: [Option<u32>; RECENT_EVENTS],
    recent_next: usize,
    /// A step back in sequence to a new timestamp, waiting for the packet after it:
    /// (timestamp, the sequence number that would confirm it).
    step_back: Option<(u32, u16)>,
}

impl TelephoneEventReceiver {
    /// A receiver that has seen nothing.
    pub fn new() -> TelephoneEventReceiver {
        TelephoneEventReceiver::default()
    }

    /// Handles one telephone-event packet and returns the key it starts, if any.
    pub fn push(
        &mut self,
        packet: &RtpPacket<'_>,
        now: Instant,
    ) -> Result<Option<DtmfDigit>, TelephoneEventError> {
        let event = TelephoneEvent::parse(packet.payload)?;
        if self.sequence.ssrc() != Some(packet.ssrc) {
            *self = TelephoneEventReceiver::new();
        }
        let check = self.sequence.check(packet.ssrc, packet.sequence_number);
        // Events share their sequence numbers with the audio of the same SSRC, which this
        // receiver does not see: a phone that keeps sending audio during a key leaves
        // gaps between its event packets, and they never pass probation. So probation
        // holds nothing back here (events are told apart by their timestamps); only an
        // unconfirmed jump does.
        if check == SequenceCheck::Jump {
            return Ok(None);
        }
        let newest = check.is_newest() || check == SequenceCheck::Probation;
        self.handle_timeout(now);
        if packet.marker && !event.end && self.replays_an_ended_event(packet.timestamp, now) {
            self.sequence.restart(packet.sequence_number);
            return Ok(self.begin(packet.timestamp, event, now));
        }
        // A packet a little back in sequence with a timestamp of its own: a reordered
        // packet of an earlier event, unless it confirms that the source stepped back.
        let other_timestamp = self
            .current
            .is_some_and(|c| c.timestamp != packet.timestamp);
        if !newest && other_timestamp && !self.confirms_step_back(packet) {
            return Ok(None);
        }
        if let Some(current) = self.current.as_mut() {
            let offset = packet.timestamp.wrapping_sub(current.timestamp);
            if offset == 0 {
                // The same event: an update, a duplicate or a retransmitted end.
                current.duration = current.duration.max(event.duration);
                current.ended |= event.end;
                current.last_packet = now;
                return Ok(None);
            }
            let next_segment = !current.ended
                && !packet.marker
                && event.event == current.event
                && current.duration >= LONG_EVENT_DURATION
                && offset <= u16::MAX as u32 + 1600;
            if next_segment {
                *current = CurrentEvent {
                    timestamp: packet.timestamp,
                    event: event.event,
                    duration: event.duration,
                    ended: event.end,
                    started: current.started,
                    last_packet: now,
                };
                return Ok(None);
            }
        }
        Ok(self.begin(packet.timestamp, event, now))
    }

    /// Starts a new event and returns its key.
    fn begin(&mut self, timestamp: u32, event: TelephoneEvent, now: Instant) -> Option<DtmfDigit> {
        self.current = Some(CurrentEvent {
            timestamp,
            event: event.event,
            duration: event.duration,
            ended: event.end,
            started: now,
            last_packet: now,
        });
        self.step_back = None;
        self.recent[self.recent_next] = Some(timestamp);
        self.recent_next = (self.recent_next + 1) % RECENT_EVENTS;
        event.digit()
    }

    /// Whether a first packet with `timestamp` starts one of the latest events again, long
    /// enough after it ended: the current event once it ended [`REPLAY_GAP`] ago, or an
    /// earlier one once the current event began that long ago.
    fn replays_an_ended_event(&self, timestamp: u32, now: Instant) -> bool {
        let Some(current) = self.current else {
            return false;
        };
        let since = |then: Instant| now.saturating_duration_since(then) >= REPLAY_GAP;
        if current.timestamp == timestamp {
            current.ended && since(current.last_packet)
        } else {
            self.recent.contains(&Some(timestamp)) && since(current.started)
        }
    }

    /// Whether a packet a little back in sequence, with another timestamp than the
    /// current event's, is the second in sequence of a source that stepped back to a new
    /// event (the sequence then restarts here) rather than a reordered packet.
    fn confirms_step_back(&mut self, packet: &RtpPacket<'_>) -> bool {
        if self.recent.contains(&Some(packet.timestamp)) {
            // A packet of one of the latest events.
            return false;
        }
        let expected = (packet.timestamp, packet.sequence_number);
        let confirmed = self.step_back == Some(expected);
        self.step_back = Some((packet.timestamp, packet.sequence_number.wrapping_add(1)));
        if confirmed {
            self.sequence.restart(packet.sequence_number);
        }
        confirmed
    }

    /// Ends the current event if no packet has come for [`EVENT_TIMEOUT`].
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired = |c: &&mut CurrentEvent| {
            !c.ended && now.saturating_duration_since(c.last_packet) >= EVENT_TIMEOUT
        };
        if let Some(current) = self.current.as_mut().filter(expired) {
            current.ended = true;
        }
    }

    /// When [`TelephoneEventReceiver::handle_timeout`] next has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.current
            .filter(|c| !c.ended)
            .map(|c| c.last_packet + EVENT_TIMEOUT)
    }

    /// The key currently held down, if an event is in progress.
    pub fn active_digit(&self) -> Option<DtmfDigit> {
        self.current
            .filter(|c| !c.ended)
            .and_then(|c| DtmfDigit::from_event_code(c.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PT: u8 = 101;

    struct Phone {
        base: Instant,
        seq: u16,
        receiver: TelephoneEventReceiver,
        digits: Vec<DtmfDigit>,
    }

    impl Phone {
        fn new() -> Phone {
            Phone {
                base: Instant::now(),
                seq: 0,
                receiver: TelephoneEventReceiver::new(),
                digits: Vec::new(),
            }
        }

        fn send(&mut self, at_ms: u64, timestamp: u32, marker: bool, event: TelephoneEvent) {
            let seq = self.seq;
            self.seq = self.seq.wrapping_add(1);
            self.send_numbered(seq, at_ms, timestamp, marker, event);
        }

        /// Sends a packet with the given sequence number (a late or jumping one).
        fn send_numbered(
            &mut self,
            seq: u16,
            at_ms: u64,
            timestamp: u32,
            marker: bool,
            event: TelephoneEvent,
        ) {
            let payload = event.to_bytes();
            let mut packet = RtpPacket::new(PT, seq, timestamp, 0x1111, &payload);
            packet.marker = marker;
            let now = self.base + Duration::from_millis(at_ms);
            if let Some(digit) = self.receiver.push(&packet, now).unwrap() {
                self.digits.push(digit);
            }
        }

        /// Like [`Phone::press`], from a phone that goes on sending audio during the key
        /// in the same sequence space: one audio packet (not shown to the receiver)
        /// between every two event packets.
        fn press_between_audio(&mut self, digit: DtmfDigit, start_ms: u64, length_ms: u64) {
            let timestamp = (start_ms * 8) as u32;
            let mut elapsed = 0;
            while elapsed <= length_ms {
                let end = elapsed == length_ms;
                let event = TelephoneEvent {
                    event: digit.event_code(),
                    end,
                    volume: 10,
                    duration: ((elapsed.max(20)) * 8) as u16,
                };
                self.send(start_ms + elapsed, timestamp, elapsed == 0, event);
                self.seq = self.seq.wrapping_add(1);
                elapsed += 20;
            }
        }

        /// A key pressed at `start_ms` for `length_ms`, sent every 50 ms as RFC 4733
        /// describes, with three end packets unless `send_end` is false.
        fn press(&mut self, digit: DtmfDigit, start_ms: u64, length_ms: u64, send_end: bool) {
            let timestamp = (start_ms * 8) as u32;
            let mut elapsed = 0;
            let mut first = true;
            while elapsed < length_ms {
                let duration = ((elapsed + 50) * 8).min(0xFFFF) as u16;
                let event = TelephoneEvent {
                    event: digit.event_code(),
                    end: false,
                    volume: 10,
                    duration,
                };
                self.send(start_ms + elapsed, timestamp, first, event);
                first = false;
                elapsed += 50;
            }
            if send_end {
                let duration = (length_ms * 8).min(0xFFFF) as u16;
                let event = TelephoneEvent {
                    event: digit.event_code(),
                    end: true,
                    volume: 10,
                    duration,
                };
                for _ in 0..3 {
                    self.send(start_ms + length_ms, timestamp, false, event);
                }
            }
        }
    }

    #[test]
    fn each_press_counts_once_despite_updates_and_three_end_packets() {
        let mut phone = Phone::new();
        phone.press(DtmfDigit::D1, 0, 200, true);
        phone.press(DtmfDigit::D1, 400, 200, true);
        phone.press(DtmfDigit::Pound, 800, 120, true);
        assert_eq!(
            phone.digits,
            vec![DtmfDigit::D1, DtmfDigit::D1, DtmfDigit::Pound]
        );
    }

    #[test]
    fn duplicated_packets_count_once() {
        let mut phone = Phone::new();
        let event = TelephoneEvent {
            event: 5,
            end: false,
            volume: 10,
            duration: 400,
        };
        phone.send(0, 800, true, event);
        phone.send(0, 800, true, event);
        phone.send(
            50,
            800,
            false,
            TelephoneEvent {
                duration: 800,
                ..event
            },
        );
        phone.send(
            50,
            800,
            false,
            TelephoneEvent {
                duration: 800,
                ..event
            },
        );
        assert_eq!(phone.digits, vec![DtmfDigit::D5]);
    }

    #[test]
    fn missing_end_packet_does_not_stall_the_next_key() {
        let mut phone = Phone::new();
        // The behaviour of phones that send no end packet until the next key.
        phone.press(DtmfDigit::Star, 0, 150, false);
        phone.press(DtmfDigit::Star, 300, 150, false);
        phone.press(DtmfDigit::D2, 600, 150, false);
        assert_eq!(
            phone.digits,
            vec![DtmfDigit::Star, DtmfDigit::Star, DtmfDigit::D2]
        );
        assert_eq!(phone.receiver.active_digit(), Some(DtmfDigit::D2));
        let deadline = phone.receiver.poll_timeout().unwrap();
        phone.receiver.handle_timeout(deadline);
        assert_eq!(phone.receiver.active_digit(), None);
        assert_eq!(phone.receiver.poll_timeout(), None);
    }

    #[test]
    fn lost_first_packets_still_count_the_key() {
        let mut phone = Phone::new();
        // Only the end packets of the event arrive.
        let end = TelephoneEvent {
            event: 9,
            end: true,
            volume: 10,
            duration: 800,
        };
        for _ in 0..3 {
            phone.send(100, 4000, false, end);
        }
        assert_eq!(phone.digits, vec![DtmfDigit::D9]);
    }

    #[test]
    fn a_long_press_counts_once_even_across_duration_segments() {
        let mut phone = Phone::new();
        // Ten seconds: 80 000 units overflows the duration field, so the sender starts a
        // second segment with a new timestamp and no marker.
        phone.press(DtmfDigit::D0, 0, 8190, false);
        let segment_start = 0xFFFF;
        for i in 0..36u32 {
            let event = TelephoneEvent {
                event: 0,
                end: false,
                volume: 10,
                duration: ((i + 1) * 400) as u16,
            };
            phone.send(8192 + i as u64 * 50, segment_start, false, event);
        }
        let end = TelephoneEvent {
            event: 0,
            end: true,
            volume: 10,
            duration: 14_464,
        };
        for _ in 0..3 {
            phone.send(10_000, segment_start, false, end);
        }
        assert_eq!(phone.digits, vec![DtmfDigit::D0]);
    }

    #[test]
    fn late_packets_of_an_earlier_event_are_ignored() {
        let mut phone = Phone::new();
        phone.press(DtmfDigit::D3, 0, 100, false);
        let end = TelephoneEvent {
            event: 3,
            end: true,
            volume: 10,
            duration: 800,
        };
        // The first key's end packets are numbered 2 to 4: the last is held up and
        // arrives after the second key began.
        phone.send(100, 0, false, end);
        phone.send(100, 0, false, end);
        phone.seq = 5;
        phone.press(DtmfDigit::D4, 200, 100, true);
        phone.send_numbered(4, 320, 0, false, end);
        assert_eq!(phone.digits, vec![DtmfDigit::D3, DtmfDigit::D4]);
    }

    #[test]
    fn timestamps_wrapping_around_still_count() {
        let mut phone = Phone::new();
        let event = TelephoneEvent {
            event: 7,
            end: false,
            volume: 10,
            duration: 400,
        };
        for at_ms in [0, 50] {
            phone.send(at_ms, u32::MAX - 100, at_ms == 0, event);
        }
        for at_ms in [400, 450] {
            let next = TelephoneEvent { event: 8, ..event };
            phone.send(at_ms, 3000, at_ms == 400, next);
        }
        assert_eq!(phone.digits, vec![DtmfDigit::D7, DtmfDigit::D8]);
    }

    #[test]
    fn non_key_events_and_short_payloads() {
        let mut phone = Phone::new();
        phone.send(
            0,
            0,
            true,
            TelephoneEvent {
                event: 16,
                end: false,
                volume: 0,
                duration: 160,
            },
        );
        assert!(phone.digits.is_empty());
        let packet = RtpPacket::new(PT, 1, 0, 1, &[1, 2, 3]);
        assert_eq!(
            phone.receiver.push(&packet, phone.base),
            Err(TelephoneEventError::TooShort(3))
        );
        let event = TelephoneEvent {
            event: 11,
            end: true,
            volume: 63,
            duration: 1234,
        };
        assert_eq!(TelephoneEvent::parse(&event.to_bytes()), Ok(event));
    }

    #[test]
    fn a_small_step_back_to_a_new_timestamp_counts_once_it_is_followed_on() {
        let mut phone = Phone::new();
        phone.seq = 8293;
        phone.press(DtmfDigit::D9, 0, 160, true);
        // The next key is numbered 47 back and timed earlier (SIPp's `8` after `9`).
        phone.seq = 8253;
        let event = TelephoneEvent {
            event: 8,
            end: false,
            volume: 10,
            duration: 160,
        };
        phone.send(400, 60_800, true, event);
        assert_eq!(
            phone.digits,
            vec![DtmfDigit::D9],
            "one packet is not enough"
        );
        phone.send(420, 60_800, false, event);
        phone.press(DtmfDigit::D7, 800, 160, true);
        assert_eq!(
            phone.digits,
            vec![DtmfDigit::D9, DtmfDigit::D8, DtmfDigit::D7]
        );
    }

    #[test]
    fn reordered_packets_of_a_recent_event_in_sequence_are_still_ignored() {
        let mut phone = Phone::new();
        phone.press(DtmfDigit::D3, 0, 100, false);
        let end = TelephoneEvent {
            event: 3,
            end: true,
            volume: 10,
            duration: 800,
        };
        // The first key's two end packets (numbered 2 and 3) are both held up and
        // arrive, in sequence, after the second key began.
        phone.seq = 4;
        phone.press(DtmfDigit::D4, 200, 100, true);
        phone.send_numbered(2, 320, 0, false, end);
        phone.send_numbered(3, 320, 0, false, end);
        assert_eq!(phone.digits, vec![DtmfDigit::D3, DtmfDigit::D4]);
    }

    #[test]
    fn keys_of_a_phone_that_sends_audio_between_its_event_packets_count() {
        let mut phone = Phone::new();
        // Audio before the first key moves the sequence on too.
        phone.seq = 500;
        for (i, key) in "1234#".chars().enumerate() {
            let digit = DtmfDigit::from_char(key).unwrap();
            phone.press_between_audio(digit, 1000 + 400 * i as u64, 100);
            phone.seq = phone.seq.wrapping_add(10);
        }
        let typed: String = phone.digits.iter().map(|d| d.as_char()).collect();
        assert_eq!(typed, "1234#");
    }
}
