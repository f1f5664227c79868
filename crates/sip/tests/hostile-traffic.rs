//! Hostile traffic in virtual time: sources outside the allow-list answered with 403 or
//! dropped unparsed, scanners dropped whatever their source, per-source rate limits on
//! INVITE, OPTIONS, REGISTER and the rest in a bounded table (trunks exempt unless
//! configured otherwise), and the caps on server transactions and calls; a flood from
//! one address leaves a trunk's call alone.

mod common;

use std::net::IpAddr;

use common::*;
use pinbridge_domain::Cidr;
use pinbridge_sip::{
    EndpointConfig, InputError, Rate, RequestClass, SourceLimits, Transport, Untrusted,
};

const OUTSIDER: &str = "192.0.2.9:5060";

fn options(from: &str, branch: &str, user_agent: &str) -> String {
    let host = from.split(':').next().unwrap_or_default();
    with_body(
        &format!(
            "OPTIONS sip:5550100@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {from};branch=z9hG4bK-{branch}
From: <sip:probe@{host}>;tag=p{branch}
To: <sip:5550100@127.0.0.1>
Call-ID: opt-{branch}
CSeq: 1 OPTIONS
Max-Forwards: 70
User-Agent: {user_agent}
"
        ),
        None,
        "",
    )
}

fn invite_from(from: &str, call_id: &str, branch: &str) -> String {
    sipp_invite(call_id, branch).replace("127.0.0.1:5061", from)
}

fn register(from: &str, branch: &str) -> String {
    with_body(
        &format!(
            "REGISTER sip:127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP {from};branch=z9hG4bK-{branch}
From: <sip:100@127.0.0.1>;tag=r{branch}
To: <sip:100@127.0.0.1>
Call-ID: reg-{branch}
CSeq: 1 REGISTER
Contact: <sip:100@{from}>
Max-Forwards: 70
"
        ),
        None,
        "",
    )
}

fn limits(per_second: u32, burst: u32) -> SourceLimits {
    let rate = Some(Rate { per_second, burst });
    SourceLimits {
        invite: rate,
        options: rate,
        register: rate,
        other: rate,
        ..SourceLimits::default()
    }
}

#[test]
fn outsiders_can_be_dropped_without_a_word() {
    let mut h = Harness::with_config(EndpointConfig {
        untrusted: Untrusted::Drop,
        ..EndpointConfig::default()
    });
    for (i, request) in [
        invite_from(OUTSIDER, "drop-1", "z9hG4bK-d1"),
        options(OUTSIDER, "d2", "Linphone"),
        register(OUTSIDER, "d3"),
        "\u{1}\u{2}not sip at all".to_owned(),
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(h.udp(OUTSIDER, request), Err(InputError::Denied), "{i}");
    }
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
    assert_eq!(h.endpoint.transaction_count(), 0);
    assert_eq!(h.endpoint.call_count(), 0);
    // Dropped before the limiter: an outsider takes no room in its table.
    assert_eq!(h.endpoint.limited_sources(), 0);
    // The trunk is still served.
    h.udp(SIPP, &sipp_invite("trunk", "z9hG4bK-t1")).unwrap();
    h.incoming_call();
}

#[test]
fn scanners_are_dropped_even_from_a_trunk_in_any_case() {
    let mut h = Harness::new();
    for (i, agent) in [
        "friendly-scanner",
        "SIPVicious 0.3.4",
        "sipcli/v1.8",
        "Mozilla/5.0 SipSak",
    ]
    .iter()
    .enumerate()
    {
        let request = options(SIPP, &format!("s{i}"), agent);
        assert_eq!(h.udp(SIPP, &request), Err(InputError::Scanner), "{agent}");
    }
    assert!(h.sent().is_empty());
    assert_eq!(h.endpoint.transaction_count(), 0);
    // A trunk's own user agent is served.
    h.udp(SIPP, &options(SIPP, "ok", "Asterisk PBX 20"))
        .unwrap();
    assert_eq!(h.statuses(), vec![200]);
}

