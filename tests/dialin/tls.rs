//! SIP over TLS with SRTP (`--sip-tls`): baresip calls over TLS with SDES-SRTP required
//! and completes the organiser PIN flow, its keys and the prompts it hears carried only
//! as SRTP; an SRTP offer gets pinbridge's own key and its session timer (RFC 4028)
//! over TLS as over UDP; a plain-RTP offer on TLS is refused with 488 and a Warning
//! saying why (answered where `--sip-tls-plain-rtp` allows it); with
//! `--sip-tls-client-ca`, a client whose certificate that CA did not issue (or that
//! shows none) gets no SIP answer and the failed handshake is counted.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use common::phone::bridge::{self, Bridge};
use common::phone::*;
use pinbridge_testkit::tls::{Pki, TlsClient};

/// `serve` with SIP over TLS on the test PKI's server certificate, and `extra` flags.
fn start(pki: &Pki, extra: &[&str]) -> (Bridge, SocketAddr) {
    let mut flags = vec![
        "--sip-tls",
        "127.0.0.1:0",
        "--tls-cert",
        pki.server_cert.to_str().unwrap(),
        "--tls-key",
        pki.server_key.to_str().unwrap(),
    ];
    flags.extend_from_slice(extra);
    let bridge = bridge::start(&flags);
    let tls = bridge
        .serve
        .sip_tls
        .expect("serve printed no tls: address among its SIP addresses");
    (bridge, tls)
}

#[test]
fn baresip_over_tls_with_srtp_starts_the_meeting_and_hears_the_prompts() {
    let pki = Pki::create();
    let (bridge, tls) = start(&pki, &[]);
    let conference = bridge.meeting(&[]);
    let dir = common::tempdir();
    let capture = bridge.capture(dir.path());
    let mut phone = Baresip::start_with(&BaresipOptions {
        tone_hz: 700.0,
        tls_ca: Some(pki.ca_cert.clone()),
        ..BaresipOptions::default()
    });
    phone.dial(&format!("sip:{}@{tls};transport=tls", bridge.number));
    phone.wait_event("CALL_ESTABLISHED", Duration::from_secs(30));
    // The organiser's keys at a person's pace, a pause where the keys have one (`,`).
    for key in bridge.organiser_keys(&conference).chars() {
        if key != ',' {
            phone.key(key);
        }
        std::thread::sleep(Duration::from_millis(KEY_MS + KEY_GAP_MS));
    }
    bridge.wait_state(&conference, "the organiser joins over TLS", |s| {
        s.started && s.organisers_in_meeting() == 1
    });
    // The prompt that follows the PIN, and a second more, reach baresip.
    let reference = prompt("joining-as-organiser");
    let from_pinbridge = |d: &pinbridge_testkit::pcap::Datagram| {
        (bridge.rtp_low..=bridge.rtp_high).contains(&d.src.port())
    };
    let rtp_port = capture
        .datagrams()
        .iter()
        .find(|d| from_pinbridge(d))
        .expect("media from pinbridge before the organiser joined")
        .src
        .port();
    let sent_at_join = capture
        .datagrams()
        .iter()
        .filter(|d| from_pinbridge(d))
        .count();
    wait_for(
        "the prompt's length of media to baresip",
        Duration::from_secs(30),
        || {
            let sent = capture
                .datagrams()
                .iter()
                .filter(|d| from_pinbridge(d))
                .count();
            ((sent - sent_at_join) * 160 > reference.len() + 8000).then_some(())
        },
    );
    phone.hang_up();
    phone.wait_event("CALL_CLOSED", Duration::from_secs(30));
    bridge.wait_state(&conference, "the organiser leaves", |s| {
        s.participants.is_empty()
    });
    let heard = phone.stop();
    let datagrams = capture.stop();

    let score = prompt_score(&reference, &heard);
    assert!(
        score > 0.8,
        "baresip heard joining-as-organiser at correlation {score:.3}"
    );
    // On the wire the same audio is SRTP: read as plain G.711 it is noise.
    let on_the_wire = received_audio(&datagrams, rtp_port);
    assert!(
        on_the_wire.samples.len() > reference.len(),
        "{} samples captured from port {rtp_port}",
        on_the_wire.samples.len()
    );
    let plain_score = prompt_score(&reference, &on_the_wire.samples);
    assert!(
        plain_score < 0.3,
        "the captured payloads are plain audio (correlation {plain_score:.3})"
    );
    // (Baresip also sends a plain RTCP APP "PINGPONG" keepalive, which an SRTP call
    // rightly refuses: pinbridge_srtp_packets_refused_total is not 0 here.)
    assert_eq!(
        bridge.metric("pinbridge_sip_tls_handshakes_failed_total"),
        0.0
    );
}

