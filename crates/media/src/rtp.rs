//! RTP (RFC 3550): packet parsing and serialisation, a sender that keeps sequence
//! number, timestamp and SSRC state, and receiver statistics (extended sequence number,
//! loss and interarrival jitter as in appendices A.1, A.3 and A.8).

use std::time::{Duration, Instant};

use thiserror::Error;

/// The length of the fixed RTP header.
pub const HEADER_LEN: usize = 12;

/// The largest number of contributing sources a header can list.
pub const MAX_CSRC: usize = 15;

/// Why bytes are not an RTP packet, or a packet does not fit a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    /// The datagram is shorter than the header it announces.
    #[error("packet too short: {len} bytes, header needs {needed}")]
    TooShort {
        /// Bytes available.
        len: usize,
        /// Bytes the header needs.
        needed: usize,
    },
    /// The version field is not 2.
    #[error("unsupported rtp version {0}")]
    BadVersion(u8),
    /// The padding count is zero or longer than the packet body.
    #[error("invalid padding length {0}")]
    BadPadding(u8),
    /// The output buffer is too small for the packet.
    #[error("buffer too small: {available} bytes, packet needs {needed}")]
    BufferTooSmall {
        /// Bytes available.
        available: usize,
        /// Bytes the packet needs.
        needed: usize,
    },
    /// Header extension data must be a whole number of 32-bit words.
    #[error("header extension length {0} is not a multiple of four")]
    BadExtensionLength(usize),
    /// Padding must be between 1 and 255 bytes.
    #[error("padding of {0} bytes cannot be encoded")]
    UnencodablePadding(usize),
}

/// The contributing sources of a packet (at most [`MAX_CSRC`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CsrcList {
    items: [u32; MAX_CSRC],
    len: u8,
}

impl CsrcList {
    /// An empty list.
    pub const fn new() -> CsrcList {
        CsrcList {
            items: [0; MAX_CSRC],
            len: 0,
        }
    }

    /// A list of the given sources, or `None` when there are more than [`MAX_CSRC`].
    pub fn from_slice(csrcs: &[u32]) -> Option<CsrcList> {
        let mut list = CsrcList::new();
        for &csrc in csrcs {
            if !list.push(csrc) {
                return None;
            }
        }
        Some(list)
    }