#[test]
fn an_outsider_gets_403s_only_within_its_rate_limits() {
    let mut h = Harness::with_config(EndpointConfig {
        limits: limits(2, 3),
        ..EndpointConfig::default()
    });
    let mut invites = Vec::new();
    for i in 0..10 {
        let request = invite_from(OUTSIDER, &format!("inv-{i}"), &format!("z9hG4bK-i{i}"));
        invites.push(h.udp(OUTSIDER, &request));
    }
    assert_eq!(invites[..3], [const { Err(InputError::Denied) }; 3]);
    assert!(
        invites[3..]
            .iter()
            .all(|r| *r == Err(InputError::RateLimited(RequestClass::Invite))),
        "{invites:?}"
    );
    assert_eq!(h.statuses(), vec![403; 3]);
    // OPTIONS and REGISTER have buckets of their own.
    for i in 0..5 {
        let _ = h.udp(OUTSIDER, &options(OUTSIDER, &format!("o{i}"), "x"));
        let _ = h.udp(OUTSIDER, &register(OUTSIDER, &format!("r{i}")));
    }
    assert_eq!(h.statuses(), vec![403; 6]);
    assert_eq!(
        h.udp(OUTSIDER, &register(OUTSIDER, "r9")),
        Err(InputError::RateLimited(RequestClass::Register))
    );
    // Garbage counts against "other".
    for _ in 0..3 {
        assert!(matches!(
            h.udp(OUTSIDER, "GARBAGE\u{0}"),
            Err(InputError::Malformed(_))
        ));
    }
    assert_eq!(
        h.udp(OUTSIDER, "GARBAGE\u{0}"),
        Err(InputError::RateLimited(RequestClass::Other))
    );
    // Two a second come back.
    h.advance(secs(1));
    let request = invite_from(OUTSIDER, "inv-late", "z9hG4bK-late");
    assert_eq!(h.udp(OUTSIDER, &request), Err(InputError::Denied));
    let request = invite_from(OUTSIDER, "inv-late2", "z9hG4bK-late2");
    assert_eq!(h.udp(OUTSIDER, &request), Err(InputError::Denied));
    let request = invite_from(OUTSIDER, "inv-late3", "z9hG4bK-late3");
    assert_eq!(
        h.udp(OUTSIDER, &request),
        Err(InputError::RateLimited(RequestClass::Invite))
    );
    assert_eq!(h.statuses(), vec![403, 403]);
    assert_eq!(h.endpoint.transaction_count(), 0);
}

#[test]
fn trunks_are_exempt_unless_told_otherwise() {
    let mut h = Harness::with_config(EndpointConfig {
        limits: limits(1, 1),
        ..EndpointConfig::default()
    });
    for i in 0..200 {
        h.udp(SIPP, &options(SIPP, &format!("t{i}"), "trunk"))
            .unwrap();
    }
    assert_eq!(h.statuses(), vec![200; 200]);
    assert_eq!(h.endpoint.limited_sources(), 0);

    let mut h = Harness::with_config(EndpointConfig {
        limits: SourceLimits {
            limit_trunks: true,
            ..limits(1, 1)
        },
        ..EndpointConfig::default()
    });
    h.udp(SIPP, &options(SIPP, "a", "trunk")).unwrap();
    assert_eq!(
        h.udp(SIPP, &options(SIPP, "b", "trunk")),
        Err(InputError::RateLimited(RequestClass::Options))
    );
    assert_eq!(h.statuses(), vec![200]);
}

#[test]
fn the_limiter_table_is_bounded_whatever_the_number_of_sources() {
    let mut h = Harness::with_config(EndpointConfig {
        limits: SourceLimits {
            table_size: 64,
            ..limits(1, 1)
        },
        ..EndpointConfig::default()
    });
    for i in 0..5_000u32 {
        let ip = IpAddr::from((0xc633_6400u32 + i).to_be_bytes());
        let from = format!("{ip}:5060");
        let _ = h.udp(&from, "OPTIONS garbage");
        assert!(h.endpoint.limited_sources() <= 64);
    }
    assert!(h.sent().is_empty());
}

#[test]
fn server_transactions_are_capped_with_a_503() {
    let mut h = Harness::with_config(EndpointConfig {
        max_transactions: 4,
        ..EndpointConfig::default()
    });
    for i in 0..4 {
        h.udp(SIPP, &options(SIPP, &format!("c{i}"), "trunk"))
            .unwrap();
    }
    assert_eq!(
        h.udp(SIPP, &options(SIPP, "c4", "trunk")),
        Err(InputError::Overloaded)
    );
    let responses = h.responses();
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 200, 200, 200, 503]);
    assert!(responses[4].headers.first("Retry-After").is_some());
    assert_eq!(h.endpoint.transaction_count(), 4);
    // A retransmission of a held transaction is still absorbed.
    h.udp(SIPP, &options(SIPP, "c0", "trunk")).unwrap();
    assert_eq!(h.statuses(), vec![200]);
    // Timer J frees them (64·T1 over UDP); then requests are served again.
    h.advance(secs(33));
    assert_eq!(h.endpoint.transaction_count(), 0);
    h.udp(SIPP, &options(SIPP, "c5", "trunk")).unwrap();
    assert_eq!(h.statuses(), vec![200]);
}

