//! re-INVITE within a dialog: hold, refresh with an unchanged offer, and no offer.

mod common;

use common::*;
use pinbridge_sip::sdp::{self, Direction, MediaConfig};
use pinbridge_sip::{Event, SessionDescription};

fn reinvite(call_id: &str, tag: &str, cseq: u32, sdp: Option<&str>) -> String {
    sipp_in_dialog(
        "INVITE",
        call_id,
        tag,
        cseq,
        &format!("z9hG4bK-re{cseq}"),
        sdp.map(|_| "application/sdp"),
        sdp.unwrap_or(""),
    )
}

#[test]
fn hold_reinvite_is_reported_and_answered_with_a_new_version() {
    let mut h = Harness::new();
    let (call, tag) = h.established_sipp_call("re-1");
    let hold = sipp_sdp().replace("2353687637", "2353687638") + "a=sendonly\r\n";
    h.udp(SIPP, &reinvite("re-1", &tag, 2, Some(&hold)))
        .unwrap();
    assert_eq!(h.statuses(), vec![100]);
    let events = h.events();
    let [
        Event::ReInvite {
            call: c,
            offer: Some(offer),
        },
    ] = events.as_slice()
    else {
        panic!("{events:?}");
    };
    assert_eq!(*c, call);
    let config = MediaConfig::new(addr(LOCAL).ip(), 20000, 1000);
    let (answer, negotiated) = sdp::answer(offer, &config).unwrap();
    assert!(negotiated.on_hold);
    assert_eq!(negotiated.local_direction, Direction::RecvOnly);
    h.command(|e, now| e.answer_reinvite(now, call, &answer))
        .unwrap();
    let ok = h.responses().pop().unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(to_tag(&ok), tag);
    let body = SessionDescription::parse(&ok.body).unwrap();
    assert_eq!(
        body.origin.session_version, 1001,
        "changed answer, higher version"
    );
    assert_eq!(body.audio().unwrap().direction(), Some(Direction::RecvOnly));

    // The 2xx is retransmitted until this re-INVITE's ACK.
    h.advance(ms(600));
    assert_eq!(h.sent().len(), 1);
    h.udp(SIPP, &sipp_ack("re-1", &tag, 2)).unwrap();
    assert_eq!(h.events(), vec![Event::CallConfirmed { call, sdp: None }]);
    h.advance(secs(40));
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty(), "the call goes on");
}

#[test]
fn refresh_with_unchanged_offer_is_answered_without_the_application() {
    let mut h = Harness::new();
    let (_, tag) = h.established_sipp_call("re-2");
    let first = h.endpoint.call_count();
    h.udp(SIPP, &reinvite("re-2", &tag, 2, Some(&sipp_sdp())))
        .unwrap();
    let responses = h.responses();
    assert_eq!(
        responses.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![100, 200]
    );
    let body = SessionDescription::parse(&responses[1].body).unwrap();
    assert_eq!(body.origin.session_version, 1000, "unchanged version");
    assert!(h.events().is_empty());
    assert_eq!(h.endpoint.call_count(), first);
}

#[test]
fn reinvite_without_sdp_gets_our_offer_and_the_answer_comes_in_the_ack() {
    let mut h = Harness::new();
    let (call, tag) = h.established_sipp_call("re-3");
    h.udp(SIPP, &reinvite("re-3", &tag, 2, None)).unwrap();
    h.responses();
    assert_eq!(h.events(), vec![Event::ReInvite { call, offer: None }]);
    let ours = sdp::offer(&MediaConfig::new(addr(LOCAL).ip(), 20000, 1000));
    h.command(|e, now| e.answer_reinvite(now, call, &ours))
        .unwrap();
    let ok = h.responses().pop().unwrap();
    assert_eq!(ok.status, 200);
    let ack = with_body(
        &sipp_ack("re-3", &tag, 2)
            .split("Content-Length")
            .next()
            .unwrap()
            .replace("\r\n", "\n"),
        Some("application/sdp"),
        &sipp_sdp(),
    );
    h.udp(SIPP, &ack).unwrap();
    let events = h.events();
    let [
        Event::CallConfirmed {
            sdp: Some(answer), ..
        },
    ] = events.as_slice()
    else {
        panic!("{events:?}");
    };
    assert_eq!(answer.audio().unwrap().port, 6000);
}

#[test]
fn second_reinvite_while_one_is_pending_gets_500_with_retry_after() {
    let mut h = Harness::new();
    let (call, tag) = h.established_sipp_call("re-4");
    let changed = sipp_sdp().replace("2353687637", "2353687639");
    h.udp(SIPP, &reinvite("re-4", &tag, 2, Some(&changed)))
        .unwrap();
    h.responses();
    h.udp(SIPP, &reinvite("re-4", &tag, 3, Some(&changed)))
        .unwrap();
    let responses = h.responses();
    assert_eq!(responses.last().unwrap().status, 500);
    assert!(responses.last().unwrap().headers.contains("Retry-After"));
    h.command(|e, now| e.reject_reinvite(now, call, 488, "Not Acceptable Here"))
        .unwrap();
    assert_eq!(h.statuses(), vec![488]);
}

#[test]
fn reinvite_with_lower_cseq_gets_500() {
    let mut h = Harness::new();
    let (_, tag) = h.established_sipp_call("re-5");
    let info = sipp_in_dialog("INFO", "re-5", &tag, 5, "z9hG4bK-i5", None, "");
    h.udp(SIPP, &info).unwrap();
    assert_eq!(h.statuses(), vec![200]);
    h.udp(SIPP, &reinvite("re-5", &tag, 4, Some(&sipp_sdp())))
        .unwrap();
    assert_eq!(h.statuses(), vec![100, 500]);
}
