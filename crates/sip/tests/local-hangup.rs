//! The application hangs up: BYE within the dialog, retransmitted until answered.

mod common;

use common::*;
use pinbridge_sip::{EndReason, Event, Method};

#[test]
fn hangup_sends_bye_and_stops_retransmitting_on_200() {
    let mut h = Harness::new();
    let (call, tag) = h.established_sipp_call("bye-1");
    h.command(|e, now| e.hangup(now, call)).unwrap();
    assert_eq!(
        h.events(),
        vec![Event::CallEnded {
            call,
            reason: EndReason::LocalHangup
        }]
    );
    let (bye, _) = h.requests().pop().unwrap();
    assert_eq!(bye.method, Method::Bye);
    let cseq = bye.headers.cseq().unwrap();
    assert_eq!(cseq.method, Method::Bye);
    assert_eq!(bye.headers.from().unwrap().tag(), Some(tag.as_str()));
    assert_eq!(bye.headers.max_forwards().unwrap(), Some(70));
    h.advance(ms(1_600));
    assert_eq!(h.sent().len(), 2, "Timer E at 0.5 and 1.5 s");

    let via = bye.headers.top_via().unwrap();
    let ok = with_body(
        &format!(
            "SIP/2.0 200 OK
Via: {via}
From: {}
To: {}
Call-ID: bye-1
CSeq: {cseq}
",
            bye.headers.first("From").unwrap(),
            bye.headers.first("To").unwrap()
        ),
        None,
        "",
    );
    h.udp(SIPP, &ok).unwrap();
    h.advance(secs(4));
    assert!(h.sent().is_empty(), "no retransmission after the 200");
    assert_eq!(h.endpoint.call_count(), 0);
    // Timer K (T4) ends the BYE transaction; Timer L (64*T1) the INVITE one.
    h.advance(secs(40));
    assert_eq!(h.endpoint.transaction_count(), 0);
    assert!(h.command(|e, now| e.hangup(now, call)).is_err());
}

#[test]
fn bye_follows_record_route() {
    let mut h = Harness::new();
    let invite = sipp_invite("rr-1", "z9hG4bK-rr").replace(
        "Subject: Performance Test\r\n",
        "Record-Route: <sip:10.9.9.9:5070;lr>, <sip:10.8.8.8;lr>\r\n",
    );
    h.udp(SIPP, &invite).unwrap();
    let call = h.incoming_call().call;
    h.command(|e, now| e.accept(now, call, &answer_for(&sipp_sdp())))
        .unwrap();
    let ok = h.responses().pop().unwrap();
    assert_eq!(
        ok.headers.list("Record-Route").len(),
        2,
        "Record-Route copied into the 200"
    );
    h.udp(SIPP, &sipp_ack("rr-1", &to_tag(&ok), 1)).unwrap();
    h.command(|e, now| e.hangup(now, call)).unwrap();
    let (bye, destination) = h.requests().pop().unwrap();
    assert_eq!(
        destination,
        addr("10.9.9.9:5070"),
        "sent to the first route"
    );
    assert_eq!(bye.uri.to_string(), "sip:sipp@127.0.0.1:5061");
    assert_eq!(
        bye.headers.list("Route"),
        vec!["<sip:10.9.9.9:5070;lr>", "<sip:10.8.8.8;lr>"]
    );
}

#[test]
fn hangup_before_ack_waits_for_the_ack() {
    let mut h = Harness::new();
    h.udp(SIPP, &sipp_invite("early-hangup", "z9hG4bK-eh"))
        .unwrap();
    let call = h.incoming_call().call;
    h.command(|e, now| e.accept(now, call, &answer_for(&sipp_sdp())))
        .unwrap();
    let ok = h.responses().pop().unwrap();
    h.command(|e, now| e.hangup(now, call)).unwrap();
    assert!(h.sent().is_empty(), "no BYE before the ACK (§15)");
    h.udp(SIPP, &sipp_ack("early-hangup", &to_tag(&ok), 1))
        .unwrap();
    let requests = h.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].0.method, Method::Bye);
    assert_eq!(
        h.events(),
        vec![Event::CallEnded {
            call,
            reason: EndReason::LocalHangup
        }]
    );
}

#[test]
fn hangup_before_answer_refuses_the_call() {
    let mut h = Harness::new();
    h.udp(SIPP, &sipp_invite("refuse", "z9hG4bK-rf")).unwrap();
    let call = h.incoming_call().call;
    h.responses();
    h.command(|e, now| e.hangup(now, call)).unwrap();
    assert_eq!(h.statuses(), vec![480]);
    assert_eq!(
        h.events(),
        vec![Event::CallEnded {
            call,
            reason: EndReason::LocalHangup
        }]
    );
}
