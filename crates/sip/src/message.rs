//! SIP messages (RFC 3261 §7): parsing from bytes and serializing to bytes.
//!
//! Parsing splits the start line, the header lines and the body. Header values stay
//! text; typed views ([`crate::header`]) parse them on demand, so a malformed header
//! does not stop a response (such as 400) from being built. The Content-Length header
//! is consumed by framing and not kept: [`Request::body`] is the body, and
//! serialization always writes a Content-Length that matches it.

use std::fmt;

use crate::error::ParseError;
use crate::header::{CSeq, NameAddr, Via};
use crate::uri::{Scheme, Uri, is_token_byte};

/// The largest message accepted, in bytes.
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024;
/// The largest number of header lines accepted in one message.
pub const MAX_HEADERS: usize = 128;

/// A SIP request method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE
    Invite,
    /// ACK
    Ack,
    /// BYE
    Bye,
    /// CANCEL
    Cancel,
    /// OPTIONS
    Options,
    /// INFO
    Info,
    /// REGISTER
    Register,
    /// UPDATE
    Update,
    /// PRACK
    Prack,
    /// SUBSCRIBE
    Subscribe,
    /// NOTIFY
    Notify,
    /// REFER
    Refer,
    /// MESSAGE
    Message,
    /// PUBLISH
    Publish,
    /// Any other token.
    Other(String),
}

impl Method {
    /// Parses a method token (methods are case-sensitive).
    pub fn parse(token: &str) -> Result<Self, ParseError> {
        if token.is_empty() || !token.bytes().all(is_token_byte) {
            return Err(ParseError::Method);
        }
        Ok(match token {
            "INVITE" => Self::Invite,
            "ACK" => Self::Ack,
            "BYE" => Self::Bye,
            "CANCEL" => Self::Cancel,
            "OPTIONS" => Self::Options,
            "INFO" => Self::Info,
            "REGISTER" => Self::Register,
            "UPDATE" => Self::Update,
            "PRACK" => Self::Prack,
            "SUBSCRIBE" => Self::Subscribe,
            "NOTIFY" => Self::Notify,
            "REFER" => Self::Refer,
            "MESSAGE" => Self::Message,
            "PUBLISH" => Self::Publish,
            other => Self::Other(other.to_owned()),
        })
    }

    /// The method as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Invite => "INVITE",
            Self::Ack => "ACK",
            Self::Bye => "BYE",
            Self::Cancel => "CANCEL",
            Self::Options => "OPTIONS",
            Self::Info => "INFO",
            Self::Register => "REGISTER",
            Self::Update => "UPDATE",
            Self::Prack => "PRACK",
            Self::Subscribe => "SUBSCRIBE",
            Self::Notify => "NOTIFY",
            Self::Refer => "REFER",
            Self::Message => "MESSAGE",
            Self::Publish => "PUBLISH",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Header names with a compact form (RFC 3261 §7.3.3 and extensions), as (compact, full).
const COMPACT_FORMS: &[(&str, &str)] = &[
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("e", "Content-Encoding"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("f", "From"),
    ("s", "Subject"),
    ("k", "Supported"),
    ("t", "To"),
    ("v", "Via"),
    ("o", "Event"),
    ("r", "Refer-To"),
    ("b", "Referred-By"),
    ("u", "Allow-Events"),
    ("x", "Session-Expires"),
    ("a", "Accept-Contact"),
    ("j", "Reject-Contact"),
    ("d", "Request-Disposition"),
    ("y", "Identity"),
];

/// Well-known header names in their canonical spelling.
const CANONICAL_NAMES: &[&str] = &[
    "Accept",
    "Allow",
    "Call-ID",
    "Contact",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "From",
    "Max-Forwards",
    "Min-SE",
    "Record-Route",
    "Require",
    "Route",
    "Server",
    "Session-Expires",
    "Supported",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "WWW-Authenticate",
];

/// The full, canonical spelling of a header name: compact forms are expanded and
/// well-known names are written the usual way; other names are kept as written.
pub fn canonical_name(name: &str) -> String {
    let compact = (name.len() == 1)
        .then(|| {
            COMPACT_FORMS
                .iter()
                .find(|(compact, _)| compact.eq_ignore_ascii_case(name))
        })
        .flatten();
    if let Some((_, full)) = compact {
        return (*full).to_owned();
    }
    if let Some(known) = CANONICAL_NAMES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(name))
    {
        return (*known).to_owned();
    }
    name.to_owned()
}

/// One header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The canonical name (see [`canonical_name`]).
    pub name: String,
    /// The value with surrounding whitespace removed.
    pub value: String,
}