#[test]
fn calls_are_capped_with_a_503() {
    let mut h = Harness::with_config(EndpointConfig {
        max_calls: 2,
        ..EndpointConfig::default()
    });
    for i in 0..2 {
        h.udp(
            SIPP,
            &sipp_invite(&format!("cap-{i}"), &format!("z9hG4bK-cap{i}")),
        )
        .unwrap();
        h.incoming_call();
    }
    assert_eq!(
        h.udp(SIPP, &sipp_invite("cap-2", "z9hG4bK-cap2")),
        Err(InputError::Overloaded)
    );
    assert_eq!(h.statuses(), vec![100, 100, 503]);
    assert!(h.events().is_empty());
    assert_eq!(h.endpoint.call_count(), 2);
    // OPTIONS, which opens no dialog, is still served.
    h.udp(SIPP, &options(SIPP, "still", "trunk")).unwrap();
    assert_eq!(h.statuses(), vec![200]);
}

#[test]
fn a_flood_from_one_address_leaves_a_trunk_call_alone() {
    let mut h = Harness::with_config(EndpointConfig {
        trunk_allow: vec!["127.0.0.1/32".parse::<Cidr>().unwrap()],
        ..EndpointConfig::default()
    });
    let (call, tag) = h.established_sipp_call("flooded");
    let flooder = "127.0.0.9:5060";
    let kinds = [
        options(flooder, "x", "friendly-scanner"),
        invite_from(flooder, "scan", "z9hG4bK-scan"),
        register(flooder, "reg"),
        "\u{0}\u{1}\u{2}\u{3}".to_owned(),
        "INVITE sip:x SIP/2.0\r\nVia: broken\r\n\r\n".to_owned(),
    ];
    let mut answered = 0;
    for i in 0..20_000usize {
        // 2,000 a second for ten seconds.
        if i % 20 == 0 {
            h.advance(ms(10));
        }
        let mut datagram = kinds[i % kinds.len()].clone();
        datagram = datagram.replace("z9hG4bK-", &format!("z9hG4bK-{i}-"));
        assert!(h.udp(flooder, &datagram).is_err());
        answered += h.sent().len();
    }
    // Only the 403s its INVITE and REGISTER buckets allow (by default a burst of 20
    // then ten a second, and 4 then two a second); scanners and garbage get nothing.
    let bound = (20 + 10 * 10 + 1) + (4 + 2 * 10 + 1);
    assert!(answered <= bound, "{answered} answers to the flood");
    assert!(answered >= 100, "{answered} answers to the flood");
    assert!(h.events().is_empty());
    assert_eq!(h.endpoint.call_count(), 1);
    // Only the call's own INVITE transaction (Timer L runs 32 s), none of the flood's.
    assert!(h.endpoint.transaction_count() <= 1);
    assert_eq!(h.endpoint.limited_sources(), 1);
    // The call goes on: its BYE is answered and it ends.
    let bye = sipp_in_dialog("BYE", "flooded", &tag, 2, "z9hG4bK-bye", None, "");
    h.deliver(Transport::Udp, SIPP, bye.as_bytes()).unwrap();
    assert_eq!(h.statuses(), vec![200]);
    let events = h.events();
    assert!(
        matches!(events.as_slice(), [pinbridge_sip::Event::CallEnded { call: c, .. }] if *c == call),
        "{events:?}"
    );
}

#[test]
fn responses_are_never_limited() {
    let mut h = Harness::with_config(EndpointConfig {
        limits: SourceLimits {
            limit_trunks: true,
            ..limits(1, 1)
        },
        ..EndpointConfig::default()
    });
    // From outside: dropped unparsed, taking no room in the limiter's table.
    for _ in 0..5 {
        assert_eq!(
            h.udp(OUTSIDER, "SIP/2.0 200 OK\r\n\r\n"),
            Err(InputError::Denied)
        );
    }
    assert_eq!(h.endpoint.limited_sources(), 0);
    // From a limited trunk: its INVITE and ACK take the only tokens; the 200 to our BYE
    // still ends the call.
    let (call, _) = h.established_sipp_call("limited");
    h.command(|e, now| e.hangup(now, call)).unwrap();
    let (bye, _) = h.requests().pop().expect("our BYE");
    let ok = format!(
        "SIP/2.0 200 OK\r\n{}Content-Length: 0\r\n\r\n",
        ["Via", "From", "To", "Call-ID", "CSeq"]
            .iter()
            .map(|name| format!("{name}: {}\r\n", bye.headers.first(name).unwrap()))
            .collect::<String>()
    );
    h.udp(SIPP, &ok).unwrap();
    assert_eq!(h.endpoint.call_count(), 0);
}