/// An INVITE over the TLS connection `client` with `sdp` as its body.
fn invite(client: &TlsClient, sdp: &str) -> String {
    let local = client.local;
    format!(
        "INVITE sip:+14255550100@127.0.0.1;transport=tls SIP/2.0\r\n\
         Via: SIP/2.0/TLS {local};branch=z9hG4bK-tls-plain-1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:+15555550123@127.0.0.1>;tag=tls-1\r\n\
         To: <sip:+14255550100@127.0.0.1>\r\n\
         Call-ID: plain-rtp-on-tls@test\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:+15555550123@{local};transport=tls>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

fn plain_rtp_offer() -> String {
    "v=0\r\n\
     o=- 1 1 IN IP4 127.0.0.1\r\n\
     s=-\r\n\
     c=IN IP4 127.0.0.1\r\n\
     t=0 0\r\n\
     m=audio 40000 RTP/AVP 0 101\r\n\
     a=rtpmap:0 PCMU/8000\r\n\
     a=rtpmap:101 telephone-event/8000\r\n"
        .to_owned()
}

/// The final response in what arrived, with its headers.
fn final_response(received: &str) -> Option<&str> {
    received
        .split("SIP/2.0 ")
        .skip(1)
        .find(|r| !r.starts_with('1'))
}

/// Sends `request` over `client` and returns the final response, with its headers and
/// body.
fn exchange(client: &mut TlsClient, request: &str) -> String {
    client.send(request.as_bytes()).unwrap();
    let received = client
        .read_until(Duration::from_secs(10), |r| final_response(r).is_some())
        .unwrap();
    final_response(&received)
        .unwrap_or_else(|| panic!("no final response over TLS: {received:?}"))
        .to_owned()
}

#[test]
fn a_plain_rtp_offer_over_tls_is_refused_with_a_reason() {
    let pki = Pki::create();
    let (bridge, tls) = start(&pki, &[]);
    let mut client = TlsClient::connect(tls, &pki.ca_cert, None).expect("TLS handshake");
    let request = invite(&client, &plain_rtp_offer());
    let response = exchange(&mut client, &request);
    let response = response.as_str();
    assert!(response.starts_with("488 "), "{response}");
    assert!(
        response
            .lines()
            .any(|l| l.starts_with("Warning: 399 pinbridge ") && l.contains("SRTP")),
        "no Warning saying why: {response}"
    );
    assert_eq!(
        bridge.metric("pinbridge_calls_refused_plain_rtp_total"),
        1.0
    );
    assert_eq!(bridge.metric("pinbridge_active_calls"), 0.0);
}

#[test]
fn with_plain_rtp_allowed_the_same_offer_is_answered_with_plain_rtp() {
    let pki = Pki::create();
    let (bridge, tls) = start(&pki, &["--sip-tls-plain-rtp"]);
    let mut client = TlsClient::connect(tls, &pki.ca_cert, None).expect("TLS handshake");
    let request = invite(&client, &plain_rtp_offer());
    let response = exchange(&mut client, &request);
    let response = response.as_str();
    assert!(response.starts_with("200 "), "{response}");
    assert!(response.contains("m=audio ") && response.contains(" RTP/AVP "));
    assert!(!response.contains("a=crypto:"), "{response}");
    assert_eq!(
        bridge.metric("pinbridge_calls_refused_plain_rtp_total"),
        0.0
    );
}

#[test]
fn an_srtp_offer_over_tls_is_answered_with_srtp_and_its_session_timer() {
    let pki = Pki::create();
    let (bridge, tls) = start(&pki, &[]);
    let mut client = TlsClient::connect(tls, &pki.ca_cert, None).expect("TLS handshake");
    let offer = plain_rtp_offer()
        .replace("RTP/AVP", "RTP/SAVP")
        .replace(
            "a=rtpmap:0 PCMU/8000\r\n",
            "a=rtpmap:0 PCMU/8000\r\n\
             a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r\n",
        );
    let request = invite(&client, &offer).replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nSupported: timer\r\nSession-Expires: 120;refresher=uac\r\n",
    );
    let response = exchange(&mut client, &request);
    let response = response.as_str();
    assert!(response.starts_with("200 "), "{response}");
    assert!(response.contains(" RTP/SAVP "), "{response}");
    let crypto = response
        .lines()
        .find_map(|l| l.strip_prefix("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"))
        .unwrap_or_else(|| panic!("no crypto attribute under our tag: {response}"));
    assert!(
        !crypto.starts_with("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"),
        "pinbridge answered with the caller's own key"
    );
    assert!(
        response
            .lines()
            .any(|l| l == "Session-Expires: 120;refresher=uac"),
        "{response}"
    );
    assert!(
        response.lines().any(|l| l == "Require: timer"),
        "{response}"
    );
    assert!(
        response
            .lines()
            .any(|l| l.starts_with("Contact: <sip:") && l.ends_with(";transport=tls>")),
        "{response}"
    );
    assert_eq!(bridge.metric("pinbridge_active_calls"), 1.0);
}

fn options(client: &TlsClient) -> String {
    let local = client.local;
    format!(
        "OPTIONS sip:+14255550100@127.0.0.1;transport=tls SIP/2.0\r\n\
         Via: SIP/2.0/TLS {local};branch=z9hG4bK-tls-options-1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:trunk@127.0.0.1>;tag=tls-options\r\n\
         To: <sip:+14255550100@127.0.0.1>\r\n\
         Call-ID: tls-options@test\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// What an OPTIONS over a TLS connection brings back: the response, or the error that
/// stopped the connection (the handshake's or the read's), as text.
fn ask(
    tls: SocketAddr,
    pki: &Pki,
    identity: Option<(&std::path::Path, &std::path::Path)>,
) -> Result<String, String> {
    let mut client = TlsClient::connect(tls, &pki.ca_cert, identity)?;
    client.send(options(&client).as_bytes())?;
    client.read_until(Duration::from_secs(10), |r| final_response(r).is_some())
}

#[test]
fn with_a_client_ca_only_clients_it_issued_get_an_answer() {
    let pki = Pki::create();
    let (bridge, tls) = start(
        &pki,
        &["--sip-tls-client-ca", pki.ca_cert.to_str().unwrap()],
    );
    let trusted = ask(
        tls,
        &pki,
        Some((pki.client_cert.as_path(), pki.client_key.as_path())),
    )
    .expect("the CA's client is served");
    assert!(
        final_response(&trusted).is_some_and(|r| r.starts_with("200 ")),
        "{trusted:?}"
    );

    for (who, identity) in [
        (
            "a self-signed certificate",
            Some((pki.rogue_cert.as_path(), pki.rogue_key.as_path())),
        ),
        ("no certificate", None),
    ] {
        match ask(tls, &pki, identity) {
            Err(error) => assert!(!error.is_empty(), "{who}"),
            Ok(received) => assert!(
                !received.contains("SIP/2.0 "),
                "{who} got a SIP answer: {received:?}"
            ),
        }
    }
    // Both refusals are counted once the server has seen them.
    wait_for(
        "two failed handshakes in /metrics",
        Duration::from_secs(10),
        || (bridge.metric("pinbridge_sip_tls_handshakes_failed_total") == 2.0).then_some(()),
    );
}
