//! Session timers (RFC 4028): 422 below Min-SE, the interval echoed with the caller as
//! refresher, the call torn down when no refresh arrives, refreshes resetting the timer.

mod common;

use common::*;
use pinbridge_sip::{EndReason, Event, Method, Refresher};

fn invite_with_timer(call_id: &str, branch: &str, expires: &str) -> String {
    sipp_invite(call_id, branch).replace(
        "Subject: Performance Test\r\n",
        &format!("Supported: timer\r\nSession-Expires: {expires}\r\nMin-SE: 90\r\n"),
    )
}

#[test]
fn too_small_interval_gets_422_with_min_se() {
    let mut h = Harness::new();
    h.udp(SIPP, &invite_with_timer("st-1", "z9hG4bK-st1", "60"))
        .unwrap();
    let responses = h.responses();
    assert_eq!(responses[1].status, 422);
    assert_eq!(responses[1].headers.min_se().unwrap(), Some(90));
    assert!(h.events().is_empty());
}

#[test]
fn session_expires_without_refresh_ends_the_call() {
    let mut h = Harness::new();
    h.udp(SIPP, &invite_with_timer("st-2", "z9hG4bK-st2", "90"))
        .unwrap();
    let call = h.incoming_call().call;
    h.command(|e, now| e.accept(now, call, &answer_for(&sipp_sdp())))
        .unwrap();
    let ok = h.responses().pop().unwrap();
    let expires = ok.headers.session_expires().unwrap().unwrap();
    assert_eq!(expires.delta, 90);
    assert_eq!(expires.refresher, Some(Refresher::Uac));
    assert!(ok.headers.has_token("Require", "timer"));
    h.udp(SIPP, &sipp_ack("st-2", &to_tag(&ok), 1)).unwrap();
    h.events();
    // 90 s minus min(32, 90/3) = 60 s.
    h.advance(ms(59_999));
    assert!(h.events().is_empty());
    h.advance(ms(1));
    assert_eq!(
        h.events(),
        vec![Event::CallEnded {
            call,
            reason: EndReason::SessionExpired
        }]
    );
    let requests = h.requests();
    assert_eq!(requests[0].0.method, Method::Bye);
}

#[test]
fn refresh_reinvite_resets_the_timer() {
    let mut h = Harness::new();
    h.udp(
        SIPP,
        &invite_with_timer("st-3", "z9hG4bK-st3", "1800;refresher=uac"),
    )
    .unwrap();
    let call = h.incoming_call().call;
    h.command(|e, now| e.accept(now, call, &answer_for(&sipp_sdp())))
        .unwrap();
    let ok = h.responses().pop().unwrap();
    let tag = to_tag(&ok);
    h.udp(SIPP, &sipp_ack("st-3", &tag, 1)).unwrap();
    h.events();
    // Refresh at 900 s with the same SDP: answered by the endpoint.
    h.advance(secs(900));
    let refresh = sipp_in_dialog(
        "INVITE",
        "st-3",
        &tag,
        2,
        "z9hG4bK-ref",
        Some("application/sdp"),
        &sipp_sdp(),
    )
    .replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nSupported: timer\r\nSession-Expires: 1800;refresher=uac\r\n",
    );
    h.udp(SIPP, &refresh).unwrap();
    let responses = h.responses();
    assert_eq!(responses.last().unwrap().status, 200);
    h.udp(SIPP, &sipp_ack("st-3", &tag, 2)).unwrap();
    // The old deadline (1800 - 32 s after the answer) passes without ending the call.
    h.advance(secs(900));
    assert!(
        h.events()
            .iter()
            .all(|e| !matches!(e, Event::CallEnded { .. }))
    );
    h.advance(secs(900));
    assert!(h.events().iter().any(|e| matches!(
        e,
        Event::CallEnded {
            reason: EndReason::SessionExpired,
            ..
        }
    )));
}

#[test]
fn large_interval_is_lowered_and_uas_refresher_declined() {
    let mut h = Harness::new();
    h.udp(SIPP, &invite_with_timer("st-4", "z9hG4bK-st4", "7200"))
        .unwrap();
    let call = h.incoming_call().call;
    h.command(|e, now| e.accept(now, call, &answer_for(&sipp_sdp())))
        .unwrap();
    let ok = h.responses().pop().unwrap();
    assert_eq!(ok.headers.session_expires().unwrap().unwrap().delta, 1800);

    h.udp(
        SIPP,
        &invite_with_timer("st-5", "z9hG4bK-st5", "1800;refresher=uas"),
    )
    .unwrap();
    let call = h.incoming_call().call;
    h.command(|e, now| e.accept(now, call, &answer_for(&sipp_sdp())))
        .unwrap();
    let ok = h.responses().pop().unwrap();
    assert!(
        ok.headers.session_expires().unwrap().is_none(),
        "we never refresh, so we decline"
    );
}
