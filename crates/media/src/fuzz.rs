//! Entry points shared by the cargo-fuzz targets and the corpus replay test.
//!
//! Each function runs one parser on arbitrary bytes and checks what must hold for any
//! input; a panic here is a bug.

use std::time::{Duration, Instant};

use crate::rtcp::{self, CompoundBuilder, RtcpPacket};
use crate::rtp::RtpPacket;
use crate::{JitterBuffer, TelephoneEvent, TelephoneEventReceiver};

/// Parses an RTP packet; what parses must serialise back to the same bytes, except that
/// padding bytes other than the count come back as zeros. The packet is then fed to a
/// jitter buffer, which must not panic either.
pub fn rtp(data: &[u8]) {
    let Ok(packet) = RtpPacket::parse(data) else {
        return;
    };
    let bytes = packet.to_vec().expect("a parsed packet serialises");
    assert_eq!(bytes.len(), data.len(), "serialised length differs");
    let body_end = data.len() - packet.padding as usize;
    assert_eq!(
        bytes[..body_end],
        data[..body_end],
        "serialised header or payload differs"
    );
    assert_eq!(
        RtpPacket::parse(&bytes),
        Ok(packet),
        "serialise and parse disagree"
    );
    let mut buffer = JitterBuffer::default();
    let now = Instant::now();
    buffer.push(&packet, now);
    buffer.pop(now + Duration::from_millis(20));
}

/// Parses an RTCP compound; what parses must rebuild and parse to the same reports.
pub fn rtcp(data: &[u8]) {
    let Ok(packets) = rtcp::parse_compound(data) else {
        return;
    };
    let mut builder = CompoundBuilder::new();
    let mut reports = 0;
    for packet in &packets {
        match packet {
            RtcpPacket::SenderReport(sr) => {
                builder.sender_report(sr).expect("a parsed report rebuilds");
                reports += 1;
            }
            RtcpPacket::ReceiverReport(rr) => {
                builder
                    .receiver_report(rr)
                    .expect("a parsed report rebuilds");
                reports += 1;
            }
            _ => {}
        }
    }
    let rebuilt =
        rtcp::parse_compound(&builder.finish().expect("the compound starts with a report"))
            .expect("a rebuilt compound parses");
    assert_eq!(rebuilt.len(), reports);
}

/// Parses an RFC 4733 payload and feeds it to a receiver as a packet; what parses must
/// serialise back to its first four bytes, except the reserved bit.
pub fn rfc4733(data: &[u8]) {
    if let Ok(event) = TelephoneEvent::parse(data) {
        let bytes = event.to_bytes();
        assert_eq!(bytes[0], data[0]);
        assert_eq!(bytes[1], data[1] & 0xBF, "only the reserved bit may differ");
        assert_eq!(bytes[2..4], data[2..4]);
    }
    let mut receiver = TelephoneEventReceiver::new();
    let now = Instant::now();
    for (i, chunk) in data.chunks(4).enumerate() {
        let packet = RtpPacket::new(101, i as u16, (i as u32 / 3) * 800, 1, chunk);
        let _ = receiver.push(&packet, now + Duration::from_millis(i as u64 * 50));
    }
}