    /// Appends a source; returns false when the list is full.
    pub fn push(&mut self, csrc: u32) -> bool {
        match self.items.get_mut(self.len as usize) {
            Some(slot) => {
                *slot = csrc;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The sources as a slice.
    pub fn as_slice(&self) -> &[u32] {
        &self.items[..self.len as usize]
    }

    /// The number of sources.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// An RTP header extension (RFC 3550 §5.3.1): a profile-defined word and its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpExtension<'a> {
    /// The 16 profile-defined bits.
    pub profile: u16,
    /// The extension data, a multiple of four bytes long.
    pub data: &'a [u8],
}

/// An RTP packet whose payload and extension borrow from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// The marker bit; for audio, the first packet of a talkspurt.
    pub marker: bool,
    /// The 7-bit payload type.
    pub payload_type: u8,
    /// The 16-bit sequence number.
    pub sequence_number: u16,
    /// The media timestamp, in samples for G.711.
    pub timestamp: u32,
    /// The synchronisation source.
    pub ssrc: u32,
    /// The contributing sources.
    pub csrcs: CsrcList,
    /// The header extension, if the X bit is set.
    pub extension: Option<RtpExtension<'a>>,
    /// The payload, without padding.
    pub payload: &'a [u8],
    /// The number of padding bytes after the payload (0 when the P bit is clear).
    pub padding: u8,
}

impl<'a> RtpPacket<'a> {
    /// A packet with no CSRC, extension or padding.
    pub fn new(
        payload_type: u8,
        sequence_number: u16,
        timestamp: u32,
        ssrc: u32,
        payload: &'a [u8],
    ) -> Self {
        RtpPacket {
            marker: false,
            payload_type: payload_type & 0x7F,
            sequence_number,
            timestamp,
            ssrc,
            csrcs: CsrcList::new(),
            extension: None,
            payload,
            padding: 0,
        }
    }

    /// Parses a datagram. Never panics, whatever the bytes.
    pub fn parse(datagram: &'a [u8]) -> Result<RtpPacket<'a>, RtpError> {
        let too_short = |needed| RtpError::TooShort {
            len: datagram.len(),
            needed,
        };
        let header: &[u8; HEADER_LEN] = datagram
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(too_short(HEADER_LEN))?;
        let version = header[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let has_padding = header[0] & 0x20 != 0;
        let has_extension = header[0] & 0x10 != 0;
        let csrc_count = (header[0] & 0x0F) as usize;
        let marker = header[1] & 0x80 != 0;
        let payload_type = header[1] & 0x7F;
        let sequence_number = u16::from_be_bytes([header[2], header[3]]);
        let timestamp = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        let ssrc = u32::from_be_bytes([header[8], header[9], header[10], header[11]]);

        let mut offset = HEADER_LEN;
        let csrc_end = offset + 4 * csrc_count;
        let csrc_bytes = datagram.get(offset..csrc_end).ok_or(too_short(csrc_end))?;
        let mut csrcs = CsrcList::new();
        for word in csrc_bytes.chunks_exact(4) {
            csrcs.push(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
        }
        offset = csrc_end;

        let extension = if has_extension {
            let ext_header = datagram
                .get(offset..offset + 4)
                .ok_or(too_short(offset + 4))?;
            let profile = u16::from_be_bytes([ext_header[0], ext_header[1]]);
            let words = u16::from_be_bytes([ext_header[2], ext_header[3]]) as usize;
            let data_start = offset + 4;
            let data_end = data_start + 4 * words;
            let data = datagram
                .get(data_start..data_end)
                .ok_or(too_short(data_end))?;
            offset = data_end;
            Some(RtpExtension { profile, data })
        } else {
            None
        };

        let body = datagram.get(offset..).unwrap_or_default();
        let (payload, padding) = if has_padding {
            let count = *body.last().ok_or(RtpError::BadPadding(0))?;
            if count == 0 || count as usize > body.len() {
                return Err(RtpError::BadPadding(count));
            }
            (&body[..body.len() - count as usize], count)
        } else {
            (body, 0)
        };

        Ok(RtpPacket {
            marker,
            payload_type,
            sequence_number,
            timestamp,
            ssrc,
            csrcs,
            extension,
            payload,
            padding,
        })
    }

    /// The serialised length of this packet.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
            + 4 * self.csrcs.len()
            + self.extension.map_or(0, |ext| 4 + ext.data.len())
            + self.payload.len()
            + self.padding as usize
    }

    /// Writes the packet into `buf` and returns its length. Padding bytes are zero except
    /// the last, which holds the count.
    pub fn write_to(&self, buf: &mut [u8]) -> Result<usize, RtpError> {
        let needed = self.encoded_len();
        let misfit = |ext: &RtpExtension<'_>| {
            !ext.data.len().is_multiple_of(4) || ext.data.len() / 4 > u16::MAX as usize
        };
        if let Some(ext) = self.extension.filter(misfit) {
            return Err(RtpError::BadExtensionLength(ext.data.len()));
        }
        let available = buf.len();
        let out = buf
            .get_mut(..needed)
            .ok_or(RtpError::BufferTooSmall { available, needed })?;
        out[0] = 0x80
            | if self.padding > 0 { 0x20 } else { 0 }
            | if self.extension.is_some() { 0x10 } else { 0 }
            | self.csrcs.len() as u8;
        out[1] = (self.payload_type & 0x7F) | if self.marker { 0x80 } else { 0 };
        out[2..4].copy_from_slice(&self.sequence_number.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut offset = HEADER_LEN;
        for csrc in self.csrcs.as_slice() {
            out[offset..offset + 4].copy_from_slice(&csrc.to_be_bytes());
            offset += 4;
        }
        if let Some(ext) = self.extension {
            out[offset..offset + 2].copy_from_slice(&ext.profile.to_be_bytes());
            out[offset + 2..offset + 4]
                .copy_from_slice(&((ext.data.len() / 4) as u16).to_be_bytes());
            offset += 4;
            out[offset..offset + ext.data.len()].copy_from_slice(ext.data);
            offset += ext.data.len();
        }
        out[offset..offset + self.payload.len()].copy_from_slice(self.payload);
        offset += self.payload.len();
        if self.padding > 0 {
            let end = offset + self.padding as usize;
            out[offset..end].fill(0);
            out[end - 1] = self.padding;
            offset = end;
        }
        Ok(offset)
    }

    /// Serialises the packet into a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, RtpError> {
        let mut buf = vec![0; self.encoded_len()];
        self.write_to(&mut buf)?;
        Ok(buf)
    }
}

/// The sending side of one RTP stream: SSRC, sequence number and timestamp state.
///
/// The marker bit is set on the first packet after [`RtpSender::start_talkspurt`] (and on
/// the very first packet), as RFC 3551 asks for audio.
#[derive(Debug, Clone)]
pub struct RtpSender {
    ssrc: u32,
    payload_type: u8,
    next_sequence: u16,
    next_timestamp: u32,
    marker_pending: bool,
    packets_sent: u32,
    octets_sent: u32,
    last_timestamp: u32,
}

impl RtpSender {
    /// A sender with the given SSRC and random-looking initial sequence number and
    /// timestamp (the caller supplies them: this crate draws no randomness).
    pub fn new(
        ssrc: u32,
        payload_type: u8,
        initial_sequence: u16,
        initial_timestamp: u32,
    ) -> RtpSender {
        RtpSender {
            ssrc,
            payload_type: payload_type & 0x7F,
            next_sequence: initial_sequence,
            next_timestamp: initial_timestamp,
            marker_pending: true,
            packets_sent: 0,
            octets_sent: 0,
            last_timestamp: initial_timestamp,
        }
    }

    /// The SSRC of this stream.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Changes the payload type of later packets (after a re-INVITE changes the codec).
    pub fn set_payload_type(&mut self, payload_type: u8) {
        self.payload_type = payload_type & 0x7F;
    }

    /// Marks the next packet as the start of a talkspurt.
    pub fn start_talkspurt(&mut self) {
        self.marker_pending = true;
    }

    /// Advances the timestamp over `samples` that are not sent (a silent gap), so that the
    /// next packet is a new talkspurt at the right media time.
    pub fn skip(&mut self, samples: u32) {
        self.next_timestamp = self.next_timestamp.wrapping_add(samples);
        self.marker_pending = true;
    }

    /// Writes one packet carrying `payload`, which covers `samples` samples, into `buf`
    /// and returns its length. The payload is copied once; the header is 12 bytes.
    pub fn write_packet(
        &mut self,
        payload: &[u8],
        samples: u32,
        buf: &mut [u8],
    ) -> Result<usize, RtpError> {
        let mut packet = RtpPacket::new(
            self.payload_type,
            self.next_sequence,
            self.next_timestamp,
            self.ssrc,
            payload,
        );
        packet.marker = self.marker_pending;
        let len = packet.write_to(buf)?;
        self.marker_pending = false;
        self.last_timestamp = self.next_timestamp;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.next_timestamp = self.next_timestamp.wrapping_add(samples);
        self.packets_sent = self.packets_sent.wrapping_add(1);
        self.octets_sent = self.octets_sent.wrapping_add(payload.len() as u32);
        Ok(len)
    }

    /// Packets sent so far (wraps, as the RTCP field does).
    pub fn packets_sent(&self) -> u32 {
        self.packets_sent
    }

    /// Payload octets sent so far (wraps, as the RTCP field does).
    pub fn octets_sent(&self) -> u32 {
        self.octets_sent
    }

    /// The RTP timestamp of the last packet sent.
    pub fn last_timestamp(&self) -> u32 {
        self.last_timestamp
    }

    /// The sequence number the next packet will carry.
    pub fn next_sequence(&self) -> u16 {
        self.next_sequence
    }
}

/// Sequential packets needed before a new source is believed (RFC 3550 A.1).
const MIN_SEQUENTIAL: u16 = 2;
/// The largest forward jump in sequence numbers treated as loss, not a restart.
const MAX_DROPOUT: u16 = 3000;
/// The largest backward step treated as a duplicate or reordering.
const MAX_MISORDER: u16 = 100;
const SEQ_MOD: u32 = 1 << 16;

/// Where a packet stands in its source's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// In sequence or a tolerated jump (loss); counted.
    Valid,
    /// The packet after a large jump that follows on from it: the source restarted its
    /// sequence, which starts afresh here. Counted; what came before is no guide to
    /// what follows (timestamps may have jumped too).
    Restarted,
    /// The source is still on probation: too few sequential packets seen. Not counted;
    /// the packet is not to be used.
    Probation,
    /// A duplicate or an old, reordered packet; counted but not extending the sequence.
    Late,
    /// A large jump; counted only if the next packet confirms a restart. Until then the
    /// packet is not to be used.
    Jump,
}

impl SequenceCheck {
    /// Whether the packet is to be used: counted, not on probation or an unconfirmed jump.
    pub fn is_usable(self) -> bool {
        !matches!(self, SequenceCheck::Probation | SequenceCheck::Jump)
    }

    /// Whether the packet is the newest of its source so far: in sequence (or after
    /// tolerated loss), or the start of a restarted sequence.
    pub fn is_newest(self) -> bool {
        matches!(self, SequenceCheck::Valid | SequenceCheck::Restarted)
    }
}

/// The sequence-number state of one source as RFC 3550 appendix A.1 keeps it: a new
/// source is on probation until [`MIN_SEQUENTIAL`] packets came in sequence; a jump of
/// up to [`MAX_DROPOUT`] forwards is loss, a step of up to [`MAX_MISORDER`] back is a
/// duplicate or reordering; any other jump is believed only when the packet after it
/// follows on, and then the sequence starts afresh there. A packet of another SSRC is a
/// new source, on probation.
#[derive(Debug, Clone, Copy)]
pub struct SequenceTracker {
    ssrc: Option<u32>,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u16,
    received: u32,
}

impl Default for SequenceTracker {
    fn default() -> SequenceTracker {
        SequenceTracker::new()
    }
}

impl SequenceTracker {
    /// A tracker that has seen no source.
    pub const fn new() -> SequenceTracker {
        SequenceTracker {
            ssrc: None,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: SEQ_MOD + 1,
            probation: MIN_SEQUENTIAL,
            received: 0,
        }
    }

    fn init_sequence(&mut self, seq: u16) {
        self.base_seq = seq as u32;
        self.max_seq = seq;
        self.bad_seq = SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
    }

    /// Judges one packet of `ssrc` with sequence number `seq`.
    pub fn check(&mut self, ssrc: u32, seq: u16) -> SequenceCheck {
        if self.ssrc != Some(ssrc) {
            *self = SequenceTracker::new();
            self.ssrc = Some(ssrc);
            self.init_sequence(seq);
            self.max_seq = seq.wrapping_sub(1);
        }
        self.update(seq)
    }

    // RFC 3550 A.1, `update_seq`.
    fn update(&mut self, seq: u16) -> SequenceCheck {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_sequence(seq);
                    self.received += 1;
                    return SequenceCheck::Valid;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return SequenceCheck::Probation;
        }
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += SEQ_MOD;
            }
            self.max_seq = seq;
        } else if udelta as u32 <= SEQ_MOD - MAX_MISORDER as u32 {
            if seq as u32 == self.bad_seq {
                // Two sequential packets after a big jump: the source restarted.
                self.init_sequence(seq);
                self.received += 1;
                return SequenceCheck::Restarted;
            }
            self.bad_seq = (seq as u32 + 1) & (SEQ_MOD - 1);
            return SequenceCheck::Jump;
        } else {
            self.received += 1;
            return SequenceCheck::Late;
        }
        self.received += 1;
        SequenceCheck::Valid
    }

    /// Starts the sequence afresh at `seq`, as a confirmed jump does, for a receiver
    /// with its own evidence that the source stepped back (nothing changes before a
    /// source is tracked).
    pub fn restart(&mut self, seq: u16) {
        if self.ssrc.is_some() {
            self.init_sequence(seq);
            self.probation = 0;
            self.received = 1;
        }
    }

    /// The source being tracked.
    pub fn ssrc(&self) -> Option<u32> {
        self.ssrc
    }

    /// Whether the source is still on probation (or none was seen).
    pub fn on_probation(&self) -> bool {
        self.probation > 0
    }

    /// The extended highest sequence number received (cycles plus last sequence).
    pub fn extended_highest_sequence(&self) -> u32 {
        self.cycles + self.max_seq as u32
    }

    /// Packets received and counted since the sequence (re)started.
    pub fn packets_received(&self) -> u32 {
        self.received
    }

    /// Packets expected from the sequence numbers seen since the sequence (re)started.
    pub fn packets_expected(&self) -> u32 {
        self.extended_highest_sequence()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }
}

