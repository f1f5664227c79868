//! A retransmitted INVITE is answered from its transaction and never makes a second call.

mod common;

use common::*;
use pinbridge_sip::Event;

#[test]
fn retransmitted_invite_gets_the_last_response_and_no_second_call() {
    let mut h = Harness::new();
    let invite = sipp_invite("dup@127.0.0.1", "z9hG4bK-7-1-0");
    h.udp(SIPP, &invite).unwrap();
    assert_eq!(h.statuses(), vec![100]);
    let call = h.incoming_call().call;

    h.advance(ms(500));
    h.udp(SIPP, &invite).unwrap();
    assert_eq!(h.statuses(), vec![100]);
    assert!(h.events().is_empty(), "no second IncomingCall");

    h.command(|e, now| e.ringing(now, call)).unwrap();
    assert_eq!(h.statuses(), vec![180]);
    h.udp(SIPP, &invite).unwrap();
    assert_eq!(h.statuses(), vec![180]);

    h.command(|e, now| e.accept(now, call, &answer_for(&sipp_sdp())))
        .unwrap();
    let ok = h.responses().pop().unwrap();
    h.udp(SIPP, &invite).unwrap();
    let again = h.responses();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0], ok, "the 2xx again, byte for byte");
    assert!(h.events().is_empty());
    assert_eq!(h.endpoint.call_count(), 1);

    h.udp(SIPP, &sipp_ack("dup@127.0.0.1", &to_tag(&ok), 1))
        .unwrap();
    assert!(matches!(
        h.events().as_slice(),
        [Event::CallConfirmed { .. }]
    ));
}

#[test]
fn merged_invite_on_another_branch_gets_482() {
    let mut h = Harness::new();
    h.udp(SIPP, &sipp_invite("merged", "z9hG4bK-a")).unwrap();
    h.incoming_call();
    h.responses();
    h.udp(SIPP, &sipp_invite("merged", "z9hG4bK-b")).unwrap();
    assert_eq!(h.statuses(), vec![100, 482]);
    assert!(h.events().is_empty());
}

#[test]
fn rejected_invite_final_response_is_retransmitted_by_timer_g_until_ack() {
    let mut h = Harness::new();
    h.udp(SIPP, &sipp_invite("busy", "z9hG4bK-busy")).unwrap();
    let call = h.incoming_call().call;
    h.responses();
    h.command(|e, now| e.reject(now, call, 486, "Busy Here"))
        .unwrap();
    let busy = h.responses();
    assert_eq!(busy[0].status, 486);
    assert!(matches!(
        h.events().as_slice(),
        [Event::CallEnded {
            reason: pinbridge_sip::EndReason::Rejected,
            ..
        }]
    ));
    // Timer G: 0.5, 1.5, 3.5, 7.5 s.
    h.advance(ms(7_600));
    let times: Vec<u128> = h.sent().iter().map(|(at, _)| at.as_millis()).collect();
    assert_eq!(times, vec![500, 1500, 3500, 7500]);
    // The ACK (same branch as the INVITE) stops the retransmissions.
    let ack = sipp_ack("busy", &to_tag(&busy[0]), 1).replace("z9hG4bK-100-1-ack1", "z9hG4bK-busy");
    h.udp(SIPP, &ack).unwrap();
    h.advance(secs(4));
    assert!(h.sent().is_empty());
    // Timer I (T4) then ends the transaction.
    h.advance(secs(2));
    assert_eq!(h.endpoint.transaction_count(), 0);
}

#[test]
fn timer_h_ends_the_transaction_without_ack() {
    let mut h = Harness::new();
    h.udp(SIPP, &sipp_invite("noack", "z9hG4bK-noack")).unwrap();
    let call = h.incoming_call().call;
    h.command(|e, now| e.reject(now, call, 603, "Decline"))
        .unwrap();
    h.sent();
    h.advance(secs(31));
    let retransmissions = h.sent().len();
    // 0.5, 1.5, 3.5, 7.5, then every 4 s: 11.5 ... 27.5 s.
    assert_eq!(retransmissions, 9);
    h.advance(secs(1));
    assert_eq!(h.sent().len(), 1, "the last one at 31.5 s");
    assert_eq!(h.endpoint.transaction_count(), 0, "Timer H at 64*T1");
    h.advance(secs(10));
    assert!(h.sent().is_empty());
}
