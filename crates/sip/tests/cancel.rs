//! CANCEL of a pending INVITE: 200 to the CANCEL, 487 to the INVITE, CallCancelled.

mod common;

use common::*;
use pinbridge_sip::Event;

fn cancel(call_id: &str, branch: &str) -> String {
    with_body(
        &format!(
            "CANCEL sip:5550100@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5061;branch={branch}
From: sipp <sip:sipp@127.0.0.1:5061>;tag=100SIPpTag001
To: 5550100 <sip:5550100@127.0.0.1:5060>
Call-ID: {call_id}
CSeq: 1 CANCEL
Max-Forwards: 70
"
        ),
        None,
        "",
    )
}

#[test]
fn cancel_before_answer() {
    let mut h = Harness::new();
    h.udp(SIPP, &sipp_invite("cancel-1", "z9hG4bK-c1")).unwrap();
    let call = h.incoming_call().call;
    h.command(|e, now| e.ringing(now, call)).unwrap();
    let ringing = h.responses().pop().unwrap();

    h.udp(SIPP, &cancel("cancel-1", "z9hG4bK-c1")).unwrap();
    let responses = h.responses();
    let summary: Vec<(u16, String)> = responses
        .iter()
        .map(|r| (r.status, r.headers.cseq().unwrap().method.to_string()))
        .collect();
    assert_eq!(
        summary,
        vec![(200, "CANCEL".into()), (487, "INVITE".into())]
    );
    assert_eq!(
        to_tag(&responses[1]),
        to_tag(&ringing),
        "487 keeps the dialog's tag"
    );
    assert_eq!(h.events(), vec![Event::CallCancelled { call }]);
    assert_eq!(h.endpoint.call_count(), 0);
    assert!(
        h.command(|e, now| e.accept(now, call, &answer_for(&sipp_sdp())))
            .is_err()
    );

    // The ACK for the 487 is absorbed by the INVITE transaction.
    let ack =
        sipp_ack("cancel-1", &to_tag(&responses[1]), 1).replace("z9hG4bK-100-1-ack1", "z9hG4bK-c1");
    h.udp(SIPP, &ack).unwrap();
    h.advance(secs(40));
    assert!(h.sent().is_empty());
    assert_eq!(h.endpoint.transaction_count(), 0);
}

#[test]
fn cancel_for_unknown_transaction_gets_481() {
    let mut h = Harness::new();
    h.udp(SIPP, &cancel("nothing", "z9hG4bK-none")).unwrap();
    assert_eq!(h.statuses(), vec![481]);
}

#[test]
fn cancel_after_answer_changes_nothing() {
    let mut h = Harness::new();
    h.udp(SIPP, &sipp_invite("late", "z9hG4bK-late")).unwrap();
    let call = h.incoming_call().call;
    h.command(|e, now| e.accept(now, call, &answer_for(&sipp_sdp())))
        .unwrap();
    h.responses();
    h.udp(SIPP, &cancel("late", "z9hG4bK-late")).unwrap();
    assert_eq!(h.statuses(), vec![200]);
    assert!(h.events().is_empty());
    assert_eq!(h.endpoint.call_count(), 1);
}