/// Reception statistics for one source, as RFC 3550 appendices A.1, A.3 and A.8 define
/// them; the material of an RTCP report block.
#[derive(Debug, Clone)]
pub struct ReceiverStats {
    sequence: SequenceTracker,
    clock_rate: u32,
    expected_prior: u32,
    received_prior: u32,
    transit: Option<i64>,
    jitter: f64,
    epoch: Option<Instant>,
    last_sr: Option<(u32, Instant)>,
}

/// The figures of one RTCP report block for a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceptionReport {
    /// The source reported on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256ths.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed in the packet; clamped here).
    pub cumulative_lost: i32,
    /// The extended highest sequence number received.
    pub extended_highest_sequence: u32,
    /// Interarrival jitter, in timestamp units.
    pub jitter: u32,
    /// The middle 32 bits of the NTP timestamp of the last sender report (0 if none).
    pub last_sr: u32,
    /// Delay since that sender report, in 1/65536 s (0 if none).
    pub delay_since_last_sr: u32,
}

impl ReceiverStats {
    /// Statistics for a stream with the given RTP clock rate (8000 for G.711).
    pub fn new(clock_rate: u32) -> ReceiverStats {
        ReceiverStats {
            sequence: SequenceTracker::new(),
            clock_rate,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter: 0.0,
            epoch: None,
            last_sr: None,
        }
    }

