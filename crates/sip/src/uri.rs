//! SIP and tel URIs (RFC 3261 §19.1, RFC 3966), and the parameter lists they share with headers.

use std::fmt;
use std::net::IpAddr;

use crate::error::ParseError;

/// A `name[=value]` parameter of a URI or a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The parameter name as written.
    pub name: String,
    /// The value, if there is one (quotes are kept as written).
    pub value: Option<String>,
}

impl Param {
    /// A parameter with a value.
    pub fn new(name: impl Into<String>, value: Option<String>) -> Self {
        Self {
            name: name.into(),
            value,
        }
    }
}

/// An ordered list of parameters, looked up case-insensitively by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Params(pub Vec<Param>);

impl Params {
    /// Whether a parameter of this name is present (with or without a value).
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The value of the first parameter of this name: `None` if absent, `Some(None)` if valueless.
    pub fn value(&self, name: &str) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_deref().map(unquote))
    }

    /// Sets a parameter, replacing an existing one of the same name.
    pub fn set(&mut self, name: &str, value: Option<String>) {
        if let Some(p) = self
            .0
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name))
        {
            p.value = value;
        } else {
            self.0.push(Param::new(name, value));
        }
    }

    /// Parses `;a=b;c` (the leading semicolon is optional). An empty parameter, as in
    /// `;a;;b` or a trailing `;`, is an error (RFC 4475 §3.1.2.1).
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut params = Vec::new();
        for (index, part) in split_outside_quotes(text, b';').into_iter().enumerate() {
            let part = part.trim();
            if part.is_empty() {
                if index == 0 {
                    // Nothing before the leading semicolon.
                    continue;
                }
                return Err(ParseError::Header("parameter"));
            }
            let (name, value) = match part.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().to_owned())),
                None => (part, None),
            };
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return Err(ParseError::Header("parameter"));
            }
            params.push(Param::new(name, value));
        }
        Ok(Self(params))
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            match &p.value {
                Some(v) => write!(f, ";{}={}", p.name, v)?,
                None => write!(f, ";{}", p.name)?,
            }
        }
        Ok(())
    }
}

/// The scheme of a URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:`
    Tel,
    /// Any other scheme; the rest of the URI is kept opaque in [`Uri::host`].
    Other(String),
}

