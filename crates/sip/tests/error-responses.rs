//! Requests we will not serve: 481, 405, 501, 400, 505, 406, 483, 403, 420, 416;
//! scanners and garbage dropped; OPTIONS answered; none of it disturbs a call in progress.

mod common;

use common::*;
use pinbridge_domain::Cidr;
use pinbridge_sip::{EndpointConfig, InputError};

#[test]
fn bye_in_unknown_dialog_gets_481() {
    let mut h = Harness::new();
    let bye = sipp_in_dialog("BYE", "nobody", "sometag", 2, "z9hG4bK-u", None, "");
    h.udp(SIPP, &bye).unwrap();
    assert_eq!(h.statuses(), vec![481]);
    let info = sipp_in_dialog("INFO", "nobody", "sometag", 3, "z9hG4bK-u2", None, "");
    h.udp(SIPP, &info).unwrap();
    assert_eq!(h.statuses(), vec![481]);
}

#[test]
fn unsupported_method_gets_405_with_allow() {
    let mut h = Harness::new();
    let register = with_body(
        "REGISTER sip:127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-reg
From: <sip:sipp@127.0.0.1>;tag=r1
To: <sip:sipp@127.0.0.1>
Call-ID: reg-1
CSeq: 1 REGISTER
Max-Forwards: 70
",
        None,
        "",
    );
    h.udp(SIPP, &register).unwrap();
    let responses = h.responses();
    assert_eq!(responses[0].status, 405);
    let allow = responses[0].headers.allow();
    assert!(allow.contains(&"INVITE") && allow.contains(&"BYE") && allow.contains(&"INFO"));
    assert!(responses[0].headers.to().unwrap().tag().is_some());
}

#[test]
fn unknown_method_gets_501_with_allow() {
    let mut h = Harness::new();
    let odd =
        sipp_in_dialog("NEWMETHOD", "odd-1", "t", 1, "z9hG4bK-odd", None, "").replace(";tag=t", "");
    h.udp(SIPP, &odd).unwrap();
    let responses = h.responses();
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, 501);
    assert!(responses[0].headers.allow().contains(&"INVITE"));
}

#[test]
fn unparsable_requests_get_400_and_other_versions_505() {
    let mut h = Harness::new();
    let short = sipp_invite("short", "z9hG4bK-short").replace(
        &format!("Content-Length: {}", sipp_sdp().len()),
        "Content-Length: 5000",
    );
    assert!(matches!(h.udp(SIPP, &short), Err(InputError::Malformed(_))));
    let responses = h.responses();
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, 400);
    assert_eq!(responses[0].headers.call_id().unwrap(), "short");
    assert_eq!(h.endpoint.transaction_count(), 0, "stateless");

    let version = sipp_invite("v7", "z9hG4bK-v7").replacen("SIP/2.0\r\n", "SIP/7.0\r\n", 1);
    assert!(h.udp(SIPP, &version).is_err());
    assert_eq!(h.statuses(), vec![505]);

    // From outside the allow-list a malformed request is not answered at all.
    assert!(h.udp("192.0.2.66:5060", &short).is_err());
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
}

#[test]
fn invite_whose_accept_leaves_out_sdp_gets_406() {
    let mut h = Harness::new();
    let invite = sipp_invite("acc", "z9hG4bK-acc")
        .replace("Subject: Performance Test", "Accept: text/plain");
    h.udp(SIPP, &invite).unwrap();
    assert_eq!(h.statuses(), vec![100, 406]);
    assert!(h.events().is_empty());
    let invite = sipp_invite("acc2", "z9hG4bK-acc2").replace(
        "Subject: Performance Test",
        "Accept: text/plain, application/sdp",
    );
    h.udp(SIPP, &invite).unwrap();
    h.incoming_call();
}