    /// Records one received packet arriving at `now`. A packet on probation or after an
    /// unconfirmed jump counts for nothing (RFC 3550 A.1); one that restarts the sequence
    /// starts the transit times afresh, as the timestamps may have jumped with it.
    pub fn record(&mut self, packet: &RtpPacket<'_>, now: Instant) -> SequenceCheck {
        let check = self.record_sequence(packet);
        if check == SequenceCheck::Restarted {
            self.transit = None;
        }
        if check.is_usable() {
            self.update_jitter(packet.timestamp, now);
        }
        check
    }

    /// Records a packet of the stream whose timestamp does not follow the media clock:
    /// an RFC 4733 event, which keeps its event's start timestamp and shares the
    /// stream's sequence numbers. It counts for loss, not for jitter.
    pub fn record_event(&mut self, packet: &RtpPacket<'_>) -> SequenceCheck {
        self.record_sequence(packet)
    }

    fn record_sequence(&mut self, packet: &RtpPacket<'_>) -> SequenceCheck {
        if self.sequence.ssrc() != Some(packet.ssrc) {
            *self = ReceiverStats::new(self.clock_rate);
        }
        let check = self.sequence.check(packet.ssrc, packet.sequence_number);
        if check == SequenceCheck::Restarted || self.sequence.on_probation() {
            // The counts of the interval start again with the sequence.
            self.expected_prior = 0;
            self.received_prior = 0;
        }
        check
    }

