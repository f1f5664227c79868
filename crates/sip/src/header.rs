//! Typed views of header values: Via, name-addr (From, To, Contact, Route), CSeq,
//! Session-Expires.

use std::fmt;
use std::net::IpAddr;

use crate::error::ParseError;
use crate::message::Method;
use crate::uri::{Params, Uri, host_ip, split_host_port, split_outside_quotes};

/// The magic cookie that starts every RFC 3261 branch parameter.
pub const BRANCH_MAGIC_COOKIE: &str = "z9hG4bK";

/// One Via entry (RFC 3261 §20.42).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// The transport token (`UDP`, `TCP`, `TLS`, `WS`...), uppercased.
    pub transport: String,
    /// The sent-by host as written.
    pub host: String,
    /// The sent-by port, if written.
    pub port: Option<u16>,
    /// The parameters (branch, received, rport, ...).
    pub params: Params,
}

impl Via {
    /// Parses one Via entry (not a comma-separated list).
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let err = ParseError::Header("Via");
        let parts = ViaParts::split(text).ok_or(err.clone())?;
        if parts.version != "2.0" {
            return Err(err);
        }
        let params = match parts.params {
            Some(p) => Params::parse(p).map_err(|_| err)?,
            None => Params::default(),
        };
        Ok(Self {
            params,
            ..parts.via
        })
    }

    /// Parses the protocol and sent-by of a Via entry that may be malformed otherwise
    /// (another SIP version, broken parameters): enough to send a 400 or 505 back
    /// (RFC 3261 §18.2.2). Broken parameters are left out.
    pub fn parse_sent_by(text: &str) -> Option<Self> {
        let parts = ViaParts::split(text)?;
        let params = parts
            .params
            .and_then(|p| Params::parse(p).ok())
            .unwrap_or_default();
        Some(Self {
            params,
            ..parts.via
        })
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.value("branch").flatten()
    }

    /// The received parameter as an address.
    pub fn received(&self) -> Option<IpAddr> {
        self.params.value("received").flatten().and_then(host_ip)
    }

    /// The rport parameter: `None` if absent, `Some(None)` if present without a value.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .value("rport")
            .map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// The sent-by value (`host[:port]`) as written.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }

    /// Whether the branch is an RFC 3261 transaction identifier: the magic cookie and
    /// something after it (a bare cookie identifies nothing, RFC 4475 §3.2.1).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| {
            b.len() > BRANCH_MAGIC_COOKIE.len() && b.starts_with(BRANCH_MAGIC_COOKIE)
        })
    }
}

/// A Via entry cut into its protocol, sent-by and parameter text.
struct ViaParts<'a> {
    /// The transport, host and port; no parameters yet.
    via: Via,
    /// The protocol version, as written.
    version: String,
    /// The text after the first semicolon, if any.
    params: Option<&'a str>,
}

impl<'a> ViaParts<'a> {
    fn split(text: &'a str) -> Option<Self> {
        let (protocol, rest) = split_protocol(text.trim())?;
        let mut pieces = protocol.split('/').map(str::trim);
        let name = pieces.next()?;
        let version = pieces.next()?;
        let transport = pieces.next()?;
        let version_ok = version
            .split_once('.')
            .is_some_and(|(major, minor)| is_digits(major) && is_digits(minor));
        if !name.eq_ignore_ascii_case("SIP")
            || !version_ok
            || transport.is_empty()
            || pieces.next().is_some()
            || !transport.bytes().all(crate::uri::is_token_byte)
        {
            return None;
        }
        let (sent_by, params) = match rest.split_once(';') {
            Some((s, p)) => (s, Some(p)),
            None => (rest, None),
        };
        let (host, port) = split_host_port(sent_by).ok()?;
        Some(Self {
            via: Via {
                transport: transport.to_ascii_uppercase(),
                host: host.to_owned(),
                port,
                params: Params::default(),
            },
            version: version.to_owned(),
            params,
        })
    }
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SIP/2.0/{} {}{}",
            self.transport,
            self.sent_by(),
            self.params
        )
    }
}

/// Splits `SIP / 2.0 / UDP host...` into the protocol part and the rest.
fn split_protocol(text: &str) -> Option<(String, &str)> {
    // Walk past three slash-separated tokens, allowing whitespace around the slashes.
    let bytes = text.as_bytes();
    let mut slashes = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = *bytes.get(i)?;
        if b == b'/' {
            slashes += 1;
        } else if slashes == 2 && !b.is_ascii_whitespace() {
            // Inside the transport token: it ends at the next whitespace.
            let end = text
                .get(i..)?
                .find(|c: char| c.is_ascii_whitespace())
                .map(|e| i + e)?;
            let protocol: String = text
                .get(..end)?
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            return Some((protocol, text.get(end..)?.trim_start()));
        }
        i += 1;
    }
    None
}

