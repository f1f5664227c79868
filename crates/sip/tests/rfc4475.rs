//! RFC 4475's torture messages (`tests/data/rfc4475/`), replayed through the parser and
//! through the endpoint. `INDEX` there says, for every message, whether the RFC calls it
//! valid and what the endpoint must send back; each message is checked on its own and
//! every failure is reported with its file and section.

mod common;

use std::fs;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use common::*;
use pinbridge_domain::Cidr;
use pinbridge_sip::sdp::{self, MediaConfig};
use pinbridge_sip::{
    EndpointConfig, Event, Frame, Message, Response, StreamFramer, Transport, Via,
};

/// Where the corpus is sent from. No message carries `rport`, so responses go to the
/// sent-by port of their Via (RFC 3261 §18.2.2), not back to this one.
const SOURCE: &str = "127.0.0.1:5099";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// One final response with this status.
    Status(u16),
    /// The call is offered to the application, which accepts it.
    Call,
    /// Nothing is sent.
    Drop,
}

#[derive(Debug, Clone)]
struct Case {
    file: String,
    section: String,
    valid: bool,
    outcome: Outcome,
    title: String,
    bytes: Vec<u8>,
}

impl Case {
    fn name(&self) -> String {
        format!("{} (RFC 4475 {})", self.file, self.section)
    }
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/rfc4475")
}

/// The cases of `INDEX`, checked against the files in the directory.
fn cases() -> Vec<Case> {
    let dir = corpus_dir();
    let index = fs::read_to_string(dir.join("INDEX")).expect("INDEX");
    let mut cases = Vec::new();
    for line in index.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        // Columns are separated by two or more spaces; the title is the rest.
        let columns: Vec<&str> = line
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        let [file, section, verdict, outcome, title @ ..] = columns.as_slice() else {
            panic!("INDEX line has too few columns: {line}");
        };
        let title = title.join(" ");
        let valid = match *verdict {
            "valid" => true,
            "invalid" => false,
            other => panic!("INDEX: {file}: verdict {other:?}"),
        };
        let outcome = match *outcome {
            "call" => Outcome::Call,
            "drop" => Outcome::Drop,
            status => Outcome::Status(
                status
                    .parse()
                    .unwrap_or_else(|_| panic!("INDEX: {file}: outcome {status:?}")),
            ),
        };
        let bytes = fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        cases.push(Case {
            file: (*file).to_owned(),
            section: (*section).to_owned(),
            valid,
            outcome,
            title,
            bytes,
        });
    }
    let mut on_disk: Vec<String> = fs::read_dir(&dir)
        .expect("corpus directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".dat"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = cases.iter().map(|c| c.file.clone()).collect();
    listed.sort();
    assert_eq!(listed, on_disk, "INDEX and the .dat files disagree");
    assert_eq!(cases.len(), 50, "RFC 4475's archive holds 50 messages");
    cases
}

