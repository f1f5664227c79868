//! No ACK for our 2xx: after 64*T1 the call is torn down with a BYE (§13.3.1.4), and
//! the BYE is retransmitted by Timer E until Timer F.

mod common;

use common::*;
use pinbridge_sip::{EndReason, Event, Method, Transport};

#[test]
fn missing_ack_ends_the_call_with_bye() {
    let mut h = Harness::new();
    h.udp(SIPP, &sipp_invite("noack@h", "z9hG4bK-na")).unwrap();
    let call = h.incoming_call().call;
    h.command(|e, now| e.accept(now, call, &answer_for(&sipp_sdp())))
        .unwrap();
    let ok = h.responses().pop().unwrap();
    h.advance(ms(31_999));
    assert!(h.events().is_empty());
    // 0.5, 1.5, 3.5, 7.5, 11.5 ... 31.5: ten retransmissions of the 200.
    assert_eq!(h.sent().len(), 10);

    h.advance(ms(1));
    assert_eq!(
        h.events(),
        vec![Event::CallEnded {
            call,
            reason: EndReason::AckTimeout
        }]
    );
    let requests = h.requests();
    assert_eq!(requests.len(), 1);
    let (bye, destination) = &requests[0];
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(*destination, addr(SIPP));
    assert_eq!(
        bye.uri.to_string(),
        "sip:sipp@127.0.0.1:5061",
        "Request-URI is the Contact"
    );
    assert_eq!(
        bye.headers.from().unwrap().tag(),
        Some(to_tag(&ok).as_str())
    );
    assert_eq!(bye.headers.to().unwrap().tag(), Some("100SIPpTag001"));
    assert_eq!(bye.headers.call_id().unwrap(), "noack@h");
    assert!(bye.headers.top_via().unwrap().has_rfc3261_branch());

    // Timer E: 0.5, 1.5, 3.5, 7.5, then every T2, until Timer F at 32 s.
    h.advance(ms(7_600));
    let times: Vec<u128> = h
        .sent()
        .iter()
        .map(|(at, _)| at.as_millis() - 32_000)
        .collect();
    assert_eq!(times, vec![500, 1500, 3500, 7500]);
    h.advance(secs(25));
    assert_eq!(
        h.endpoint.call_count(),
        0,
        "Timer F gave up and the dialog is gone"
    );
    assert_eq!(
        h.endpoint.poll_timeout(),
        None,
        "every transaction ended too"
    );
}

#[test]
fn tcp_does_not_retransmit_but_still_times_out() {
    let mut h = Harness::new();
    let invite = sipp_invite("tcp-noack", "z9hG4bK-t").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    h.deliver(Transport::Tcp, SIPP, invite.as_bytes()).unwrap();
    let call = h.incoming_call().call;
    h.command(|e, now| e.accept(now, call, &answer_for(&sipp_sdp())))
        .unwrap();
    assert_eq!(h.sent().len(), 2, "100 and 200");
    h.advance(ms(31_999));
    assert!(h.sent().is_empty(), "no 2xx retransmission over TCP");
    h.advance(ms(1));
    let requests = h.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].1,
        addr(SIPP),
        "BYE on the connection the call came in on"
    );
    h.advance(secs(31));
    assert!(h.sent().is_empty(), "no Timer E over TCP");
}
