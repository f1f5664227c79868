//! RTCP (RFC 3550 §6): sender and receiver reports, source descriptions and BYE, built
//! and parsed as compound packets. Parsing validates a compound the way appendix A.2
//! suggests (version 2, SR or RR first, padding only on the last packet, lengths that
//! add up) and rejects anything else with a typed error.

use thiserror::Error;

use crate::rtp::ReceptionReport;

/// Packet type of a sender report.
pub const PT_SR: u8 = 200;
/// Packet type of a receiver report.
pub const PT_RR: u8 = 201;
/// Packet type of a source description.
pub const PT_SDES: u8 = 202;
/// Packet type of a BYE.
pub const PT_BYE: u8 = 203;
/// Packet type of an application-defined packet.
pub const PT_APP: u8 = 204;

const REPORT_BLOCK_LEN: usize = 24;
const SDES_CNAME: u8 = 1;

/// Why bytes are not a valid RTCP compound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtcpError {
    /// The compound is empty or a packet is cut short.
    #[error("rtcp packet truncated at byte {0}")]
    Truncated(usize),
    /// A packet's version field is not 2.
    #[error("unsupported rtcp version {0}")]
    BadVersion(u8),
    /// The first packet of a compound is neither SR nor RR.
    #[error("compound must start with a sender or receiver report, found type {0}")]
    BadFirstPacket(u8),
    /// A packet other than the last has the padding bit set, or the count is invalid.
    #[error("invalid rtcp padding")]
    BadPadding,
    /// The report count does not fit the packet length.
    #[error("packet type {packet_type} announces {count} items that do not fit its length")]
    BadCount {
        /// The packet type.
        packet_type: u8,
        /// The count field.
        count: u8,
    },
    /// A source description chunk is malformed.
    #[error("malformed source description")]
    BadSdes,
    /// More items than the five-bit count field can carry.
    #[error("too many items for one packet: {0}")]
    TooManyItems(usize),
    /// A text item longer than 255 bytes.
    #[error("source description item longer than 255 bytes")]
    ItemTooLong,
}

/// A 64-bit NTP timestamp (seconds since 1900 in the high word, fraction in the low).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct NtpTime(pub u64);

impl NtpTime {
    /// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
    pub const UNIX_OFFSET_SECS: u64 = 2_208_988_800;

    /// The NTP time of a moment given as time since the Unix epoch (the driver reads the
    /// wall clock; this crate does not).
    pub fn from_unix(since_epoch: std::time::Duration) -> NtpTime {
        let seconds = since_epoch.as_secs() + Self::UNIX_OFFSET_SECS;
        let fraction = ((since_epoch.subsec_nanos() as u64) << 32) / 1_000_000_000;
        NtpTime((seconds << 32) | fraction)
    }

    /// The middle 32 bits, as carried in the LSR field of report blocks.
    pub fn middle_32(self) -> u32 {
        (self.0 >> 16) as u32
    }
}

/// A sender report (packet type 200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderReport {
    /// The sender's SSRC.
    pub ssrc: u32,
    /// The wall-clock time of the report.
    pub ntp_time: NtpTime,
    /// The RTP timestamp corresponding to `ntp_time`.
    pub rtp_timestamp: u32,
    /// Packets sent since the start of transmission.
    pub packet_count: u32,
    /// Payload octets sent since the start of transmission.
    pub octet_count: u32,
    /// Reception reports about the sources this sender hears.
    pub reports: Vec<ReceptionReport>,
}

/// A receiver report (packet type 201).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverReport {
    /// The reporter's SSRC.
    pub ssrc: u32,
    /// Reception reports about the sources it hears.
    pub reports: Vec<ReceptionReport>,
}

/// One chunk of a source description: the canonical name of a source, if given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdesChunk {
    /// The source described.
    pub ssrc: u32,
    /// The CNAME item, if present (other items are skipped).
    pub cname: Option<Vec<u8>>,
}

/// One packet of a compound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket {
    /// A sender report.
    SenderReport(SenderReport),
    /// A receiver report.
    ReceiverReport(ReceiverReport),
    /// A source description.
    SourceDescription(Vec<SdesChunk>),
    /// Sources leaving the session.
    Bye(Vec<u32>),
    /// Any other packet type (APP, feedback, extended reports), kept as its type.
    Other {
        /// The packet type.
        packet_type: u8,
    },
}