/// A name-addr or addr-spec with header parameters: From, To, Contact, Route, Record-Route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name without quotes, if any.
    pub display_name: Option<String>,
    /// The URI.
    pub uri: Uri,
    /// The header parameters (tag, expires, ...).
    pub params: Params,
}

impl NameAddr {
    /// A name-addr for a URI with no display name and no parameters.
    pub fn new(uri: Uri) -> Self {
        Self {
            display_name: None,
            uri,
            params: Params::default(),
        }
    }

    /// Parses a name-addr (`"Name" <uri>;params`) or an addr-spec (`uri;params`).
    ///
    /// As RFC 3261 §20 and §25.1 have it: an unquoted display name is tokens and
    /// whitespace (UTF-8 beyond ASCII is let through, as it is unambiguous), nothing
    /// but whitespace separates the URI from its angle brackets, only parameters
    /// follow them, and a URI with headers (`?`) must be in angle brackets.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let text = text.trim();
        let (display_name, rest) = if let Some(quoted) = text.strip_prefix('"') {
            let end = closing_quote(quoted).ok_or(ParseError::Header("display name"))?;
            let name = quoted
                .get(..end)
                .ok_or(ParseError::Header("display name"))?;
            let rest = quoted.get(end + 1..).unwrap_or("").trim_start();
            (Some(unescape(name)), rest)
        } else if let Some(lt) = text.find('<') {
            let name = text.get(..lt).unwrap_or("").trim();
            let unquoted_ok = name
                .bytes()
                .all(|b| !b.is_ascii() || crate::uri::is_token_byte(b) || b == b' ' || b == b'\t');
            if !unquoted_ok {
                return Err(ParseError::Header("display name"));
            }
            let rest = text.get(lt..).unwrap_or("");
            ((!name.is_empty()).then(|| name.to_owned()), rest)
        } else {
            (None, text)
        };
        if let Some(inner) = rest.strip_prefix('<') {
            let gt = inner.find('>').ok_or(ParseError::Header("name-addr"))?;
            let uri = inner.get(..gt).unwrap_or("");
            if uri.starts_with([' ', '\t']) || uri.ends_with([' ', '\t']) {
                return Err(ParseError::Header("name-addr"));
            }
            let uri = Uri::parse(uri)?;
            let after = inner.get(gt + 1..).unwrap_or("").trim_start();
            if !after.is_empty() && !after.starts_with(';') {
                return Err(ParseError::Header("name-addr"));
            }
            let params = Params::parse(after)?;
            Ok(Self {
                display_name,
                uri,
                params,
            })
        } else {
            if display_name.is_some() {
                return Err(ParseError::Header("name-addr"));
            }
            // In the addr-spec form, parameters after the URI belong to the header.
            let (uri, params) = match rest.split_once(';') {
                Some((u, p)) => (u, Params::parse(p)?),
                None => (rest, Params::default()),
            };
            if uri.contains('?') {
                return Err(ParseError::Header("addr-spec"));
            }
            Ok(Self {
                display_name: None,
                uri: Uri::parse(uri)?,
                params,
            })
        }
    }

    /// The tag parameter.
    pub fn tag(&self) -> Option<&str> {
        self.params.value("tag").flatten()
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.display_name {
            write!(
                f,
                "\"{}\" ",
                name.replace('\\', "\\\\").replace('"', "\\\"")
            )?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

fn closing_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate() {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            return Some(i);
        }
    }
    None
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// The CSeq header: sequence number and method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// The sequence number (less than 2**31 per RFC 3261).
    pub seq: u32,
    /// The method.
    pub method: Method,
}

impl CSeq {
    /// Parses `123 INVITE`.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let err = ParseError::Header("CSeq");
        let mut parts = text.split_ascii_whitespace();
        let seq = parts
            .next()
            .and_then(crate::message::parse_digits::<u32>)
            .filter(|s| *s < 1 << 31)
            .ok_or(err.clone())?;
        let method = Method::parse(parts.next().ok_or(err.clone())?).map_err(|_| err.clone())?;
        if parts.next().is_some() {
            return Err(err);
        }
        Ok(Self { seq, method })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// Which side refreshes the session (RFC 4028).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    /// The caller refreshes.
    Uac,
    /// We refresh.
    Uas,
}

impl Refresher {
    /// The parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uac => "uac",
            Self::Uas => "uas",
        }
    }
}

