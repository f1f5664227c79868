//! DTMF by SIP INFO, both content types.

mod common;

use common::*;
use pinbridge_sip::Event;

#[test]
fn dtmf_relay_and_dtmf_bodies_become_digits() {
    let mut h = Harness::new();
    let (call, tag) = h.established_sipp_call("info-1");
    let relay = sipp_in_dialog(
        "INFO",
        "info-1",
        &tag,
        2,
        "z9hG4bK-info2",
        Some("application/dtmf-relay"),
        "Signal=5\r\nDuration=160\r\n",
    );
    h.udp(SIPP, &relay).unwrap();
    assert_eq!(h.statuses(), vec![200]);
    assert_eq!(
        h.events(),
        vec![Event::Dtmf {
            call,
            digit: '5',
            duration_ms: Some(160)
        }]
    );

    // A retransmission is answered again but not reported twice.
    h.udp(SIPP, &relay).unwrap();
    assert_eq!(h.statuses(), vec![200]);
    assert!(h.events().is_empty());

    let plain = sipp_in_dialog(
        "INFO",
        "info-1",
        &tag,
        3,
        "z9hG4bK-info3",
        Some("application/dtmf"),
        "#",
    );
    h.udp(SIPP, &plain).unwrap();
    assert_eq!(h.statuses(), vec![200]);
    assert_eq!(
        h.events(),
        vec![Event::Dtmf {
            call,
            digit: '#',
            duration_ms: None
        }]
    );

    let star = sipp_in_dialog(
        "INFO",
        "info-1",
        &tag,
        4,
        "z9hG4bK-info4",
        Some("application/dtmf-relay"),
        "Signal=*\r\nDuration=250\r\n",
    );
    h.udp(SIPP, &star).unwrap();
    h.statuses();
    assert_eq!(
        h.events(),
        vec![Event::Dtmf {
            call,
            digit: '*',
            duration_ms: Some(250)
        }]
    );
}

#[test]
fn other_info_bodies_are_refused_or_acknowledged() {
    let mut h = Harness::new();
    let (_, tag) = h.established_sipp_call("info-2");
    let xml = sipp_in_dialog(
        "INFO",
        "info-2",
        &tag,
        2,
        "z9hG4bK-x",
        Some("application/media_control+xml"),
        "<media_control/>",
    );
    h.udp(SIPP, &xml).unwrap();
    let responses = h.responses();
    assert_eq!(responses[0].status, 415);
    assert!(
        responses[0]
            .headers
            .first("Accept")
            .unwrap()
            .contains("application/dtmf-relay")
    );
    let empty = sipp_in_dialog("INFO", "info-2", &tag, 3, "z9hG4bK-e", None, "");
    h.udp(SIPP, &empty).unwrap();
    assert_eq!(h.statuses(), vec![200]);
    let bad = sipp_in_dialog(
        "INFO",
        "info-2",
        &tag,
        4,
        "z9hG4bK-b",
        Some("application/dtmf-relay"),
        "Signal=Q\r\n",
    );
    h.udp(SIPP, &bad).unwrap();
    assert_eq!(h.statuses(), vec![400]);
    assert!(h.events().is_empty());
}