/// Parses and validates a compound RTCP packet. Never panics, whatever the bytes.
pub fn parse_compound(datagram: &[u8]) -> Result<Vec<RtcpPacket>, RtcpError> {
    if datagram.len() < 4 {
        return Err(RtcpError::Truncated(datagram.len()));
    }
    let mut packets = Vec::new();
    let mut offset = 0;
    while offset < datagram.len() {
        let header = datagram
            .get(offset..offset + 4)
            .ok_or(RtcpError::Truncated(offset))?;
        let version = header[0] >> 6;
        if version != 2 {
            return Err(RtcpError::BadVersion(version));
        }
        let has_padding = header[0] & 0x20 != 0;
        let count = header[0] & 0x1F;
        let packet_type = header[1];
        let length = (u16::from_be_bytes([header[2], header[3]]) as usize + 1) * 4;
        let end = offset + length;
        let packet = datagram
            .get(offset..end)
            .ok_or(RtcpError::Truncated(datagram.len()))?;
        if packets.is_empty() && packet_type != PT_SR && packet_type != PT_RR {
            return Err(RtcpError::BadFirstPacket(packet_type));
        }
        let mut body = &packet[4..];
        if has_padding {
            if end != datagram.len() {
                return Err(RtcpError::BadPadding);
            }
            let pad = *body.last().ok_or(RtcpError::BadPadding)? as usize;
            if pad == 0 || pad > body.len() {
                return Err(RtcpError::BadPadding);
            }
            body = &body[..body.len() - pad];
        }
        packets.push(parse_one(packet_type, count, body)?);
        offset = end;
    }
    Ok(packets)
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
}

fn parse_one(packet_type: u8, count: u8, body: &[u8]) -> Result<RtcpPacket, RtcpError> {
    let bad_count = RtcpError::BadCount { packet_type, count };
    match packet_type {
        PT_SR => {
            let fixed = 24;
            if body.len() < fixed + count as usize * REPORT_BLOCK_LEN {
                return Err(bad_count);
            }
            let word = |at| be32(body, at).ok_or(bad_count);
            let ntp = ((word(4)? as u64) << 32) | word(8)? as u64;
            Ok(RtcpPacket::SenderReport(SenderReport {
                ssrc: word(0)?,
                ntp_time: NtpTime(ntp),
                rtp_timestamp: word(12)?,
                packet_count: word(16)?,
                octet_count: word(20)?,
                reports: parse_report_blocks(&body[fixed..], count).ok_or(bad_count)?,
            }))
        }
        PT_RR => {
            if body.len() < 4 + count as usize * REPORT_BLOCK_LEN {
                return Err(bad_count);
            }
            Ok(RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: be32(body, 0).ok_or(bad_count)?,
                reports: parse_report_blocks(&body[4..], count).ok_or(bad_count)?,
            }))
        }
        PT_SDES => parse_sdes(body, count).map(RtcpPacket::SourceDescription),
        PT_BYE => {
            if body.len() < count as usize * 4 {
                return Err(bad_count);
            }
            let ssrcs = (0..count as usize)
                .filter_map(|i| be32(body, i * 4))
                .collect();
            Ok(RtcpPacket::Bye(ssrcs))
        }
        _ => Ok(RtcpPacket::Other { packet_type }),
    }
}

fn parse_report_blocks(bytes: &[u8], count: u8) -> Option<Vec<ReceptionReport>> {
    let mut reports = Vec::with_capacity(count as usize);
    for block in bytes.chunks_exact(REPORT_BLOCK_LEN).take(count as usize) {
        let lost_raw = u32::from_be_bytes([0, block[5], block[6], block[7]]);
        // Sign-extend the 24-bit cumulative loss.
        let cumulative_lost = ((lost_raw << 8) as i32) >> 8;
        reports.push(ReceptionReport {
            ssrc: be32(block, 0)?,
            fraction_lost: block[4],
            cumulative_lost,
            extended_highest_sequence: be32(block, 8)?,
            jitter: be32(block, 12)?,
            last_sr: be32(block, 16)?,
            delay_since_last_sr: be32(block, 20)?,
        });
    }
    (reports.len() == count as usize).then_some(reports)
}

