//! A SIPp call: 100 Trying at once, 180, 200 with SDP retransmitted with T1 doubling
//! up to T2 until the ACK, then BYE from the caller.

mod common;

use common::*;
use pinbridge_sip::{EndReason, Event, Message, SessionDescription};

#[test]
fn sipp_call_is_answered_retransmitted_until_ack_and_ended_by_bye() {
    let mut h = Harness::new();
    h.udp(SIPP, &sipp_invite("call-1@127.0.0.1", "z9hG4bK-100-1-0"))
        .unwrap();
    let trying = h.responses();
    assert_eq!(trying.len(), 1);
    assert_eq!(trying[0].status, 100);
    assert!(
        trying[0].headers.to().unwrap().tag().is_none(),
        "100 carries no tag"
    );

    let call = h.incoming_call();
    assert_eq!(call.called_number, "5550100");
    assert_eq!(call.from.uri.user.as_deref(), Some("sipp"));
    assert_eq!(call.from.display_name.as_deref(), Some("sipp"));
    assert_eq!(call.source, addr(SIPP));
    assert!(call.offer.is_some());

    h.command(|e, now| e.ringing(now, call.call)).unwrap();
    let ringing = h.responses();
    assert_eq!(ringing[0].status, 180);
    let tag = to_tag(&ringing[0]);
    assert!(ringing[0].headers.contains("Contact"));

    let answer = answer_for(&sipp_sdp());
    h.command(|e, now| e.accept(now, call.call, &answer))
        .unwrap();
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.destination, addr(SIPP), "sent to the Via sent-by");
    let Ok(Message::Response(ok)) = Message::parse(&sent[0].1.contents) else {
        panic!("200 expected");
    };
    assert_eq!(ok.status, 200);
    assert_eq!(to_tag(&ok), tag, "same tag as the 180");
    assert_eq!(
        ok.headers.content_type().as_deref(),
        Some("application/sdp")
    );
    assert_eq!(
        ok.headers.contacts().unwrap()[0].uri.to_string(),
        "sip:127.0.0.1:5060"
    );
    assert_eq!(ok.headers.cseq().unwrap().seq, 1);
    let sdp = SessionDescription::parse(&ok.body).unwrap();
    assert_eq!(sdp.audio().unwrap().port, 20000);

    // Retransmissions at 0.5, 1.5, 3.5, 7.5, 11.5 s (intervals 0.5, 1, 2, 4, 4).
    h.advance(ms(11_600));
    let times: Vec<u128> = h
        .sent()
        .iter()
        .map(|(at, t)| {
            assert_eq!(t.contents, sent[0].1.contents);
            at.as_millis()
        })
        .collect();
    assert_eq!(times, vec![500, 1500, 3500, 7500, 11_500]);

    h.udp(SIPP, &sipp_ack("call-1@127.0.0.1", &tag, 1)).unwrap();
    assert_eq!(
        h.events(),
        vec![Event::CallConfirmed {
            call: call.call,
            sdp: None
        }]
    );
    h.advance(secs(40));
    assert!(h.sent().is_empty(), "no retransmission after the ACK");

    let bye = sipp_in_dialog(
        "BYE",
        "call-1@127.0.0.1",
        &tag,
        2,
        "z9hG4bK-100-1-5",
        None,
        "",
    );
    h.udp(SIPP, &bye).unwrap();
    assert_eq!(h.statuses(), vec![200]);
    assert_eq!(
        h.events(),
        vec![Event::CallEnded {
            call: call.call,
            reason: EndReason::RemoteBye
        }]
    );
    // A retransmitted BYE is answered from its transaction (Timer J keeps it 32 s).
    h.advance(secs(1));
    h.udp(SIPP, &bye).unwrap();
    assert_eq!(h.statuses(), vec![200]);
    assert!(h.events().is_empty());
    h.advance(secs(40));
    assert_eq!(h.endpoint.call_count(), 0);
    assert_eq!(h.endpoint.transaction_count(), 0);
    assert_eq!(h.endpoint.poll_timeout(), None);
}

#[test]
fn baresip_invite_is_understood() {
    let mut h = Harness::new();
    h.udp(BARESIP, &baresip_invite("z9hG4bKd3a4c9e3cb5b0e1a"))
        .unwrap();
    let trying = h.responses();
    let via = trying[0].headers.top_via().unwrap();
    assert_eq!(via.rport(), Some(Some(35811)), "rport filled in");
    let call = h.incoming_call();
    assert_eq!(call.called_number, "5550100");
    assert_eq!(call.from.display_name.as_deref(), Some("Baresip"));
    assert_eq!(
        call.user_agent.as_deref(),
        Some("baresip v3.10.1 (x86_64/linux)")
    );
    let offer = call.offer.unwrap();
    let config = pinbridge_sip::sdp::MediaConfig::new(addr(LOCAL).ip(), 20002, 5);
    let (answer, negotiated) = pinbridge_sip::sdp::answer(&offer, &config).unwrap();
    assert_eq!(
        negotiated.payload_type, 0,
        "G.722 skipped, PCMU next in the offer's order"
    );
    assert_eq!(negotiated.telephone_event, Some(101));
    h.command(|e, now| e.accept(now, call.call, &answer))
        .unwrap();
    let ok = h.responses().pop().unwrap();
    assert_eq!(ok.status, 200);
    assert!(
        ok.headers.session_expires().unwrap().is_none(),
        "no session timer asked for"
    );
}

#[test]
fn called_number_falls_back_to_the_to_user() {
    let mut h = Harness::new();
    let invite = sipp_invite("call-2", "z9hG4bK-2").replace(
        "INVITE sip:5550100@127.0.0.1:5060",
        "INVITE sip:127.0.0.1:5060",
    );
    h.udp(SIPP, &invite).unwrap();
    assert_eq!(h.incoming_call().called_number, "5550100");
}