    // RFC 3550 A.8: J += (|D| - J) / 16, with transit times in timestamp units.
    fn update_jitter(&mut self, timestamp: u32, now: Instant) {
        let epoch = *self.epoch.get_or_insert(now);
        let arrival = now.saturating_duration_since(epoch);
        let arrival_units = (arrival.as_nanos() * self.clock_rate as u128 / 1_000_000_000) as i64;
        let transit = arrival_units - timestamp as i64;
        if let Some(previous) = self.transit {
            // Timestamps wrap at 2^32: fold the difference into the signed 32-bit range.
            let d = (transit - previous) as i32 as i64;
            self.jitter += (d.abs() as f64 - self.jitter) / 16.0;
        }
        self.transit = Some(transit);
    }

    /// Remembers the sender report just received from this source (for LSR and DLSR).
    pub fn record_sender_report(&mut self, ntp_middle: u32, now: Instant) {
        self.last_sr = Some((ntp_middle, now));
    }

    /// The source being tracked.
    pub fn ssrc(&self) -> Option<u32> {
        self.sequence.ssrc()
    }

    /// The extended highest sequence number received (cycles plus last sequence).
    pub fn extended_highest_sequence(&self) -> u32 {
        self.sequence.extended_highest_sequence()
    }

    /// Packets received and counted.
    pub fn packets_received(&self) -> u32 {
        self.sequence.packets_received()
    }

    /// Packets expected from the sequence numbers seen.
    pub fn packets_expected(&self) -> u32 {
        self.sequence.packets_expected()
    }

    /// Cumulative packets lost (negative when duplicates outnumber losses).
    pub fn cumulative_lost(&self) -> i64 {
        if self.sequence.on_probation() {
            return 0;
        }
        self.packets_expected() as i64 - self.packets_received() as i64
    }