#[test]
fn a_reused_branch_is_another_request_when_its_call_id_differs() {
    // RFC 4475's messages share branches; each is answered for itself.
    let mut h = Harness::new();
    let options = |call_id: &str| {
        with_body(
            &format!(
                "OPTIONS sip:127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-same
From: <sip:ping@127.0.0.1>;tag=o1
To: <sip:127.0.0.1>
Call-ID: {call_id}
CSeq: 1 OPTIONS
Max-Forwards: 70
"
            ),
            None,
            "",
        )
    };
    h.udp(SIPP, &options("first")).unwrap();
    h.udp(SIPP, &options("second")).unwrap();
    h.udp(SIPP, &options("second")).unwrap();
    let call_ids: Vec<String> = h
        .responses()
        .iter()
        .map(|r| r.headers.call_id().unwrap().to_owned())
        .collect();
    assert_eq!(call_ids, ["first", "second", "second"]);
    assert_eq!(h.endpoint.transaction_count(), 2);
}

#[test]
fn missing_mandatory_header_gets_400_or_is_dropped() {
    let mut h = Harness::new();
    let no_call_id = sipp_invite("x", "z9hG4bK-400").replace("Call-ID: x\r\n", "");
    assert!(matches!(
        h.udp(SIPP, &no_call_id),
        Err(InputError::Malformed(_))
    ));
    let responses = h.responses();
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].status, 400);
    assert_eq!(responses[0].reason, "Missing Call-ID Header");
    assert!(h.events().is_empty());

    let bad_cseq = sipp_invite("y", "z9hG4bK-401").replace("CSeq: 1 INVITE", "CSeq: one INVITE");
    assert!(h.udp(SIPP, &bad_cseq).is_err());
    assert_eq!(h.statuses(), vec![400]);

    let no_via = sipp_invite("z", "z9hG4bK-402")
        .replace("Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-402\r\n", "");
    assert!(h.udp(SIPP, &no_via).is_err());
    assert!(h.sent().is_empty(), "no Via, no response possible");
    assert_eq!(h.endpoint.transaction_count(), 0);
}

#[test]
fn max_forwards_zero_gets_483() {
    let mut h = Harness::new();
    let invite = sipp_invite("mf", "z9hG4bK-mf").replace("Max-Forwards: 70", "Max-Forwards: 0");
    h.udp(SIPP, &invite).unwrap();
    assert_eq!(h.statuses(), vec![100, 483]);
    assert!(h.events().is_empty());
}