/// The headers of a message, in order, looked up case-insensitively (compact forms included).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// An empty header list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a header.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push(Header {
            name: canonical_name(name),
            value: value.into(),
        });
    }

    /// Replaces all headers of this name by one.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.remove(name);
        self.push(name, value);
    }

    /// Removes all headers of this name.
    pub fn remove(&mut self, name: &str) {
        let name = canonical_name(name);
        self.0.retain(|h| !h.name.eq_ignore_ascii_case(&name));
    }

    /// The value of the first header of this name.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.all(name).next()
    }

    /// The values of all headers of this name, one per header line.
    pub fn all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = canonical_name(name);
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(&name))
            .map(|h| h.value.as_str())
    }

    /// The comma-separated elements of all headers of this name, in order
    /// (for list headers such as Via, Route, Allow, Supported).
    pub fn list<'a>(&'a self, name: &str) -> Vec<&'a str> {
        self.all(name)
            .flat_map(|v| crate::uri::split_outside_quotes(v, b','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// Whether a header of this name is present.
    pub fn contains(&self, name: &str) -> bool {
        self.first(name).is_some()
    }

    /// Iterates over all headers in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    /// The number of header lines.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a list header (Supported, Require, Allow) contains a token, ignoring case.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.list(name)
            .iter()
            .any(|t| t.eq_ignore_ascii_case(token))
    }

    /// The parsed Via headers, topmost first.
    pub fn vias(&self) -> Result<Vec<Via>, ParseError> {
        self.list("Via").into_iter().map(Via::parse).collect()
    }

    /// The topmost Via.
    pub fn top_via(&self) -> Result<Via, ParseError> {
        let first = self
            .list("Via")
            .into_iter()
            .next()
            .ok_or(ParseError::Missing("Via"))?;
        Via::parse(first)
    }

    /// The topmost Via as far as a response needs it: parsed in full, or else its
    /// protocol and sent-by alone ([`Via::parse_sent_by`]), to answer a request whose
    /// Via is malformed with 400 (or one of another SIP version with 505).
    pub fn reply_via(&self) -> Option<Via> {
        let first = self.list("Via").into_iter().next()?;
        Via::parse(first).ok().or_else(|| Via::parse_sent_by(first))
    }

    /// Fails when a header that takes one value appears more than once, in several
    /// lines or as a comma-separated list (RFC 3261 §7.3.1).
    fn check_single(&self, names: &[&'static str]) -> Result<(), ParseError> {
        for name in names {
            let lines = self.all(name).count();
            // Commas separate values of the name-addr headers; elsewhere (Date) they
            // may be part of the one value.
            let name_addr = matches!(*name, "From" | "To");
            if lines > 1 || (name_addr && self.list(name).len() > 1) {
                return Err(ParseError::Repeated(name));
            }
        }
        Ok(())
    }

    /// Fails when a Date header is not an RFC 1123 date in GMT (RFC 3261 §20.17).
    pub fn check_date(&self) -> Result<(), ParseError> {
        self.check_single(&["Date"])?;
        match self.first("Date") {
            Some(date) if !is_sip_date(date) => Err(ParseError::Header("Date")),
            _ => Ok(()),
        }
    }

    /// The From header.
    pub fn from(&self) -> Result<NameAddr, ParseError> {
        NameAddr::parse(self.first("From").ok_or(ParseError::Missing("From"))?)
            .map_err(|_| ParseError::Header("From"))
    }

    /// The To header.
    pub fn to(&self) -> Result<NameAddr, ParseError> {
        NameAddr::parse(self.first("To").ok_or(ParseError::Missing("To"))?)
            .map_err(|_| ParseError::Header("To"))
    }

    /// The Call-ID.
    pub fn call_id(&self) -> Result<&str, ParseError> {
        let id = self
            .first("Call-ID")
            .ok_or(ParseError::Missing("Call-ID"))?;
        if id.is_empty() || id.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(ParseError::Header("Call-ID"));
        }
        Ok(id)
    }

    /// The CSeq header.
    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        CSeq::parse(self.first("CSeq").ok_or(ParseError::Missing("CSeq"))?)
    }

    /// The Max-Forwards value, if present.
    pub fn max_forwards(&self) -> Result<Option<u32>, ParseError> {
        self.first("Max-Forwards")
            .map(|v| parse_digits(v).ok_or(ParseError::Header("Max-Forwards")))
            .transpose()
    }

    /// The Content-Type media type, lowercased and without parameters.
    pub fn content_type(&self) -> Option<String> {
        self.first("Content-Type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }

    /// The Contact headers (a lone `*` is not a name-addr and yields an error).
    pub fn contacts(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.list("Contact")
            .into_iter()
            .map(|c| NameAddr::parse(c).map_err(|_| ParseError::Header("Contact")))
            .collect()
    }

    /// The Record-Route entries, in order.
    pub fn record_routes(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.list("Record-Route")
            .into_iter()
            .map(|c| NameAddr::parse(c).map_err(|_| ParseError::Header("Record-Route")))
            .collect()
    }

    /// The Session-Expires header, if present.
    pub fn session_expires(&self) -> Result<Option<crate::header::SessionExpires>, ParseError> {
        self.first("Session-Expires")
            .map(crate::header::SessionExpires::parse)
            .transpose()
    }

    /// The Min-SE value in seconds, if present.
    pub fn min_se(&self) -> Result<Option<u32>, ParseError> {
        self.first("Min-SE")
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| ParseError::Header("Min-SE"))
            })
            .transpose()
    }

    /// The methods listed in Allow.
    pub fn allow(&self) -> Vec<&str> {
        self.list("Allow")
    }

    /// The option tags listed in Supported.
    pub fn supported(&self) -> Vec<&str> {
        self.list("Supported")
    }

    /// The option tags listed in Require.
    pub fn require(&self) -> Vec<&str> {
        self.list("Require")
    }
}

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// The headers (without Content-Length).
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code, 100 to 699.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The headers (without Content-Length).
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A SIP request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Message {
    /// Parses one complete message from a datagram or a framed stream chunk.
    ///
    /// Leading CRLFs (keep-alives) are skipped. When Content-Length is absent the body
    /// is the rest of the input (allowed for datagrams); bytes beyond Content-Length are
    /// ignored (RFC 3261 §18.3).
    pub fn parse(input: &[u8]) -> Result<Self, ParseError> {
        if input.len() > MAX_MESSAGE_SIZE {
            return Err(ParseError::TooLarge {
                limit: MAX_MESSAGE_SIZE,
            });
        }
        let start = input
            .iter()
            .position(|b| *b != b'\r' && *b != b'\n')
            .unwrap_or(input.len());
        let input = input.get(start..).unwrap_or(&[]);
        let (head_len, body_start) = header_end(input).ok_or(ParseError::Unterminated)?;
        let head = input.get(..head_len).ok_or(ParseError::Unterminated)?;
        let head = std::str::from_utf8(head).map_err(|_| ParseError::Utf8)?;
        let rest = input.get(body_start..).unwrap_or(&[]);

        let mut lines = logical_lines(head);
        let start_line = lines.next().ok_or(ParseError::StartLine)?;
        let mut headers = Headers::new();
        let mut content_length: Option<usize> = None;
        for line in lines {
            if headers.len() >= MAX_HEADERS {
                return Err(ParseError::TooManyHeaders { limit: MAX_HEADERS });
            }
            let (name, value) = line.split_once(':').ok_or(ParseError::HeaderLine)?;
            let name = name.trim_end_matches([' ', '\t']);
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return Err(ParseError::HeaderLine);
            }
            let value = value.trim_matches([' ', '\t']);
            let canonical = canonical_name(name);
            if canonical == "Content-Length" {
                let length = parse_digits(value).ok_or(ParseError::ContentLength)?;
                if content_length.is_some_and(|l| l != length) {
                    return Err(ParseError::ContentLength);
                }
                content_length = Some(length);
                continue;
            }
            headers.0.push(Header {
                name: canonical,
                value: value.to_owned(),
            });
        }
        let body = match content_length {
            Some(length) => rest.get(..length).ok_or(ParseError::TruncatedBody)?,
            None => rest,
        }
        .to_vec();

        let mut parts = start_line.splitn(3, ' ');
        let first = parts.next().ok_or(ParseError::StartLine)?;
        let second = parts.next().ok_or(ParseError::StartLine)?;
        let third = parts.next().ok_or(ParseError::StartLine)?;
        if is_version_token(first) {
            check_version(first)?;
            if second.len() != 3 || !second.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseError::Status);
            }
            let status: u16 = second.parse().map_err(|_| ParseError::Status)?;
            if !(100..=699).contains(&status) {
                return Err(ParseError::Status);
            }
            Ok(Self::Response(Response {
                status,
                reason: third.to_owned(),
                headers,
                body,
            }))
        } else {
            // Request-Line = Method SP Request-URI SP SIP-Version: one space each, none
            // inside the URI or at the end (RFC 4475 §3.1.2.8 to §3.1.2.10).
            if third.contains(' ') {
                return Err(ParseError::StartLine);
            }
            let method = Method::parse(first)?;
            check_version(third)?;
            let uri = Uri::parse(second)?;
            Ok(Self::Request(Request {
                method,
                uri,
                headers,
                body,
            }))
        }
    }

    /// Serializes the message, writing a Content-Length that matches the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Request(r) => r.to_bytes(),
            Self::Response(r) => r.to_bytes(),
        }
    }

    /// Checks the headers beyond framing: [`Request::validate`] or
    /// [`Response::validate`]. A message the parser accepts may still fail here.
    pub fn validate(&self) -> Result<(), ParseError> {
        match self {
            Self::Request(r) => r.validate(),
            Self::Response(r) => r.validate(),
        }
    }

    /// The headers of the request or response.
    pub fn headers(&self) -> &Headers {
        match self {
            Self::Request(r) => &r.headers,
            Self::Response(r) => &r.headers,
        }
    }
}