/// The Session-Expires header (RFC 4028 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionExpires {
    /// The session interval in seconds.
    pub delta: u32,
    /// The refresher parameter, if present.
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    /// Parses `1800;refresher=uac`.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let err = ParseError::Header("Session-Expires");
        let mut parts = split_outside_quotes(text, b';').into_iter();
        let delta = parts
            .next()
            .and_then(|d| d.trim().parse::<u32>().ok())
            .ok_or(err.clone())?;
        let params =
            Params::parse(&parts.collect::<Vec<_>>().join(";")).map_err(|_| err.clone())?;
        let refresher = match params.value("refresher") {
            None => None,
            Some(Some(r)) if r.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            Some(Some(r)) if r.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            Some(_) => return Err(err),
        };
        Ok(Self { delta, refresher })
    }
}

impl fmt::Display for SessionExpires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.delta)?;
        if let Some(r) = self.refresher {
            write!(f, ";refresher={}", r.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_via_with_spaces_and_params() {
        let via =
            Via::parse("SIP / 2.0 / udp 192.0.2.1:5062 ;branch=z9hG4bK776;rport;received=10.1.1.1")
                .unwrap();
        assert_eq!(via.transport, "UDP");
        assert_eq!(via.host, "192.0.2.1");
        assert_eq!(via.port, Some(5062));
        assert_eq!(via.branch(), Some("z9hG4bK776"));
        assert_eq!(via.rport(), Some(None));
        assert_eq!(via.received(), Some("10.1.1.1".parse().unwrap()));
        assert!(via.has_rfc3261_branch());
        assert!(
            !Via::parse("SIP/2.0/UDP h;branch=z9hG4bK")
                .unwrap()
                .has_rfc3261_branch()
        );
        assert!(Via::parse("SIP/2.0 host").is_err());
        assert!(Via::parse("HTTP/1.1/TCP host").is_err());
    }

    #[test]
    fn parses_name_addr_forms() {
        let a =
            NameAddr::parse(r#""Bob \"B\"" <sip:bob@example.com;transport=tcp>;tag=1928"#).unwrap();
        assert_eq!(a.display_name.as_deref(), Some("Bob \"B\""));
        assert_eq!(a.uri.transport(), Some("tcp"));
        assert_eq!(a.tag(), Some("1928"));

        let b = NameAddr::parse("sip:alice@atlanta.com;tag=88").unwrap();
        assert_eq!(b.tag(), Some("88"));
        assert!(b.uri.params.0.is_empty());

        let c = NameAddr::parse("Anonymous <sip:anonymous@anonymous.invalid>").unwrap();
        assert_eq!(c.display_name.as_deref(), Some("Anonymous"));
        assert_eq!(c.tag(), None);

        assert!(NameAddr::parse("\"unterminated <sip:a@b>").is_err());
        assert!(NameAddr::parse("<sip:a@b").is_err());

        let d =
            NameAddr::parse("token1~` token2'+_ token3*%!.- <sip:mundane@example.com>").unwrap();
        assert_eq!(
            d.display_name.as_deref(),
            Some("token1~` token2'+_ token3*%!.-")
        );
        assert!(NameAddr::parse("M\u{fc}ller <sip:m@example.com>").is_ok());
        for bad in [
            // RFC 4475 §3.1.2.13 to §3.1.2.15, §3.1.2.1.
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            "\"Watson, Thomas\" < sip:t.watson@example.org >",
            "Watson, Thomas <sip:t.watson@example.org>",
            "\"Joe\" <sip:joe@example.org>;;;;",
            "<sip:joe@example.org>garbage",
        ] {
            assert!(NameAddr::parse(bad).is_err(), "{bad}");
        }
        assert!(NameAddr::parse("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>").is_ok());
    }

    #[test]
    fn a_via_with_another_version_or_broken_parameters_still_names_its_sender() {
        assert!(Via::parse("SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw").is_err());
        let v = Via::parse_sent_by("SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw").unwrap();
        assert_eq!(v.host, "c.example.com");
        assert_eq!(v.branch(), Some("z9hG4bKkdjuw"));
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;").is_err());
        let v = Via::parse_sent_by("SIP/2.0/UDP 192.0.2.15;;").unwrap();
        assert_eq!((v.host.as_str(), v.port), ("192.0.2.15", None));
        assert!(v.params.0.is_empty());
        assert!(Via::parse_sent_by("nonsense").is_none());
    }

    #[test]
    fn parses_cseq_and_session_expires() {
        let c = CSeq::parse("4711 INVITE").unwrap();
        assert_eq!(c.seq, 4711);
        assert_eq!(c.method, Method::Invite);
        assert!(CSeq::parse("x INVITE").is_err());
        assert!(CSeq::parse("4294967295 INVITE").is_err());
        let s = SessionExpires::parse("1800;refresher=uac").unwrap();
        assert_eq!(s.delta, 1800);
        assert_eq!(s.refresher, Some(Refresher::Uac));
        assert_eq!(s.to_string(), "1800;refresher=uac");
        assert!(SessionExpires::parse("abc").is_err());
    }
}