#[test]
fn peer_outside_the_allow_list_gets_403_and_no_dialog() {
    let mut h = Harness::new();
    let outsider = "192.0.2.66:5060";
    let invite = sipp_invite("outside", "z9hG4bK-out");
    assert_eq!(h.udp(outsider, &invite), Err(InputError::Denied));
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.destination.ip(), addr(outsider).ip());
    assert_eq!(h.statuses(), Vec::<u16>::new());
    let response = match pinbridge_sip::Message::parse(&sent[0].1.contents).unwrap() {
        pinbridge_sip::Message::Response(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(response.status, 403);
    assert!(h.events().is_empty());
    assert_eq!(h.endpoint.call_count(), 0);
    assert_eq!(h.endpoint.transaction_count(), 0);
}

#[test]
fn scanners_are_dropped_silently() {
    let mut h = Harness::new();
    let scan = with_body(
        "OPTIONS sip:100@192.0.2.1 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.7:5070;branch=z9hG4bK-1445626158;rport
Max-Forwards: 70
To: \"sipvicious\"<sip:100@1.1.1.1>
From: \"sipvicious\"<sip:100@1.1.1.1>;tag=6338313335306331333463340131333230323133313335
User-Agent: friendly-scanner
Call-ID: 804617325581046427924766
Contact: sip:100@198.51.100.7:5070
CSeq: 1 OPTIONS
Accept: application/sdp
",
        None,
        "",
    );
    assert_eq!(h.udp("198.51.100.7:5070", &scan), Err(InputError::Scanner));
    assert!(h.sent().is_empty());
}

#[test]
fn allow_list_admits_configured_networks() {
    let config = EndpointConfig {
        trunk_allow: vec!["192.0.2.0/24".parse::<Cidr>().unwrap()],
        ..EndpointConfig::default()
    };
    let mut h = Harness::with_config(config);
    h.udp("192.0.2.66:5061", &sipp_invite("trunk", "z9hG4bK-tr"))
        .unwrap();
    h.incoming_call();
    assert_eq!(
        h.udp(SIPP, &sipp_invite("lo", "z9hG4bK-lo")),
        Err(InputError::Denied)
    );
}

#[test]
fn options_is_answered_in_and_out_of_dialog() {
    let mut h = Harness::new();
    let options = with_body(
        "OPTIONS sip:127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-opt
From: <sip:ping@127.0.0.1>;tag=o1
To: <sip:127.0.0.1>
Call-ID: opt-1
CSeq: 1 OPTIONS
Max-Forwards: 0
",
        None,
        "",
    );
    h.udp(SIPP, &options).unwrap();
    let responses = h.responses();
    assert_eq!(
        responses[0].status, 200,
        "Max-Forwards 0 is fine for OPTIONS"
    );
    assert!(responses[0].headers.contains("Allow"));
    assert_eq!(
        responses[0].headers.first("Accept"),
        Some("application/sdp")
    );
    assert!(responses[0].headers.has_token("Supported", "timer"));
    // Timer J absorbs the retransmission.
    h.advance(secs(1));
    h.udp(SIPP, &options).unwrap();
    assert_eq!(h.responses(), responses);
    h.advance(secs(32));
    assert_eq!(h.endpoint.transaction_count(), 0);

    let (_, tag) = h.established_sipp_call("opt-2");
    let in_dialog = sipp_in_dialog("OPTIONS", "opt-2", &tag, 2, "z9hG4bK-o2", None, "");
    h.udp(SIPP, &in_dialog).unwrap();
    assert_eq!(h.statuses(), vec![200]);
}

#[test]
fn unsupported_extension_gets_420_and_foreign_scheme_416() {
    let mut h = Harness::new();
    let invite =
        sipp_invite("req", "z9hG4bK-req").replace("Subject: Performance Test", "Require: 100rel");
    h.udp(SIPP, &invite).unwrap();
    let responses = h.responses();
    assert_eq!(responses[1].status, 420);
    assert_eq!(responses[1].headers.first("Unsupported"), Some("100rel"));
    let mailto = sipp_invite("scheme", "z9hG4bK-sch").replace(
        "INVITE sip:5550100@127.0.0.1:5060",
        "INVITE mailto:x@example.com",
    );
    h.udp(SIPP, &mailto).unwrap();
    assert_eq!(h.statuses(), vec![100, 416]);
}

#[test]
fn unsupported_body_gets_415_and_bad_sdp_400() {
    let mut h = Harness::new();
    let multipart = sipp_invite("mp", "z9hG4bK-mp").replace(
        "Content-Type: application/sdp",
        "Content-Type: multipart/mixed;boundary=x",
    );
    h.udp(SIPP, &multipart).unwrap();
    assert_eq!(h.statuses(), vec![100, 415]);
    let bad = sipp_invite("badsdp", "z9hG4bK-bs").replace("v=0", "v=9");
    h.udp(SIPP, &bad).unwrap();
    assert_eq!(h.statuses(), vec![100, 400]);
    assert!(h.events().is_empty());
}

#[test]
fn garbage_does_not_disturb_a_call_in_progress() {
    let mut h = Harness::new();
    let (call, tag) = h.established_sipp_call("steady");
    for garbage in [
        &b"\x00\x01\x02garbage"[..],
        b"INVITE sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n",
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bKunknown\r\nCSeq: 1 BYE\r\n\r\n",
        b"\r\n\r\n",
        b"ACK sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-zz\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: none\r\nCSeq: 1 ACK\r\n\r\n",
    ] {
        let _ = h.deliver(pinbridge_sip::Transport::Udp, SIPP, garbage);
    }
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
    let info = sipp_in_dialog(
        "INFO",
        "steady",
        &tag,
        2,
        "z9hG4bK-s2",
        Some("application/dtmf"),
        "7",
    );
    h.udp(SIPP, &info).unwrap();
    assert_eq!(h.statuses(), vec![200]);
    assert_eq!(
        h.events(),
        vec![pinbridge_sip::Event::Dtmf {
            call,
            digit: '7',
            duration_ms: None
        }]
    );
}