/// Runs one check per case, catching panics, and fails with every failure listed.
fn check_each(cases: &[Case], mut check: impl FnMut(&Case) -> Result<(), String>) {
    let mut failures = Vec::new();
    for case in cases {
        match catch_unwind(AssertUnwindSafe(|| check(case))) {
            Ok(Ok(())) => {}
            Ok(Err(why)) => failures.push(format!("{}: {why}\n    {}", case.name(), case.title)),
            Err(_) => failures.push(format!("{}: panicked", case.name())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} messages failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn the_parser_accepts_the_valid_messages_and_refuses_the_invalid_ones() {
    check_each(&cases(), |case| {
        let parsed = Message::parse(&case.bytes);
        let verdict = parsed.clone().and_then(|m| m.validate());
        match (case.valid, verdict) {
            (true, Ok(())) => {
                let message = parsed.map_err(|e| e.to_string())?;
                let again = Message::parse(&message.to_bytes())
                    .map_err(|e| format!("its serialization does not parse: {e}"))?;
                if again != message {
                    return Err("its serialization parses to another message".into());
                }
                Ok(())
            }
            (true, Err(e)) => Err(format!("valid, but refused: {e}")),
            (false, Ok(())) => Err("invalid, but parsed and validated".into()),
            (false, Err(_)) => Ok(()),
        }
    });
}

/// The endpoint the corpus meets: the source is on the trunk allow-list and no message
/// names a scanner, so every message is judged on its syntax and meaning alone.
fn harness() -> Harness {
    let config = EndpointConfig {
        trunk_allow: vec!["127.0.0.0/8".parse::<Cidr>().expect("cidr")],
        ..EndpointConfig::default()
    };
    Harness::with_config(config)
}

/// Delivers one message and plays the application: offered calls are answered with
/// `sdp::answer`, or refused with its status. Returns the responses sent, with their
/// destinations.
fn deliver(h: &mut Harness, case: &Case) -> Result<Vec<(SocketAddr, Response)>, String> {
    let _ = h.deliver(Transport::Udp, SOURCE, &case.bytes);
    for event in h.events() {
        let Event::IncomingCall(call) = event else {
            return Err(format!("unexpected event {event:?}"));
        };
        if case.outcome != Outcome::Call {
            return Err(format!("offered a call ({})", call.call_id));
        }
        let media = MediaConfig::new(addr(LOCAL).ip(), 20000, 1);
        let result = match call.offer.as_ref().map(|offer| sdp::answer(offer, &media)) {
            Some(Ok((answer, _))) => h.command(|e, now| e.accept(now, call.call, &answer)),
            Some(Err(e)) => {
                h.command(|ep, now| ep.reject(now, call.call, e.status_code(), "Not Acceptable"))
            }
            None => h.command(|e, now| e.reject(now, call.call, 488, "Not Acceptable Here")),
        };
        result.map_err(|e| format!("the application's answer was refused: {e}"))?;
    }
    h.sent()
        .into_iter()
        .map(|(_, t)| match Message::parse(&t.contents) {
            Ok(Message::Response(r)) => Ok((t.destination, r)),
            Ok(Message::Request(r)) => Err(format!("sent a {} request", r.method)),
            Err(e) => Err(format!(
                "sent something that does not parse ({e}): {:?}",
                String::from_utf8_lossy(&t.contents)
            )),
        })
        .collect()
}

/// The logical header lines of a raw message (folding undone, compact names as written).
fn raw_headers(bytes: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(bytes);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines: Vec<String> = Vec::new();
    for line in head.split("\r\n").skip(1) {
        match lines.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => {
                last.push(' ');
                last.push_str(line.trim_start());
            }
            _ => lines.push(line.to_owned()),
        }
    }
    lines
        .into_iter()
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            Some((name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        })
        .collect()
}

/// The raw values of a header (long or compact name) in a message.
fn raw_values(headers: &[(String, String)], long: &str, compact: Option<&str>) -> Vec<String> {
    headers
        .iter()
        .filter(|(name, _)| name == long || Some(name.as_str()) == compact)
        .map(|(_, value)| value.clone())
        .collect()
}

/// Where RFC 3261 §18.2.2 (with RFC 3581) sends a response over UDP.
fn expected_destination(top_via: &str) -> SocketAddr {
    let source = addr(SOURCE);
    let sent_by = top_via
        .split(';')
        .next()
        .and_then(|v| v.split_whitespace().last())
        .unwrap_or_default();
    if top_via.to_ascii_lowercase().contains(";rport") {
        return source;
    }
    let port = sent_by
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(5060);
    SocketAddr::new(source.ip(), port)
}

/// Checks that a response answers the request it was built for (RFC 3261 §8.2.6.2):
/// Via, From, Call-ID and CSeq copied, To copied with our tag added, sent where
/// §18.2.2 says.
fn answers(request: &[u8], destination: SocketAddr, response: &Response) -> Result<(), String> {
    let request = raw_headers(request);
    let headers = &response.headers;
    let vias = raw_values(&request, "via", Some("v"));
    let sent_vias: Vec<&str> = headers.all("Via").collect();
    if sent_vias.len() != vias.len() {
        return Err(format!(
            "{} Via lines, the request had {}",
            sent_vias.len(),
            vias.len()
        ));
    }
    for (index, (sent, asked)) in sent_vias.iter().zip(&vias).enumerate() {
        let top_entry = |v: &str| v.split(',').next().unwrap_or_default().trim().to_owned();
        let same = if index == 0 {
            // The top Via may have been stamped with received and rport (§18.2.1).
            match (Via::parse(&top_entry(sent)), Via::parse(&top_entry(asked))) {
                (Ok(s), Ok(a)) => s.host == a.host && s.port == a.port && s.branch() == a.branch(),
                _ => sent == asked,
            }
        } else {
            sent == asked
        };
        if !same {
            return Err(format!(
                "Via {index} is {sent:?}, the request's was {asked:?}"
            ));
        }
    }
    for (name, long, compact) in [
        ("From", "from", Some("f")),
        ("Call-ID", "call-id", Some("i")),
        ("CSeq", "cseq", None),
    ] {
        let sent: Vec<&str> = headers.all(name).collect();
        let asked = raw_values(&request, long, compact);
        if sent != asked {
            return Err(format!("{name} is {sent:?}, the request's was {asked:?}"));
        }
    }
    let asked_to = raw_values(&request, "to", Some("t"));
    let sent_to: Vec<&str> = headers.all("To").collect();
    match (asked_to.as_slice(), sent_to.as_slice()) {
        ([asked], [sent]) if sent == asked => {}
        ([asked], [sent]) if response.status > 100 => {
            let added = sent.strip_prefix(asked.as_str()).unwrap_or_default();
            if !added.starts_with(";tag=") || added.len() <= 5 {
                return Err(format!("To is {sent:?}, the request's was {asked:?}"));
            }
        }
        // Several To values (RFC 4475 §3.3.8): the first is answered.
        ([first, _, ..], [sent]) if sent.starts_with(first.as_str()) => {}
        ([], []) => {}
        (asked, sent) => return Err(format!("To is {sent:?}, the request's was {asked:?}")),
    }
    if let Some(top) = vias.first() {
        let want = expected_destination(top);
        if destination != want {
            return Err(format!(
                "sent to {destination}, RFC 3261 §18.2.2 says {want}"
            ));
        }
    }
    let needs = match response.status {
        405 | 501 => Some("Allow"),
        415 => Some("Accept"),
        420 => Some("Unsupported"),
        _ => None,
    };
    if let Some(name) = needs.filter(|n| !headers.contains(n)) {
        return Err(format!("{} without {name}", response.status));
    }
    Ok(())
}

/// What one message gets from an endpoint, against what INDEX says.
fn check_outcome(h: &mut Harness, case: &Case) -> Result<(), String> {
    let sent = deliver(h, case)?;
    for (destination, response) in &sent {
        answers(&case.bytes, *destination, response)
            .map_err(|e| format!("{} {}: {e}", response.status, response.reason))?;
    }
    let statuses: Vec<u16> = sent.iter().map(|(_, r)| r.status).collect();
    let finals: Vec<u16> = statuses.iter().copied().filter(|s| *s >= 200).collect();
    let provisional_ok = statuses
        .iter()
        .filter(|s| **s < 200)
        .all(|s| *s == 100 && case.bytes.starts_with(b"INVITE "));
    let want = match case.outcome {
        Outcome::Status(status) => vec![status],
        Outcome::Call => vec![200],
        Outcome::Drop => vec![],
    };
    if finals != want || !provisional_ok || (want.is_empty() && !statuses.is_empty()) {
        return Err(format!("expected final {want:?}, sent {statuses:?}"));
    }
    Ok(())
}

#[test]
fn every_message_gets_the_answer_rfc_4475_asks_for() {
    check_each(&cases(), |case| check_outcome(&mut harness(), case));
}

#[test]
fn the_whole_corpus_through_one_endpoint_leaves_no_state_behind() {
    let cases = cases();
    let mut h = harness();
    check_each(&cases, |case| {
        let result = check_outcome(&mut h, case);
        // Retransmissions of earlier answers are not this message's.
        h.advance(ms(10));
        let _ = h.sent();
        let _ = h.events();
        result
    });
    // The calls accepted get no ACK: they end with a BYE that gets no answer either.
    h.advance(secs(200));
    let _ = h.sent();
    let _ = h.events();
    assert_eq!(h.endpoint.call_count(), 0, "calls left behind");
    assert_eq!(
        h.endpoint.transaction_count(),
        0,
        "transactions left behind"
    );
    assert_eq!(h.endpoint.poll_timeout(), None, "timers left behind");
}

#[test]
fn over_tcp_nothing_panics_and_bad_framing_closes_the_connection() {
    check_each(&cases(), |case| {
        let mut h = harness();
        let mut framer = StreamFramer::new();
        framer.push(&case.bytes);
        let mut frames = 0;
        let framing = loop {
            match framer.next_frame() {
                Ok(Some(Frame::Message(message))) => {
                    frames += 1;
                    let _ = h.deliver(Transport::Tcp, SOURCE, &message);
                }
                Ok(Some(Frame::KeepAlivePing)) => {}
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        for (_, transmit) in h.sent() {
            if !matches!(Message::parse(&transmit.contents), Ok(Message::Response(_))) {
                return Err("sent something that is not a response".into());
            }
            if transmit.destination != addr(SOURCE) {
                return Err(format!(
                    "answered {} instead of the connection",
                    transmit.destination
                ));
            }
        }
        // RFC 3261 §18.3: Content-Length frames a stream; without a usable one the
        // connection cannot go on (RFC 4475 §3.1.2.3, §3.3.9).
        // On a stream the INVITE after dblreq's REGISTER is a second message, and it
        // has no Content-Length.
        let file = case.file.as_str();
        let unframeable = ["ncl.dat", "mcl01.dat", "inv2543.dat", "dblreq.dat"];
        match (unframeable.contains(&file), &framing) {
            (true, Err(_)) => Ok(()),
            (false, Err(e)) => Err(format!("framing failed: {e}")),
            (true, Ok(())) => Err("framed although its Content-Length cannot frame it".into()),
            (false, Ok(())) => match file {
                // The framer waits for the rest of the body, or of the header section.
                "clerr.dat" | "baddn.dat" => match frames {
                    0 => Ok(()),
                    _ => Err("framed although it is incomplete".into()),
                },
                _ if frames == 0 => Err("no message framed".into()),
                _ => Ok(()),
            },
        }
    });
}
