//! Responses of the UAS (RFC 3261 §8.2.6): what they copy from the request, how the top
//! Via is stamped (§18.2.1, RFC 3581), and where they go (§18.2.2).

use std::net::{IpAddr, SocketAddr};

use crate::endpoint::{ALLOWED_METHODS, SUPPORTED_OPTIONS, Transport};
use crate::header::{NameAddr, Via};
use crate::message::{Headers, Method, Response};

/// Extra parts of a response.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    pub(crate) to_tag: Option<String>,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

/// Where responses go (§18.2.2 with RFC 3581): the connection for streams; the source
/// address when rport was asked for; otherwise the source IP and the sent-by port.
pub(crate) fn response_destination(
    via: &Via,
    source: SocketAddr,
    transport: Transport,
) -> SocketAddr {
    if transport.is_reliable() || via.rport().is_some() {
        source
    } else {
        SocketAddr::new(source.ip(), via.port.unwrap_or(5060))
    }
}

/// The extra headers of a 200 OK to OPTIONS.
pub(crate) fn options_reply() -> Reply {
    Reply {
        headers: vec![
            ("Allow", ALLOWED_METHODS.to_owned()),
            ("Accept", "application/sdp".to_owned()),
            ("Supported", SUPPORTED_OPTIONS.to_owned()),
        ],
        ..Reply::default()
    }
}

/// Builds a response to a request (§8.2.6.2): Vias (the top one stamped with received
/// and rport), From, To with our tag, Call-ID, CSeq, Record-Route for dialog-creating
/// responses, then our headers and the body. Only the request's method and headers
/// are read, so that a request too malformed to parse whole can be answered too.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_response(
    method: &Method,
    request: &Headers,
    source: SocketAddr,
    status: u16,
    reason: &str,
    to_tag: Option<&str>,
    server: &str,
    extra: &[(&'static str, String)],
    body: Vec<u8>,
) -> Response {
    let mut headers = Headers::new();
    for (index, value) in request.all("Via").enumerate() {
        if index == 0 {
            headers.push("Via", stamp_top_via(value, source));
        } else {
            headers.push("Via", value);
        }
    }
    for value in request.all("From") {
        headers.push("From", value);
    }
    if let Some(to) = request.first("To") {
        let has_tag = NameAddr::parse(to).is_ok_and(|t| t.tag().is_some());
        match to_tag {
            Some(tag) if status > 100 && !has_tag => headers.push("To", format!("{to};tag={tag}")),
            _ => headers.push("To", to),
        }
    }
    for name in ["Call-ID", "CSeq"] {
        for value in request.all(name) {
            headers.push(name, value);
        }
    }
    if let (100, Some(ts)) = (status, request.first("Timestamp")) {
        headers.push("Timestamp", ts);
    }
    if (101..300).contains(&status) && *method == Method::Invite {
        for value in request.all("Record-Route") {
            headers.push("Record-Route", value);
        }
    }
    headers.push("Server", server);
    for (name, value) in extra {
        headers.push(name, value.clone());
    }
    Response {
        status,
        reason: reason.to_owned(),
        headers,
        body,
    }
}

/// Adds `received` (and fills `rport`) in the first Via of a Via header line (§18.2.1).
fn stamp_top_via(value: &str, source: SocketAddr) -> String {
    let mut entries = crate::uri::split_outside_quotes(value, b',');
    let Some(first) = entries.first_mut() else {
        return value.to_owned();
    };
    let Ok(mut via) = Via::parse(first) else {
        return value.to_owned();
    };
    if via.rport().is_some() {
        via.params.set("rport", Some(source.port().to_string()));
        via.params.set("received", Some(source.ip().to_string()));
    } else if via.host.parse::<IpAddr>().ok() != Some(source.ip())
        && crate::uri::host_ip(&via.host) != Some(source.ip())
    {
        via.params.set("received", Some(source.ip().to_string()));
    }
    let stamped = via.to_string();
    let rest: Vec<&str> = entries.iter().skip(1).map(|e| e.trim()).collect();
    if rest.is_empty() {
        stamped
    } else {
        format!("{stamped}, {}", rest.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_received_and_rport() {
        let source: SocketAddr = "10.0.0.5:40000".parse().unwrap();
        let stamped = stamp_top_via(
            "SIP/2.0/UDP 192.168.1.2:5060;branch=z9hG4bKa;rport, SIP/2.0/UDP p;branch=z9hG4bKb",
            source,
        );
        assert_eq!(
            stamped,
            "SIP/2.0/UDP 192.168.1.2:5060;branch=z9hG4bKa;rport=40000;received=10.0.0.5, SIP/2.0/UDP p;branch=z9hG4bKb"
        );
        let same = stamp_top_via("SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa", source);
        assert_eq!(same, "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa");
    }

    #[test]
    fn response_destination_follows_rfc3581() {
        let source: SocketAddr = "10.0.0.5:40000".parse().unwrap();
        let plain = Via::parse("SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKa").unwrap();
        assert_eq!(
            response_destination(&plain, source, Transport::Udp),
            "10.0.0.5:5062".parse().unwrap()
        );
        let rport = Via::parse("SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKa;rport").unwrap();
        assert_eq!(response_destination(&rport, source, Transport::Udp), source);
        assert_eq!(response_destination(&plain, source, Transport::Tcp), source);
    }
}
