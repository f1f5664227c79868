//! Property tests: the RTP, RTCP and RFC 4733 parsers never panic on arbitrary bytes, and
//! serialising then parsing gives back what was serialised.

use pinbridge_media::rtcp::{
    self, CompoundBuilder, NtpTime, ReceiverReport, RtcpPacket, SdesChunk, SenderReport,
};
use pinbridge_media::rtp::{CsrcList, ReceptionReport, RtpExtension, RtpPacket};
use pinbridge_media::{
    FRAME_SAMPLES, InbandDetector, JitterBuffer, TelephoneEvent, TelephoneEventReceiver,
};
use proptest::prelude::*;
use std::time::{Duration, Instant};

fn report_block() -> impl Strategy<Value = ReceptionReport> {
    (
        any::<u32>(),
        any::<u8>(),
        -0x80_0000i32..=0x7F_FFFF,
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(ssrc, fraction_lost, cumulative_lost, ext, jitter, last_sr, dlsr)| ReceptionReport {
                ssrc,
                fraction_lost,
                cumulative_lost,
                extended_highest_sequence: ext,
                jitter,
                last_sr,
                delay_since_last_sr: dlsr,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn rtp_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(packet) = RtpPacket::parse(&bytes) {
            // Whatever parses serialises to the same length.
            prop_assert_eq!(packet.encoded_len(), bytes.len());
        }
    }

    #[test]
    fn rtp_header_like_bytes_never_panic(
        first in any::<u8>(),
        rest in proptest::collection::vec(any::<u8>(), 11..120),
    ) {
        // Force version 2 so the deeper paths (CSRC, extension, padding) are reached.
        let mut bytes = vec![(first & 0x3F) | 0x80];
        bytes.extend(rest);
        let _ = RtpPacket::parse(&bytes);
    }

    #[test]
    fn rtp_serialise_then_parse_roundtrips(
        marker in any::<bool>(),
        payload_type in 0u8..128,
        sequence_number in any::<u16>(),
        timestamp in any::<u32>(),
        ssrc in any::<u32>(),
        csrcs in proptest::collection::vec(any::<u32>(), 0..=15),
        extension in proptest::option::of((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..4).prop_map(|w| w.repeat(4)))),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
        padding in 0u8..=255,
    ) {
        let extension_data = extension.as_ref().map(|(_, data)| data.clone());
        let packet = RtpPacket {
            marker,
            payload_type,
            sequence_number,
            timestamp,
            ssrc,
            csrcs: CsrcList::from_slice(&csrcs).unwrap(),
            extension: extension.as_ref().map(|(profile, _)| RtpExtension {
                profile: *profile,
                data: extension_data.as_deref().unwrap_or_default(),
            }),
            payload: &payload,
            padding,
        };
        let bytes = packet.to_vec().unwrap();
        prop_assert_eq!(RtpPacket::parse(&bytes).unwrap(), packet);
    }

    #[test]
    fn rtcp_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = rtcp::parse_compound(&bytes);
    }

    #[test]
    fn rtcp_report_like_bytes_never_panic(
        count in 0u8..32,
        packet_type in 200u8..=204,
        words in 0u16..40,
        rest in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut bytes = vec![0x80 | count, packet_type];
        bytes.extend_from_slice(&words.to_be_bytes());
        bytes.extend(rest);
        let _ = rtcp::parse_compound(&bytes);
    }

    #[test]
    fn rtcp_build_then_parse_roundtrips(
        ssrc in any::<u32>(),
        sender in any::<bool>(),
        ntp in any::<u64>(),
        rtp_timestamp in any::<u32>(),
        packet_count in any::<u32>(),
        octet_count in any::<u32>(),
        reports in proptest::collection::vec(report_block(), 0..=31),
        cname in proptest::collection::vec(any::<u8>(), 0..=255),
        bye in proptest::collection::vec(any::<u32>(), 0..=31),
    ) {
        let first = if sender {
            RtcpPacket::SenderReport(SenderReport {
                ssrc,
                ntp_time: NtpTime(ntp),
                rtp_timestamp,
                packet_count,
                octet_count,
                reports: reports.clone(),
            })
        } else {
            RtcpPacket::ReceiverReport(ReceiverReport { ssrc, reports: reports.clone() })
        };
        let mut builder = CompoundBuilder::new();
        match &first {
            RtcpPacket::SenderReport(sr) => { builder.sender_report(sr).unwrap(); }
            RtcpPacket::ReceiverReport(rr) => { builder.receiver_report(rr).unwrap(); }
            _ => unreachable!(),
        }
        builder.source_description(&[(ssrc, &cname)]).unwrap();
        builder.bye(&bye).unwrap();
        let parsed = rtcp::parse_compound(&builder.finish().unwrap()).unwrap();
        prop_assert_eq!(parsed, vec![
            first,
            RtcpPacket::SourceDescription(vec![SdesChunk { ssrc, cname: Some(cname) }]),
            RtcpPacket::Bye(bye),
        ]);
    }

    #[test]
    fn telephone_event_parse_never_panics_and_roundtrips(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
        match TelephoneEvent::parse(&bytes) {
            Ok(event) => {
                prop_assert!(bytes.len() >= 4);
                let again = TelephoneEvent::parse(&event.to_bytes()).unwrap();
                prop_assert_eq!(again, event);
            }
            Err(_) => prop_assert!(bytes.len() < 4),
        }
    }

    #[test]
    fn receivers_survive_arbitrary_packet_streams(
        packets in proptest::collection::vec(
            (any::<u16>(), any::<u32>(), 0u32..4, any::<bool>(), proptest::collection::vec(any::<u8>(), 0..400), 0u64..100),
            1..60,
        ),
    ) {
        // Random sequence numbers, timestamps, SSRCs, sizes and arrival gaps: the jitter
        // buffer and the event receiver must neither panic nor grow.
        let base = Instant::now();
        let mut now = base;
        let mut buffer = JitterBuffer::default();
        let mut events = TelephoneEventReceiver::new();
        let mut detector = InbandDetector::default();
        for (seq, ts, ssrc, pcma, payload, gap_ms) in packets {
            now += Duration::from_millis(gap_ms);
            let pt = if pcma { 8 } else { 0 };
            let packet = RtpPacket::new(pt, seq, ts, ssrc, &payload);
            buffer.push(&packet, now);
            let _ = events.push(&RtpPacket::new(101, seq, ts, ssrc, &payload), now);
            let playout = buffer.pop(now);
            prop_assert_eq!(playout.frame.len(), FRAME_SAMPLES);
            detector.process(&playout.frame);
            prop_assert!(buffer.delay() <= Duration::from_millis(1100));
        }
    }
}