fn parse_sdes(body: &[u8], count: u8) -> Result<Vec<SdesChunk>, RtcpError> {
    let mut chunks = Vec::with_capacity(count as usize);
    let mut offset = 0;
    for _ in 0..count {
        let ssrc = be32(body, offset).ok_or(RtcpError::BadSdes)?;
        offset += 4;
        let mut cname = None;
        loop {
            let item_type = *body.get(offset).ok_or(RtcpError::BadSdes)?;
            if item_type == 0 {
                // The list ends with a null octet, then padding to the next 32-bit boundary.
                offset = (offset + 4) & !3;
                break;
            }
            let len = *body.get(offset + 1).ok_or(RtcpError::BadSdes)? as usize;
            let value = body
                .get(offset + 2..offset + 2 + len)
                .ok_or(RtcpError::BadSdes)?;
            if item_type == SDES_CNAME {
                cname = Some(value.to_vec());
            }
            offset += 2 + len;
        }
        if offset > body.len() {
            return Err(RtcpError::BadSdes);
        }
        chunks.push(SdesChunk { ssrc, cname });
    }
    Ok(chunks)
}

/// Builds compound RTCP packets into a byte vector, one packet after another.
///
/// RFC 3550 wants every compound to start with an SR or RR and to carry an SDES CNAME;
/// [`CompoundBuilder::finish`] checks the first and leaves the choice of items to the caller.
#[derive(Debug, Default)]
pub struct CompoundBuilder {
    bytes: Vec<u8>,
}

impl CompoundBuilder {
    /// An empty compound.
    pub fn new() -> CompoundBuilder {
        CompoundBuilder::default()
    }

    fn header(&mut self, count: usize, packet_type: u8, body_len: usize) {
        let words = (body_len + 4) / 4 - 1;
        self.bytes.push(0x80 | count as u8);
        self.bytes.push(packet_type);
        self.bytes.extend_from_slice(&(words as u16).to_be_bytes());
    }

    fn report_blocks(&mut self, reports: &[ReceptionReport]) {
        for report in reports {
            self.bytes.extend_from_slice(&report.ssrc.to_be_bytes());
            self.bytes.push(report.fraction_lost);
            let lost = (report.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32) & 0x00FF_FFFF;
            self.bytes.extend_from_slice(&lost.to_be_bytes()[1..]);
            self.bytes
                .extend_from_slice(&report.extended_highest_sequence.to_be_bytes());
            self.bytes.extend_from_slice(&report.jitter.to_be_bytes());
            self.bytes.extend_from_slice(&report.last_sr.to_be_bytes());
            self.bytes
                .extend_from_slice(&report.delay_since_last_sr.to_be_bytes());
        }
    }

    /// Appends a sender report (at most 31 report blocks).
    pub fn sender_report(&mut self, report: &SenderReport) -> Result<&mut Self, RtcpError> {
        let count = report.reports.len();
        if count > 31 {
            return Err(RtcpError::TooManyItems(count));
        }
        self.header(count, PT_SR, 24 + count * REPORT_BLOCK_LEN);
        self.bytes.extend_from_slice(&report.ssrc.to_be_bytes());
        self.bytes
            .extend_from_slice(&report.ntp_time.0.to_be_bytes());
        self.bytes
            .extend_from_slice(&report.rtp_timestamp.to_be_bytes());
        self.bytes
            .extend_from_slice(&report.packet_count.to_be_bytes());
        self.bytes
            .extend_from_slice(&report.octet_count.to_be_bytes());
        self.report_blocks(&report.reports);
        Ok(self)
    }

    /// Appends a receiver report (at most 31 report blocks).
    pub fn receiver_report(&mut self, report: &ReceiverReport) -> Result<&mut Self, RtcpError> {
        let count = report.reports.len();
        if count > 31 {
            return Err(RtcpError::TooManyItems(count));
        }
        self.header(count, PT_RR, 4 + count * REPORT_BLOCK_LEN);
        self.bytes.extend_from_slice(&report.ssrc.to_be_bytes());
        self.report_blocks(&report.reports);
        Ok(self)
    }

    /// Appends a source description with one CNAME per source.
    pub fn source_description(&mut self, chunks: &[(u32, &[u8])]) -> Result<&mut Self, RtcpError> {
        if chunks.len() > 31 {
            return Err(RtcpError::TooManyItems(chunks.len()));
        }
        let mut body = Vec::new();
        for (ssrc, cname) in chunks {
            if cname.len() > 255 {
                return Err(RtcpError::ItemTooLong);
            }
            body.extend_from_slice(&ssrc.to_be_bytes());
            body.push(SDES_CNAME);
            body.push(cname.len() as u8);
            body.extend_from_slice(cname);
            // The terminating null octet, then zeros up to a 32-bit boundary.
            body.push(0);
            while body.len() % 4 != 0 {
                body.push(0);
            }
        }
        self.header(chunks.len(), PT_SDES, body.len());
        self.bytes.extend_from_slice(&body);
        Ok(self)
    }