    /// Interarrival jitter, in timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter as u32
    }

    /// Interarrival jitter as a duration.
    pub fn jitter_duration(&self) -> Duration {
        Duration::from_secs_f64(self.jitter / self.clock_rate.max(1) as f64)
    }

    /// Builds a report block and starts a new reporting interval, or `None` before any
    /// packet was counted.
    pub fn report(&mut self, now: Instant) -> Option<ReceptionReport> {
        let ssrc = self.sequence.ssrc()?;
        if self.sequence.on_probation() {
            return None;
        }
        let expected = self.packets_expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        let received = self.packets_received();
        let received_interval = received.wrapping_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            Some((middle, at)) => {
                let delay = now.saturating_duration_since(at);
                (middle, (delay.as_secs_f64() * 65536.0) as u32)
            }
            None => (0, 0),
        };
        Some(ReceptionReport {
            ssrc,
            fraction_lost,
            cumulative_lost: self.cumulative_lost().clamp(-0x80_0000, 0x7F_FFFF) as i32,
            extended_highest_sequence: self.extended_highest_sequence(),
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_plain_packet() {
        let mut bytes = vec![
            0x80,
            0x80 | 8,
            0x12,
            0x34,
            0,
            0,
            0x01,
            0x40,
            0xDE,
            0xAD,
            0xBE,
            0xEF,
        ];
        bytes.extend_from_slice(&[0xD5; 160]);
        let packet = RtpPacket::parse(&bytes).unwrap();
        assert!(packet.marker);
        assert_eq!(packet.payload_type, 8);
        assert_eq!(packet.sequence_number, 0x1234);
        assert_eq!(packet.timestamp, 320);
        assert_eq!(packet.ssrc, 0xDEADBEEF);
        assert_eq!(packet.payload.len(), 160);
        assert_eq!(packet.to_vec().unwrap(), bytes);
    }

    #[test]
    fn parses_csrc_extension_and_padding() {
        let mut packet = RtpPacket::new(0, 65535, u32::MAX, 7, &[1, 2, 3]);
        packet.csrcs = CsrcList::from_slice(&[10, 20]).unwrap();
        packet.extension = Some(RtpExtension {
            profile: 0xBEDE,
            data: &[9, 9, 9, 9],
        });
        packet.padding = 5;
        let bytes = packet.to_vec().unwrap();
        assert_eq!(bytes.len(), 12 + 8 + 8 + 3 + 5);
        assert_eq!(RtpPacket::parse(&bytes).unwrap(), packet);
    }

    #[test]
    fn rejects_bad_input_with_typed_errors() {
        assert_eq!(
            RtpPacket::parse(&[0x80, 0]),
            Err(RtpError::TooShort { len: 2, needed: 12 })
        );
        assert_eq!(RtpPacket::parse(&[0x40; 12]), Err(RtpError::BadVersion(1)));
        // Three CSRCs announced, none present.
        let mut csrc = [0u8; 12];
        csrc[0] = 0x83;
        assert_eq!(
            RtpPacket::parse(&csrc),
            Err(RtpError::TooShort {
                len: 12,
                needed: 24
            })
        );
        // Padding count larger than the body.
        let mut padded = vec![0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 9];
        assert_eq!(RtpPacket::parse(&padded), Err(RtpError::BadPadding(9)));
        *padded.last_mut().unwrap() = 0;
        assert_eq!(RtpPacket::parse(&padded), Err(RtpError::BadPadding(0)));
        // Extension announced without its header.
        let mut ext = [0u8; 12];
        ext[0] = 0x90;
        assert!(matches!(
            RtpPacket::parse(&ext),
            Err(RtpError::TooShort { .. })
        ));
    }

    #[test]
    fn sender_numbers_packets_and_marks_talkspurts() {
        let mut sender = RtpSender::new(42, 0, 65534, u32::MAX - 159);
        let mut buf = [0u8; 200];
        let payload = [0xFFu8; 160];
        let mut seen = Vec::new();
        for i in 0..4 {
            if i == 2 {
                sender.skip(160);
            }
            let len = sender.write_packet(&payload, 160, &mut buf).unwrap();
            let packet = RtpPacket::parse(&buf[..len]).unwrap();
            seen.push((packet.sequence_number, packet.timestamp, packet.marker));
        }
        assert_eq!(
            seen,
            vec![
                (65534, u32::MAX - 159, true),
                (65535, 0, false),
                (0, 320, true),
                (1, 480, false)
            ]
        );
        assert_eq!(sender.packets_sent(), 4);
        assert_eq!(sender.octets_sent(), 640);
    }

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn receiver_counts_loss_across_wraparound() {
        let base = Instant::now();
        let mut stats = ReceiverStats::new(8000);
        let payload = [0u8; 160];
        let mut seq: u16 = 65530;
        let mut ts: u32 = 1000;
        for i in 0..20u64 {
            // Lose every fifth packet.
            if i % 5 != 3 {
                let packet = RtpPacket::new(0, seq, ts, 9, &payload);
                stats.record(&packet, at(base, i * 20));
            }
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(160);
        }
        assert_eq!(stats.extended_highest_sequence(), 65536 + 13);
        // The first packet only starts the probation of the source (RFC 3550 A.1).
        assert_eq!(stats.packets_expected(), 19);
        assert_eq!(stats.cumulative_lost(), 4);
        assert_eq!(stats.jitter(), 0);
        let report = stats.report(at(base, 400)).unwrap();
        assert_eq!(report.fraction_lost, (4 * 256 / 19) as u8);
        assert_eq!(report.cumulative_lost, 4);
    }

    #[test]
    fn events_in_the_stream_are_not_lost_and_leave_jitter_alone() {
        let base = Instant::now();
        let mut stats = ReceiverStats::new(8000);
        let payload = [0u8; 160];
        let event = [1u8, 0x0a, 0, 160];
        // 10 audio packets, 6 packets of one key (its start timestamp held), 10 audio.
        for i in 0..26u32 {
            let seq = 100 + i as u16;
            let arrival = at(base, i as u64 * 20);
            if (10..16).contains(&i) {
                let packet = RtpPacket::new(101, seq, 10 * 160, 9, &event);
                stats.record_event(&packet);
            } else {
                let packet = RtpPacket::new(0, seq, i * 160, 9, &payload);
                stats.record(&packet, arrival);
            }
        }
        assert_eq!(stats.cumulative_lost(), 0);
        assert_eq!(stats.packets_received(), 25);
        assert_eq!(stats.jitter(), 0);
    }

    #[test]
    fn receiver_jitter_follows_a_8_of_rfc_3550() {
        let base = Instant::now();
        let mut stats = ReceiverStats::new(8000);
        let payload = [0u8; 160];
        // Packets every 20 ms of media, arriving alternately 0 and 5 ms late (40 units).
        let mut expected = 0.0f64;
        for i in 0..200u32 {
            let late = if i % 2 == 1 { 5 } else { 0 };
            let packet = RtpPacket::new(0, i as u16, i * 160, 1, &payload);
            stats.record(&packet, at(base, i as u64 * 20 + late));
            // The first packet is on probation and the second sets the first transit time.
            if i >= 2 {
                expected += (40.0 - expected) / 16.0;
            }
        }
        assert_eq!(stats.jitter(), expected as u32);
        assert!(stats.jitter() >= 39);
    }

    #[test]
    fn receiver_ignores_duplicates_for_loss_but_counts_them() {
        let base = Instant::now();
        let mut stats = ReceiverStats::new(8000);
        let payload = [0u8; 1];
        for seq in [1u16, 2, 3, 3, 2, 4] {
            let packet = RtpPacket::new(0, seq, seq as u32 * 160, 5, &payload);
            stats.record(&packet, base);
        }
        assert_eq!(stats.extended_highest_sequence(), 4);
        assert_eq!(stats.cumulative_lost(), -2);
    }

    /// The checks of packets of one SSRC with the given sequence numbers.
    fn checks(tracker: &mut SequenceTracker, ssrc: u32, seqs: &[u16]) -> Vec<SequenceCheck> {
        seqs.iter().map(|&seq| tracker.check(ssrc, seq)).collect()
    }

    use SequenceCheck::{Jump, Late, Probation, Restarted, Valid};

    #[test]
    fn a_new_source_is_believed_after_two_packets_in_sequence() {
        let mut tracker = SequenceTracker::new();
        assert!(tracker.on_probation());
        // Out of sequence while on probation starts the probation again.
        assert_eq!(
            checks(&mut tracker, 7, &[500, 900, 901, 902]),
            [Probation, Probation, Valid, Valid]
        );
        assert!(!tracker.on_probation());
        assert_eq!(tracker.packets_received(), 2);
        assert_eq!(tracker.packets_expected(), 2);
    }

    #[test]
    fn a_jump_forwards_is_loss_up_to_max_dropout_and_a_restart_beyond() {
        let mut tracker = SequenceTracker::new();
        checks(&mut tracker, 7, &[1000, 1001]);
        // 2999 ahead is loss (the sequence began where the probation ended, at 1001).
        assert_eq!(checks(&mut tracker, 7, &[4000]), [Valid]);
        assert_eq!(tracker.packets_expected(), 3000);
        // 3000 ahead is a jump; a lone one is dropped and the sequence goes on.
        assert_eq!(checks(&mut tracker, 7, &[7000, 4001]), [Jump, Valid]);
        // A jump followed by the next packet restarts the sequence there.
        assert_eq!(
            checks(&mut tracker, 7, &[12_080, 12_081, 12_082]),
            [Jump, Restarted, Valid]
        );
        assert_eq!(tracker.extended_highest_sequence(), 12_082);
        assert_eq!(tracker.packets_received(), 2);
        assert_eq!(tracker.packets_expected(), 2);
    }

    #[test]
    fn a_step_back_is_late_up_to_max_misorder_and_a_restart_beyond() {
        let mut tracker = SequenceTracker::new();
        checks(&mut tracker, 7, &[12_080, 12_081]);
        // 99 back is a reordered packet, counted but not moving the sequence; a
        // duplicate of the newest packet counts as in sequence (the gap is zero).
        assert_eq!(checks(&mut tracker, 7, &[11_982, 12_081]), [Late, Valid]);
        assert_eq!(tracker.extended_highest_sequence(), 12_081);
        // 100 back is a jump; the next one following it restarts (SIPp's `0` then `1`).
        assert_eq!(
            checks(&mut tracker, 7, &[11_981, 12_082, 7_984, 7_985, 7_986]),
            [Jump, Valid, Jump, Restarted, Valid]
        );
        assert_eq!(tracker.extended_highest_sequence(), 7_986);
        // The old numbers are now far ahead: a jump, and not confirmed.
        assert_eq!(checks(&mut tracker, 7, &[12_083, 7_987]), [Jump, Valid]);
    }

    #[test]
    fn sequence_numbers_wrap_around_without_a_jump() {
        let mut tracker = SequenceTracker::new();
        assert_eq!(
            checks(&mut tracker, 7, &[65_534, 65_535, 0, 1, 65_535]),
            [Probation, Valid, Valid, Valid, Late]
        );
        assert_eq!(tracker.extended_highest_sequence(), 65_536 + 1);
        // A jump across the wrap restarts the count of cycles.
        assert_eq!(
            checks(&mut tracker, 7, &[40_000, 40_001]),
            [Jump, Restarted]
        );
        assert_eq!(tracker.extended_highest_sequence(), 40_001);
    }

    #[test]
    fn a_new_ssrc_is_a_new_source_on_probation() {
        let mut tracker = SequenceTracker::new();
        checks(&mut tracker, 7, &[10, 11, 12]);
        // The new SSRC's numbers are close to the old ones: still a new source.
        assert_eq!(checks(&mut tracker, 8, &[13, 14]), [Probation, Valid]);
        assert_eq!(tracker.ssrc(), Some(8));
        assert_eq!(tracker.packets_received(), 1);
        // Back to the old SSRC: on probation again, whatever its numbers.
        assert_eq!(checks(&mut tracker, 7, &[13, 14]), [Probation, Valid]);
    }

    #[test]
    fn statistics_start_afresh_when_the_sequence_restarts() {
        let base = Instant::now();
        let mut stats = ReceiverStats::new(8000);
        let payload = [0u8; 160];
        let send = |stats: &mut ReceiverStats, seq: u16, ts: u32, arrival_ms: u64| {
            let packet = RtpPacket::new(0, seq, ts, 3, &payload);
            stats.record(&packet, at(base, arrival_ms))
        };
        // Packets arrive in step with their timestamps.
        send(&mut stats, 0, 0, 0);
        for i in 0..10u16 {
            // After the first two, every other packet is lost.
            let seq = (2 * i).max(1);
            send(&mut stats, seq, 160 * seq as u32, 20 * seq as u64);
        }
        assert_eq!(stats.cumulative_lost(), 8);
        assert_eq!(stats.jitter(), 0);
        // The stream restarts 30 000 numbers on and its clock far on, in step with its
        // arrivals.
        assert_eq!(send(&mut stats, 30_000, 1_000_000, 400), Jump);
        for i in 1..20u16 {
            let check = send(
                &mut stats,
                30_000 + i,
                1_000_000 + 160 * i as u32,
                400 + 20 * i as u64,
            );
            assert_eq!(check, if i == 1 { Restarted } else { Valid });
        }
        assert_eq!(stats.cumulative_lost(), 0);
        assert_eq!(stats.extended_highest_sequence(), 30_019);
        // The jump in timestamps is not taken as jitter.
        assert_eq!(stats.jitter(), 0);
    }
}