impl Request {
    /// Checks what RFC 3261 asks of every request beyond its framing: one From, To,
    /// Call-ID and CSeq (naming the request's method) and at most one Max-Forwards, all
    /// well-formed (§8.1.1, §8.2.2); Vias and Contacts that parse; a Date in GMT
    /// (§20.17); no headers in a SIP Request-URI (§19.1.1). The endpoint answers a
    /// request that fails with 400.
    pub fn validate(&self) -> Result<(), ParseError> {
        let headers = &self.headers;
        headers.top_via()?;
        headers.vias()?;
        headers.check_single(&["From", "To", "Call-ID", "CSeq", "Max-Forwards"])?;
        headers.from()?;
        headers.to()?;
        headers.call_id()?;
        if headers.cseq()?.method != self.method {
            return Err(ParseError::Header("CSeq"));
        }
        headers.max_forwards()?;
        if headers.list("Contact") != ["*"] {
            headers.contacts()?;
        }
        headers.check_date()?;
        if matches!(self.uri.scheme, Scheme::Sip | Scheme::Sips) && self.uri.headers.is_some() {
            return Err(ParseError::Uri("headers in a request-uri"));
        }
        Ok(())
    }

    /// The called number: the Request-URI user part, else the To user part, without
    /// user parameters (`;npdi`, `;rn=`).
    pub fn called_number(&self) -> Option<String> {
        let user = |uri: &Uri| {
            uri.user
                .as_deref()
                .map(|u| u.split(';').next().unwrap_or_default().to_owned())
                .filter(|u| !u.is_empty())
        };
        user(&self.uri).or_else(|| self.headers.to().ok().and_then(|to| user(&to.uri)))
    }