    /// Appends a BYE for the given sources.
    pub fn bye(&mut self, ssrcs: &[u32]) -> Result<&mut Self, RtcpError> {
        if ssrcs.len() > 31 {
            return Err(RtcpError::TooManyItems(ssrcs.len()));
        }
        self.header(ssrcs.len(), PT_BYE, ssrcs.len() * 4);
        for ssrc in ssrcs {
            self.bytes.extend_from_slice(&ssrc.to_be_bytes());
        }
        Ok(self)
    }

    /// The finished compound, or an error when it does not start with SR or RR.
    pub fn finish(self) -> Result<Vec<u8>, RtcpError> {
        match self.bytes.get(1) {
            Some(&PT_SR) | Some(&PT_RR) => Ok(self.bytes),
            Some(&other) => Err(RtcpError::BadFirstPacket(other)),
            None => Err(RtcpError::Truncated(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(ssrc: u32, lost: i32) -> ReceptionReport {
        ReceptionReport {
            ssrc,
            fraction_lost: 12,
            cumulative_lost: lost,
            extended_highest_sequence: 70_000,
            jitter: 33,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65536,
        }
    }

    #[test]
    fn sender_report_sdes_and_bye_roundtrip() {
        let sr = SenderReport {
            ssrc: 1,
            ntp_time: NtpTime::from_unix(std::time::Duration::from_millis(1_700_000_000_500)),
            rtp_timestamp: 160,
            packet_count: 10,
            octet_count: 1600,
            reports: vec![block(2, 5), block(3, -3)],
        };
        let mut builder = CompoundBuilder::new();
        builder.sender_report(&sr).unwrap();
        builder
            .source_description(&[(1, b"pinbridge@example.test")])
            .unwrap();
        builder.bye(&[1]).unwrap();
        let bytes = builder.finish().unwrap();
        assert_eq!(bytes.len() % 4, 0);
        let packets = parse_compound(&bytes).unwrap();
        assert_eq!(
            packets,
            vec![
                RtcpPacket::SenderReport(sr),
                RtcpPacket::SourceDescription(vec![SdesChunk {
                    ssrc: 1,
                    cname: Some(b"pinbridge@example.test".to_vec())
                }]),
                RtcpPacket::Bye(vec![1]),
            ]
        );
    }

    #[test]
    fn receiver_report_roundtrip() {
        let rr = ReceiverReport {
            ssrc: 77,
            reports: vec![block(5, 0)],
        };
        let mut builder = CompoundBuilder::new();
        builder.receiver_report(&rr).unwrap();
        builder.source_description(&[(77, b"x")]).unwrap();
        let packets = parse_compound(&builder.finish().unwrap()).unwrap();
        assert_eq!(packets[0], RtcpPacket::ReceiverReport(rr));
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse_compound(&[]), Err(RtcpError::Truncated(0)));
        assert_eq!(
            parse_compound(&[0x40, 200, 0, 0]),
            Err(RtcpError::BadVersion(1))
        );
        // SDES first.
        assert_eq!(
            parse_compound(&[0x80, 202, 0, 0]),
            Err(RtcpError::BadFirstPacket(202))
        );
        // Length pointing past the end.
        assert!(matches!(
            parse_compound(&[0x80, 201, 0, 9, 0, 0, 0, 1]),
            Err(RtcpError::Truncated(_))
        ));
        // One report block announced, none present.
        assert_eq!(
            parse_compound(&[0x81, 201, 0, 1, 0, 0, 0, 1]),
            Err(RtcpError::BadCount {
                packet_type: 201,
                count: 1
            })
        );
        // An SDES item that runs past its packet.
        let mut bytes = vec![0x80, 201, 0, 1, 0, 0, 0, 1];
        bytes.extend_from_slice(&[0x81, 202, 0, 2, 0, 0, 0, 1, 1, 40, 0, 0]);
        assert_eq!(parse_compound(&bytes), Err(RtcpError::BadSdes));
        // Padding on a packet that is not the last.
        let mut bytes = vec![0xA0, 201, 0, 1, 0, 0, 0, 4];
        bytes.extend_from_slice(&[0x80, 203, 0, 0]);
        assert_eq!(parse_compound(&bytes), Err(RtcpError::BadPadding));
    }

    #[test]
    fn ntp_middle_bits() {
        let ntp = NtpTime(0x0123_4567_89AB_CDEF);
        assert_eq!(ntp.middle_32(), 0x4567_89AB);
        let unix = NtpTime::from_unix(std::time::Duration::from_secs(0));
        assert_eq!(unix.0 >> 32, NtpTime::UNIX_OFFSET_SECS);
    }
}
