//! Keys typed as SIPp's `play_pcap_audio` of its stock captures sends them, into the
//! RFC 4733 receiver: each digit's capture as recorded, whose sequence numbers and
//! timestamp jump forwards or backwards from the previous digit's.

mod captures;

use std::time::{Duration, Instant};

use captures::stock_capture;
use pinbridge_media::{RtpPacket, TelephoneEventReceiver};

/// The keys the receiver reports for the captures of `digits` played one after another,
/// a packet every 20 ms and 200 ms between digits.
fn typed(digits: &str) -> String {
    let mut receiver = TelephoneEventReceiver::new();
    let mut now = Instant::now();
    let mut keys = String::new();
    for digit in digits.chars() {
        for bytes in stock_capture(digit) {
            let packet = RtpPacket::parse(&bytes).expect("the capture holds RTP");
            if let Some(key) = receiver.push(&packet, now).expect("a telephone-event") {
                keys.push(key.as_char());
            }
            now += Duration::from_millis(20);
        }
        now += Duration::from_millis(200);
    }
    keys
}

#[test]
fn the_captures_carry_one_event_each_on_one_ssrc() {
    for digit in '0'..='9' {
        let packets = stock_capture(digit);
        assert_eq!(packets.len(), 10, "{digit}");
        let first = RtpPacket::parse(&packets[0]).unwrap();
        assert!(first.marker);
        assert_eq!(first.payload[0], digit as u8 - b'0');
        for bytes in &packets {
            let packet = RtpPacket::parse(bytes).unwrap();
            assert_eq!(packet.ssrc, first.ssrc);
            assert_eq!(packet.timestamp, first.timestamp);
        }
    }
}

#[test]
fn digits_whose_numbers_climb_each_count_once() {
    assert_eq!(typed("123456789"), "123456789");
}

#[test]
fn digits_whose_numbers_jump_back_each_count_once() {
    // `0` is numbered far ahead of the others, with an earlier timestamp than all but
    // `1`; each later digit is numbered and timed before the one it follows.
    assert_eq!(typed("9876543210"), "9876543210");
    assert_eq!(typed("24680"), "24680");
    assert_eq!(typed("0123"), "0123");
}

#[test]
fn a_digit_played_again_later_counts_again() {
    assert_eq!(typed("31415926"), "31415926");
}

#[test]
fn a_digit_typed_twice_in_a_row_counts_twice() {
    // The same capture twice: the very same packets, 200 ms apart.
    assert_eq!(typed("00"), "00");
    assert_eq!(typed("1551"), "1551");
}

#[test]
fn a_digit_typed_again_a_little_later_counts_again() {
    // `7` is numbered a little before `5`'s last packet: the `5` after it steps back
    // less than a jump, to a timestamp of one of the latest events.
    assert_eq!(typed("575"), "575");
    assert_eq!(typed("587009657"), "587009657");
    assert_eq!(typed("*#*#"), "*#*#");
}

#[test]
fn a_capture_delivered_twice_at_once_counts_once() {
    let mut receiver = TelephoneEventReceiver::new();
    let mut now = Instant::now();
    let mut keys = String::new();
    for bytes in stock_capture('4') {
        let packet = RtpPacket::parse(&bytes).unwrap();
        for _ in 0..2 {
            if let Some(key) = receiver.push(&packet, now).unwrap() {
                keys.push(key.as_char());
            }
        }
        now += Duration::from_millis(20);
    }
    // The first packet once more, just after the end packets: a late duplicate.
    let first = stock_capture('4').remove(0);
    let packet = RtpPacket::parse(&first).unwrap();
    now += Duration::from_millis(40);
    if let Some(key) = receiver.push(&packet, now).unwrap() {
        keys.push(key.as_char());
    }
    assert_eq!(keys, "4");
}