    /// Serializes the request.
    pub fn to_bytes(&self) -> Vec<u8> {
        let start = format!("{} {} SIP/2.0\r\n", self.method, self.uri);
        serialize(start, &self.headers, &self.body)
    }
}

impl Response {
    /// Checks the headers every response carries (RFC 3261 §8.2.6.2): Vias that parse,
    /// and one well-formed From, To, Call-ID and CSeq.
    pub fn validate(&self) -> Result<(), ParseError> {
        let headers = &self.headers;
        headers.top_via()?;
        headers.vias()?;
        headers.check_single(&["From", "To", "Call-ID", "CSeq"])?;
        headers.from()?;
        headers.to()?;
        headers.call_id()?;
        headers.cseq()?;
        headers.check_date()
    }

    /// Serializes the response.
    pub fn to_bytes(&self) -> Vec<u8> {
        let start = format!("SIP/2.0 {} {}\r\n", self.status, self.reason);
        serialize(start, &self.headers, &self.body)
    }
}

fn serialize(start: String, headers: &Headers, body: &[u8]) -> Vec<u8> {
    let mut out = start.into_bytes();
    for h in headers.iter() {
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// Whether the first word of a start line is a SIP version, which makes the line a
/// Status-Line.
fn is_version_token(word: &str) -> bool {
    word.len() > 4
        && word
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
}

/// SIP/2.0 passes; another well-formed version is [`ParseError::Version`] (answered
/// with 505); anything else is a malformed start line.
fn check_version(text: &str) -> Result<(), ParseError> {
    if text.eq_ignore_ascii_case("SIP/2.0") {
        return Ok(());
    }
    let well_formed = text
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SIP/"))
        .and_then(|_| text.get(4..))
        .and_then(|v| v.split_once('.'))
        .is_some_and(|(major, minor)| {
            parse_digits::<u32>(major).is_some() && parse_digits::<u32>(minor).is_some()
        });
    Err(if well_formed {
        ParseError::Version
    } else {
        ParseError::StartLine
    })
}

/// A decimal number of digits only (no sign, no spaces), as SIP's `1*DIGIT`.
pub(crate) fn parse_digits<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Whether a Date value is `wkday "," SP 2DIGIT SP month SP 4DIGIT SP 2DIGIT ":"
/// 2DIGIT ":" 2DIGIT SP "GMT"` (RFC 3261 §25.1, the rfc1123-date of RFC 2616).
fn is_sip_date(text: &str) -> bool {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let digits = |t: &str, n: usize| t.len() == n && t.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = text.split(' ').collect();
    let [wkday, day, month, year, time, zone] = parts.as_slice() else {
        return false;
    };
    let time_ok = {
        let t: Vec<&str> = time.split(':').collect();
        t.len() == 3 && t.iter().all(|p| digits(p, 2))
    };
    wkday
        .strip_suffix(',')
        .is_some_and(|d| DAYS.iter().any(|k| k.eq_ignore_ascii_case(d)))
        && digits(day, 2)
        && MONTHS.iter().any(|m| m.eq_ignore_ascii_case(month))
        && digits(year, 4)
        && time_ok
        && zone.eq_ignore_ascii_case("GMT")
}

/// The method and headers of a request that failed to parse, as far as they can be
/// read: enough to answer it with 400 or 505 (RFC 3261 §18.3, RFC 4475 §3.1.2). The
/// header section may lack its closing empty line (the datagram ends it); lines that
/// are not headers are skipped. `None` for a response, or when no method is found.
pub(crate) fn salvage_request(input: &[u8]) -> Option<(Method, Headers)> {
    if input.len() > MAX_MESSAGE_SIZE {
        return None;
    }
    let start = input.iter().position(|b| *b != b'\r' && *b != b'\n')?;
    let input = input.get(start..)?;
    let head = match header_end(input) {
        Some((len, _)) => input.get(..len)?,
        None => input,
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = logical_lines(&head);
    let start_line = lines.next()?;
    let first = start_line.split(' ').next()?;
    if is_version_token(first) {
        return None;
    }
    let method = Method::parse(first).ok()?;
    let mut headers = Headers::new();
    for line in lines.take(MAX_HEADERS) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim_end_matches([' ', '\t']);
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            continue;
        }
        let name = canonical_name(name);
        if name != "Content-Length" {
            headers.0.push(Header {
                name,
                value: value.trim_matches([' ', '\t']).to_owned(),
            });
        }
    }
    Some((method, headers))
}

/// The length of the header section and where the body starts, accepting CRLF or bare LF.
pub(crate) fn header_end(input: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < input.len() {
        if input.get(i) == Some(&b'\n') {
            match input.get(i + 1) {
                Some(b'\n') => return Some((i, i + 2)),
                Some(b'\r') if input.get(i + 2) == Some(&b'\n') => return Some((i, i + 3)),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// Splits the header section into logical lines, joining folded continuation lines.
fn logical_lines(head: &str) -> impl Iterator<Item = String> + '_ {
    let mut physical = head
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .peekable();
    std::iter::from_fn(move || {
        let mut line = physical.next()?.to_owned();
        while let Some(next) = physical.peek() {
            if next.starts_with([' ', '\t']) {
                line.push(' ');
                line.push_str(next.trim_start_matches([' ', '\t']));
                physical.next();
            } else {
                break;
            }
        }
        Some(line)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:5550100@127.0.0.1:5060 SIP/2.0\r\n\
v: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1;rport, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-0\r\n\
f: \"Alice\" <sip:alice@127.0.0.1>;tag=abc\r\n\
t: <sip:5550100@127.0.0.1>\r\n\
i: call-1@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
max-forwards: 70\r\n\
c: application/sdp\r\n\
l: 4\r\n\
\r\n\
v=0\r\nEXTRA";

    #[test]
    fn parses_compact_headers_and_frames_body() {
        let Message::Request(req) = Message::parse(INVITE).unwrap() else {
            panic!("expected a request");
        };
        assert_eq!(req.method, Method::Invite);
        assert_eq!(req.uri.user.as_deref(), Some("5550100"));
        assert_eq!(req.body, b"v=0\r");
        let vias = req.headers.vias().unwrap();
        assert_eq!(vias.len(), 2);
        assert_eq!(vias[0].branch(), Some("z9hG4bK-1"));
        assert_eq!(vias[1].host, "10.0.0.9");
        assert_eq!(req.headers.call_id().unwrap(), "call-1@127.0.0.1");
        assert_eq!(req.headers.from().unwrap().tag(), Some("abc"));
        assert_eq!(req.headers.max_forwards().unwrap(), Some(70));
        assert_eq!(
            req.headers.content_type().as_deref(),
            Some("application/sdp")
        );
        let again = Message::parse(&req.to_bytes()).unwrap();
        assert_eq!(again, Message::Request(req));
    }

    #[test]
    fn parses_response() {
        let msg = Message::parse(
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        let Message::Response(resp) = msg else {
            panic!("expected a response");
        };
        assert_eq!(resp.status, 200);
        assert_eq!(resp.reason, "OK");
    }

    #[test]
    fn rejects_malformed_messages() {
        let cases: &[&[u8]] = &[
            b"",
            b"INVITE sip:a@b SIP/2.0\r\n",
            b"INVITE sip:a@b SIP/3.0\r\n\r\n",
            b"INVITE\r\n\r\n",
            b"SIP/2.0 999 Huh\r\n\r\n",
            b"INVITE sip:a@b SIP/2.0\r\nNoColon\r\n\r\n",
            b"INVITE sip:a@b SIP/2.0\r\nContent-Length: x\r\n\r\n",
            b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 10\r\n\r\nshort",
            b"INV\xffITE sip:a@b SIP/2.0\r\n\r\n",
        ];
        for case in cases {
            assert!(
                Message::parse(case).is_err(),
                "{:?}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn enforces_limits() {
        let mut big = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            big.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        big.extend_from_slice(b"\r\n");
        assert!(matches!(
            Message::parse(&big),
            Err(ParseError::TooManyHeaders { .. })
        ));
        let huge = vec![b'a'; MAX_MESSAGE_SIZE + 1];
        assert!(matches!(
            Message::parse(&huge),
            Err(ParseError::TooLarge { .. })
        ));
    }

    #[test]
    fn called_number_strips_user_parameters_and_falls_back_to_to() {
        let with_params = b"INVITE sip:+15550100;npdi;rn=+15559999@gw.example.com;user=phone SIP/2.0\r\nTo: <sip:other@x>\r\n\r\n";
        let Message::Request(req) = Message::parse(with_params).unwrap() else {
            panic!("expected a request");
        };
        assert_eq!(req.called_number().as_deref(), Some("+15550100"));
        let no_user = b"INVITE sip:gw.example.com SIP/2.0\r\nt: <tel:+4930123>\r\n\r\n";
        let Message::Request(req) = Message::parse(no_user).unwrap() else {
            panic!("expected a request");
        };
        assert_eq!(req.called_number().as_deref(), Some("+4930123"));
    }

    #[test]
    fn request_lines_take_one_space_between_three_parts() {
        // RFC 4475 §3.1.2.8 to §3.1.2.10 and §3.1.2.16.
        let parse = |line: &str| Message::parse(format!("{line}\r\n\r\n").as_bytes()).err();
        assert_eq!(parse("OPTIONS sip:a@b SIP/2.0"), None);
        assert_eq!(
            parse("OPTIONS sip:a@b; lr SIP/2.0"),
            Some(ParseError::StartLine)
        );
        assert_eq!(
            parse("OPTIONS  sip:a@b  SIP/2.0"),
            Some(ParseError::StartLine)
        );
        assert_eq!(
            parse("OPTIONS sip:a@b SIP/2.0  "),
            Some(ParseError::StartLine)
        );
        assert_eq!(parse("OPTIONS sip:a@b SIP/7.0"), Some(ParseError::Version));
        assert_eq!(
            parse("OPTIONS sip:a@b HTTP/1.1"),
            Some(ParseError::StartLine)
        );
        assert!(matches!(
            parse("OPTIONS <sip:a@b> SIP/2.0"),
            Some(ParseError::Uri(_))
        ));
        assert_eq!(
            Message::parse(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: +0\r\n\r\n"),
            Err(ParseError::ContentLength)
        );
    }

    #[test]
    fn validation_finds_what_the_parser_lets_through() {
        let request = |extra: &str| {
            let text = format!(
                "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
                 From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: v1\r\n\
                 CSeq: 1 OPTIONS\r\n{extra}\r\n"
            );
            Message::parse(text.as_bytes()).unwrap().validate()
        };
        assert_eq!(request(""), Ok(()));
        assert_eq!(request("Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n"), Ok(()));
        assert_eq!(request("Contact: *\r\n"), Ok(()));
        assert_eq!(
            request("Date: Fri, 01 Jan 2010 16:00:00 EST\r\n"),
            Err(ParseError::Header("Date"))
        );
        assert_eq!(
            request("Call-ID: v2\r\n"),
            Err(ParseError::Repeated("Call-ID"))
        );
        assert_eq!(
            request("To: <sip:c@example.com>\r\n"),
            Err(ParseError::Repeated("To"))
        );
        assert_eq!(
            request("Contact: sip:a@example.com?Route=%3Csip:x%3E\r\n"),
            Err(ParseError::Header("Contact"))
        );
        let escaped = Message::parse(
            b"OPTIONS sip:a@example.com?Route=x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
              From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: v1\r\n\
              CSeq: 1 OPTIONS\r\n\r\n",
        )
        .unwrap();
        assert!(matches!(escaped.validate(), Err(ParseError::Uri(_))));
    }

    #[test]
    fn salvage_reads_what_an_answer_needs_from_a_broken_request() {
        let (method, headers) = salvage_request(
            b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h:5070\r\nnot a header\r\nCall-ID: x\r\nl: 999\r\n\r\nv=0",
        )
        .unwrap();
        assert_eq!(method, Method::Invite);
        assert_eq!(headers.first("Call-ID"), Some("x"));
        assert!(!headers.contains("Content-Length"));
        assert_eq!(headers.reply_via().unwrap().port, Some(5070));
        // No empty line at the end: the datagram ends the header section.
        let (_, headers) = salvage_request(b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: y\r\n").unwrap();
        assert_eq!(headers.first("Call-ID"), Some("y"));
        assert!(salvage_request(b"SIP/2.0 200 OK\r\nCall-ID: z\r\n\r\n").is_none());
        assert!(salvage_request(b"\x00\x01binary").is_none());
        assert!(salvage_request(b"\r\n\r\n").is_none());
    }

    #[test]
    fn header_names_are_case_insensitive() {
        let mut h = Headers::new();
        h.push("call-id", "x");
        h.push("SUPPORTED", "timer, replaces");
        h.push("k", "100rel");
        assert_eq!(h.first("i"), Some("x"));
        assert_eq!(h.supported(), vec!["timer", "replaces", "100rel"]);
        assert!(h.has_token("Supported", "TIMER"));
    }
}