/// A parsed URI. For `sip:`/`sips:` every field applies; for `tel:` the number is
/// [`Uri::user`] and the host is empty; other schemes keep their text in [`Uri::host`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    /// The scheme.
    pub scheme: Scheme,
    /// The user part (the dialled number on a trunk), as written.
    pub user: Option<String>,
    /// The password of the user info, if any (deprecated but legal).
    pub password: Option<String>,
    /// The host as written; IPv6 references keep their brackets.
    pub host: String,
    /// The port, if written.
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp;lr`).
    pub params: Params,
    /// URI headers (`?subject=x`), kept as written without the question mark.
    pub headers: Option<String>,
}

impl Uri {
    /// A `sip:` URI for a host and optional port.
    pub fn sip(user: Option<&str>, host: impl Into<String>, port: Option<u16>) -> Self {
        Self {
            scheme: Scheme::Sip,
            user: user.map(str::to_owned),
            password: None,
            host: host.into(),
            port,
            params: Params::default(),
            headers: None,
        }
    }

    /// Parses a URI.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let text = text.trim();
        if text.is_empty() || text.bytes().any(|b| b.is_ascii_whitespace() || b < 0x20) {
            return Err(ParseError::Uri("empty or contains whitespace"));
        }
        let (scheme, rest) = text
            .split_once(':')
            .ok_or(ParseError::Uri("missing scheme"))?;
        let scheme_valid = scheme
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if !scheme_valid {
            return Err(ParseError::Uri("invalid scheme"));
        }
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            let scheme = if scheme.eq_ignore_ascii_case("sip") {
                Scheme::Sip
            } else {
                Scheme::Sips
            };
            Self::parse_sip(scheme, rest)
        } else if scheme.eq_ignore_ascii_case("tel") {
            let (number, params) = match rest.split_once(';') {
                Some((n, p)) => (n, Params::parse(p)?),
                None => (rest, Params::default()),
            };
            if number.is_empty() {
                return Err(ParseError::Uri("empty telephone number"));
            }
            Ok(Self {
                scheme: Scheme::Tel,
                user: Some(number.to_owned()),
                password: None,
                host: String::new(),
                port: None,
                params,
                headers: None,
            })
        } else {
            if rest.is_empty() {
                return Err(ParseError::Uri("empty opaque part"));
            }
            Ok(Self {
                scheme: Scheme::Other(scheme.to_owned()),
                user: None,
                password: None,
                host: rest.to_owned(),
                port: None,
                params: Params::default(),
                headers: None,
            })
        }
    }

    fn parse_sip(scheme: Scheme, rest: &str) -> Result<Self, ParseError> {
        // The user part may contain ';', '?' and '/' (user-unreserved, RFC 3261 §25.1),
        // but no '@', which appears nowhere else unescaped: it ends the user info.
        let (userinfo, rest) = match rest.split_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (hostpart, headers) = match rest.split_once('?') {
            Some((r, h)) => (r, Some(h.to_owned())),
            None => (rest, None),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, pw)) => (Some(user.to_owned()), Some(pw.to_owned())),
                None => (Some(u.to_owned()), None),
            },
            None => (None, None),
        };
        if user.as_deref().is_some_and(str::is_empty) {
            return Err(ParseError::Uri("empty user"));
        }
        let (hostport, params) = match hostpart.split_once(';') {
            Some((hp, p)) => (hp, Params::parse(p)?),
            None => (hostpart, Params::default()),
        };
        let (host, port) = split_host_port(hostport)?;
        Ok(Self {
            scheme,
            user,
            password,
            host: host.to_owned(),
            port,
            params,
            headers,
        })
    }

    /// The host as an IP address, if it is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        host_ip(&self.host)
    }

    /// Whether the URI carries the `lr` (loose routing) parameter.
    pub fn is_loose_route(&self) -> bool {
        self.params.contains("lr")
    }

    /// The `transport` URI parameter, if present.
    pub fn transport(&self) -> Option<&str> {
        self.params.value("transport").flatten()
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scheme {
            Scheme::Sip | Scheme::Sips => {
                f.write_str(if self.scheme == Scheme::Sip {
                    "sip:"
                } else {
                    "sips:"
                })?;
                if let Some(user) = &self.user {
                    f.write_str(user)?;
                    if let Some(pw) = &self.password {
                        write!(f, ":{pw}")?;
                    }
                    f.write_str("@")?;
                }
                f.write_str(&self.host)?;
                if let Some(port) = self.port {
                    write!(f, ":{port}")?;
                }
                write!(f, "{}", self.params)?;
                if let Some(h) = &self.headers {
                    write!(f, "?{h}")?;
                }
                Ok(())
            }
            Scheme::Tel => {
                write!(
                    f,
                    "tel:{}{}",
                    self.user.as_deref().unwrap_or(""),
                    self.params
                )
            }
            Scheme::Other(s) => write!(f, "{s}:{}", self.host),
        }
    }
}

/// Splits `host[:port]`, where host may be a bracketed IPv6 reference.
pub(crate) fn split_host_port(text: &str) -> Result<(&str, Option<u16>), ParseError> {
    let text = text.trim();
    let (host, port) = if text.starts_with('[') {
        let end = text
            .find(']')
            .ok_or(ParseError::Uri("unclosed ipv6 reference"))?;
        let (host, rest) = text.split_at(end + 1);
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(p),
            None if rest.is_empty() => None,
            None => return Err(ParseError::Uri("garbage after ipv6 reference")),
        };
        (host, port)
    } else {
        match text.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b))
    {
        return Err(ParseError::Uri("invalid host"));
    }
    if host.starts_with('[') && host_ip(host).is_none() {
        return Err(ParseError::Uri("invalid ipv6 reference"));
    }
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| ParseError::Uri("invalid port"))?,
        ),
        None => None,
    };
    Ok((host, port))
}

/// A host string (possibly a bracketed IPv6 reference) as an IP address.
pub(crate) fn host_ip(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// Formats an IP address as a URI host (IPv6 in brackets).
pub(crate) fn ip_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// Whether a byte may appear in a token (RFC 3261 §25.1).
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Removes surrounding double quotes and backslash escapes, if the text is quoted.
pub(crate) fn unquote(text: &str) -> &str {
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
}

/// Splits on a separator byte that is outside double quotes and angle brackets.
pub(crate) fn split_outside_quotes(text: &str, separator: u8) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut in_quotes = false;
    let mut escaped = false;
    let mut angle = false;
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quotes = false;
            }
            continue;
        }
        match b {
            b'"' => in_quotes = true,
            b'<' => angle = true,
            b'>' => angle = false,
            _ if b == separator && !angle => {
                parts.push(text.get(start..i).unwrap_or(""));
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(text.get(start..).unwrap_or(""));
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sip_uri_with_user_port_and_params() {
        let uri = Uri::parse("sip:+15551234@10.0.0.1:5070;transport=tcp;lr").unwrap();
        assert_eq!(uri.scheme, Scheme::Sip);
        assert_eq!(uri.user.as_deref(), Some("+15551234"));
        assert_eq!(uri.host, "10.0.0.1");
        assert_eq!(uri.port, Some(5070));
        assert_eq!(uri.transport(), Some("tcp"));
        assert!(uri.is_loose_route());
        assert_eq!(
            uri.to_string(),
            "sip:+15551234@10.0.0.1:5070;transport=tcp;lr"
        );
    }

    #[test]
    fn user_part_may_hold_question_marks_and_semicolons() {
        // RFC 4475 §3.1.1.2.
        let uri = Uri::parse(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        )
        .unwrap();
        assert_eq!(
            uri.user.as_deref(),
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(
            uri.password.as_deref(),
            Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        );
        assert_eq!(uri.host, "example.com");
        assert_eq!(uri.headers, None);
        let with_headers = Uri::parse("sip:user@example.com?Route=%3Csip:example.com%3E").unwrap();
        assert_eq!(with_headers.host, "example.com");
        assert_eq!(
            with_headers.headers.as_deref(),
            Some("Route=%3Csip:example.com%3E")
        );
    }

    #[test]
    fn empty_parameters_are_refused() {
        assert!(Params::parse(";a=b;c").is_ok());
        assert!(Params::parse("a=b").is_ok());
        assert!(Params::parse("").is_ok());
        for bad in [";;", "a;;b", "a;", ";a; ;b"] {
            assert!(Params::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_ipv6_host() {
        let uri = Uri::parse("sip:alice@[::1]:5060").unwrap();
        assert_eq!(uri.ip(), Some("::1".parse().unwrap()));
        assert_eq!(uri.port, Some(5060));
        assert!(Uri::parse("sip:[nothex]").is_err());
    }

    #[test]
    fn parses_tel_uri() {
        let uri = Uri::parse("tel:+4930123;phone-context=example.com").unwrap();
        assert_eq!(uri.scheme, Scheme::Tel);
        assert_eq!(uri.user.as_deref(), Some("+4930123"));
        assert_eq!(uri.to_string(), "tel:+4930123;phone-context=example.com");
    }

    #[test]
    fn rejects_bad_uris() {
        for bad in [
            "",
            "nocolon",
            "sip:",
            "sip:a b",
            "sip:@host",
            "sip:host:99999",
            "1x:y",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn splits_lists_outside_quotes_and_brackets() {
        let parts = split_outside_quotes(r#""a,b" <sip:x,y@h>, <sip:z@h>"#, b',');
        assert_eq!(parts.len(), 2);
    }
}
