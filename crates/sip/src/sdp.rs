//! SDP (RFC 4566) for the subset a G.711 audio bridge needs, and offer/answer (RFC 3264).
//!
//! [`SessionDescription::parse`] accepts any well-formed SDP and keeps lines it does
//! not model (b=, i=, k=...) so serialization is faithful. [`answer`] turns a remote
//! offer into our answer plus the [`Negotiated`] media parameters; [`offer`] builds an
//! offer for a call that arrived without one.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::error::{NegotiationError, SdpError};
use crate::sdes::{self, Crypto};

/// The largest SDP body accepted, in bytes.
pub const MAX_SDP_SIZE: usize = 16 * 1024;
/// The largest number of lines accepted in one SDP body.
pub const MAX_SDP_LINES: usize = 512;

/// The `o=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The user name (`-` when none).
    pub username: String,
    /// The session id, a numeric string.
    pub session_id: String,
    /// The session version; it increases when the description changes.
    pub session_version: u64,
    /// The network type, `IN`.
    pub net_type: String,
    /// The address type, `IP4` or `IP6`.
    pub addr_type: String,
    /// The address of the originator.
    pub address: String,
}

/// A `c=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The network type, `IN`.
    pub net_type: String,
    /// The address type, `IP4` or `IP6`.
    pub addr_type: String,
    /// The connection address as written (it may carry a `/ttl` for multicast).
    pub address: String,
}

impl Connection {
    /// A `c=IN IP4|IP6 <ip>` line for an address.
    pub fn for_ip(ip: IpAddr) -> Self {
        Self {
            net_type: "IN".into(),
            addr_type: if ip.is_ipv4() { "IP4" } else { "IP6" }.into(),
            address: ip.to_string(),
        }
    }

    /// The address as an IP, if it is a unicast literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.split('/').next().and_then(|a| a.parse().ok())
    }
}

/// An `a=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute name.
    pub name: String,
    /// The value after the colon, if any.
    pub value: Option<String>,
}

impl Attribute {
    /// A property attribute (`a=sendrecv`).
    pub fn flag(name: &str) -> Self {
        Self {
            name: name.into(),
            value: None,
        }
    }

    /// A value attribute (`a=ptime:20`).
    pub fn value(name: &str, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: Some(value.into()),
        }
    }
}

/// A line this module does not model, kept verbatim (`b=AS:64`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherLine {
    /// The line type letter.
    pub kind: char,
    /// The text after `=`.
    pub value: String,
}

/// The media direction (RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both ways (the default).
    SendRecv,
    /// The describing side only sends.
    SendOnly,
    /// The describing side only receives.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    fn from_attribute(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Self::SendRecv),
            "sendonly" => Some(Self::SendOnly),
            "recvonly" => Some(Self::RecvOnly),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }

    /// The direction an answer takes for an offered direction.
    pub fn answer(self) -> Self {
        match self {
            Self::SendRecv => Self::SendRecv,
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            Self::Inactive => Self::Inactive,
        }
    }

    /// Whether the describing side sends media.
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// Whether the describing side receives media.
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }
}

/// An `m=` section with its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// The media type (`audio`, `video`...).
    pub media: String,
    /// The transport port (0 rejects or disables the stream).
    pub port: u16,
    /// The number of ports, when written as `port/count`.
    pub port_count: Option<u16>,
    /// The transport protocol (`RTP/AVP`).
    pub protocol: String,
    /// The formats (payload types for RTP).
    pub formats: Vec<String>,
    /// The media-level connection line.
    pub connection: Option<Connection>,
    /// Unmodelled lines (i=, b=, k=), in order, before the attributes.
    pub other: Vec<OtherLine>,
    /// The attributes in order.
    pub attributes: Vec<Attribute>,
}

impl MediaDescription {
    /// The value of the first attribute of this name.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.value.as_deref())
    }

    /// The `(payload type, encoding name, clock rate)` of each `a=rtpmap`.
    pub fn rtpmaps(&self) -> Vec<(u8, String, u32)> {
        self.attributes
            .iter()
            .filter(|a| a.name == "rtpmap")
            .filter_map(|a| {
                let v = a.value.as_deref()?;
                let (pt, encoding) = v.split_once(' ')?;
                let mut parts = encoding.trim().split('/');
                let name = parts.next()?.to_owned();
                let rate = parts.next()?.parse().ok()?;
                Some((pt.trim().parse().ok()?, name, rate))
            })
            .collect()
    }

    /// The explicit direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        self.attributes
            .iter()
            .find_map(|a| Direction::from_attribute(&a.name))
    }

    /// The `a=ptime` value in milliseconds.
    pub fn ptime(&self) -> Option<u32> {
        self.attribute("ptime").and_then(|p| p.trim().parse().ok())
    }

    /// The `a=rtcp` port (RFC 3605), if given.
    pub fn rtcp_port(&self) -> Option<u16> {
        self.attribute("rtcp")
            .and_then(|v| v.split_ascii_whitespace().next())
            .and_then(|p| p.parse().ok())
    }

    /// The `a=fmtp` parameters of a payload type.
    pub fn fmtp(&self, payload_type: u8) -> Option<&str> {
        self.attributes
            .iter()
            .filter(|a| a.name == "fmtp")
            .filter_map(|a| a.value.as_deref())
            .find_map(|v| {
                let (pt, params) = v.split_once(' ')?;
                (pt.parse::<u8>().ok()? == payload_type).then_some(params.trim())
            })
    }
}

/// A session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// The `o=` line.
    pub origin: Origin,
    /// The `s=` line.
    pub session_name: String,
    /// The session-level `c=` line.
    pub connection: Option<Connection>,
    /// The `t=` line (start, stop).
    pub timing: (u64, u64),
    /// Unmodelled session-level lines, in order.
    pub other: Vec<OtherLine>,
    /// Session-level attributes.
    pub attributes: Vec<Attribute>,
    /// The media sections.
    pub media: Vec<MediaDescription>,
}

impl SessionDescription {
    /// Parses an SDP body.
    pub fn parse(input: &[u8]) -> Result<Self, SdpError> {
        if input.len() > MAX_SDP_SIZE {
            return Err(SdpError::TooLarge {
                limit: MAX_SDP_SIZE,
            });
        }
        let text = std::str::from_utf8(input).map_err(|_| SdpError::Utf8)?;
        let mut origin = None;
        let mut session_name = None;
        let mut connection = None;
        let mut timing = None;
        let mut other = Vec::new();
        let mut attributes = Vec::new();
        let mut media: Vec<MediaDescription> = Vec::new();
        let mut saw_version = false;
        let lines = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .enumerate()
            .filter(|(_, l)| !l.is_empty());
        for (count, (index, line)) in lines.enumerate() {
            let number = index + 1;
            if count >= MAX_SDP_LINES {
                return Err(SdpError::TooManyLines);
            }
            let mut chars = line.chars();
            let kind = chars.next().ok_or(SdpError::Line { line: number })?;
            let value = line
                .strip_prefix(kind)
                .and_then(|l| l.strip_prefix('='))
                .ok_or(SdpError::Line { line: number })?;
            if !kind.is_ascii_lowercase() {
                return Err(SdpError::Line { line: number });
            }
            if count == 0 {
                if kind != 'v' || value.trim() != "0" {
                    return Err(SdpError::Field {
                        field: "version",
                        line: number,
                    });
                }
                saw_version = true;
                continue;
            }
            let field = |field| SdpError::Field {
                field,
                line: number,
            };
            match (kind, media.last_mut()) {
                ('v', _) => return Err(field("version")),
                ('m', _) => media.push(parse_media(value).ok_or(field("media"))?),
                ('c', Some(m)) => {
                    m.connection = Some(parse_connection(value).ok_or(field("connection"))?)
                }
                ('c', None) => {
                    connection = Some(parse_connection(value).ok_or(field("connection"))?)
                }
                ('a', Some(m)) => m.attributes.push(parse_attribute(value)),
                ('a', None) => attributes.push(parse_attribute(value)),
                ('o', None) => origin = Some(parse_origin(value).ok_or(field("origin"))?),
                ('s', None) => session_name = Some(value.to_owned()),
                ('t', None) => {
                    let mut parts = value.split_ascii_whitespace().map(str::parse::<u64>);
                    match (parts.next(), parts.next(), parts.next()) {
                        (Some(Ok(start)), Some(Ok(stop)), None) => timing = Some((start, stop)),
                        _ => return Err(field("timing")),
                    }
                }
                (kind, Some(m)) => m.other.push(OtherLine {
                    kind,
                    value: value.to_owned(),
                }),
                (kind, None) => other.push(OtherLine {
                    kind,
                    value: value.to_owned(),
                }),
            }
        }
        if !saw_version {
            return Err(SdpError::Missing("v="));
        }
        Ok(Self {
            origin: origin.ok_or(SdpError::Missing("o="))?,
            session_name: session_name.ok_or(SdpError::Missing("s="))?,
            connection,
            timing: timing.ok_or(SdpError::Missing("t="))?,
            other,
            attributes,
            media,
        })
    }

    /// Serializes with CRLF line endings.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// The first audio section, if any.
    pub fn audio(&self) -> Option<&MediaDescription> {
        self.media.iter().find(|m| m.media == "audio")
    }

    /// Whether two descriptions differ in anything but the origin's session version.
    pub fn same_content(&self, other: &Self) -> bool {
        let mut a = self.clone();
        a.origin.session_version = other.origin.session_version;
        &a == other
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        write!(
            f,
            "v=0\r\no={} {} {} {} {} {}\r\ns={}\r\n",
            o.username,
            o.session_id,
            o.session_version,
            o.net_type,
            o.addr_type,
            o.address,
            self.session_name
        )?;
        let mut session_other = self.other.iter().peekable();
        // RFC 4566 order: i u e p before c, b after c.
        while let Some(line) = session_other.next_if(|l| "iuep".contains(l.kind)) {
            write!(f, "{}={}\r\n", line.kind, line.value)?;
        }
        if let Some(c) = &self.connection {
            write_connection(f, c)?;
        }
        while let Some(line) = session_other.next_if(|l| l.kind == 'b') {
            write!(f, "{}={}\r\n", line.kind, line.value)?;
        }
        write!(f, "t={} {}\r\n", self.timing.0, self.timing.1)?;
        for line in session_other {
            write!(f, "{}={}\r\n", line.kind, line.value)?;
        }
        for a in &self.attributes {
            write_attribute(f, a)?;
        }
        for m in &self.media {
            write!(f, "m={} {}", m.media, m.port)?;
            if let Some(count) = m.port_count {
                write!(f, "/{count}")?;
            }
            write!(f, " {}", m.protocol)?;
            for fmt in &m.formats {
                write!(f, " {fmt}")?;
            }
            f.write_str("\r\n")?;
            let mut media_other = m.other.iter().peekable();
            while let Some(line) = media_other.next_if(|l| l.kind == 'i') {
                write!(f, "{}={}\r\n", line.kind, line.value)?;
            }
            if let Some(c) = &m.connection {
                write_connection(f, c)?;
            }
            for line in media_other {
                write!(f, "{}={}\r\n", line.kind, line.value)?;
            }
            for a in &m.attributes {
                write_attribute(f, a)?;
            }
        }
        Ok(())
    }
}

fn write_connection(f: &mut fmt::Formatter<'_>, c: &Connection) -> fmt::Result {
    write!(f, "c={} {} {}\r\n", c.net_type, c.addr_type, c.address)
}

fn write_attribute(f: &mut fmt::Formatter<'_>, a: &Attribute) -> fmt::Result {
    match &a.value {
        Some(v) => write!(f, "a={}:{}\r\n", a.name, v),
        None => write!(f, "a={}\r\n", a.name),
    }
}

fn is_sdp_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

fn parse_origin(value: &str) -> Option<Origin> {
    let parts: Vec<&str> = value.split_ascii_whitespace().collect();
    let [username, session_id, version, net_type, addr_type, address] = parts.as_slice() else {
        return None;
    };
    if !session_id.bytes().all(|b| b.is_ascii_digit()) || session_id.is_empty() {
        return None;
    }
    Some(Origin {
        username: (*username).to_owned(),
        session_id: (*session_id).to_owned(),
        session_version: version.parse().ok()?,
        net_type: (*net_type).to_owned(),
        addr_type: (*addr_type).to_owned(),
        address: (*address).to_owned(),
    })
}

fn parse_connection(value: &str) -> Option<Connection> {
    let parts: Vec<&str> = value.split_ascii_whitespace().collect();
    let [net_type, addr_type, address] = parts.as_slice() else {
        return None;
    };
    Some(Connection {
        net_type: (*net_type).to_owned(),
        addr_type: (*addr_type).to_owned(),
        address: (*address).to_owned(),
    })
}

fn parse_media(value: &str) -> Option<MediaDescription> {
    let mut parts = value.split_ascii_whitespace();
    let media = parts.next().filter(|m| is_sdp_token(m))?.to_owned();
    let ports = parts.next()?;
    let (port, port_count) = match ports.split_once('/') {
        Some((p, c)) => (p.parse().ok()?, Some(c.parse().ok()?)),
        None => (ports.parse().ok()?, None),
    };
    let protocol = parts.next().filter(|p| is_sdp_token(p))?.to_owned();
    let formats: Vec<String> = parts.map(str::to_owned).collect();
    if formats.is_empty() {
        return None;
    }
    Some(MediaDescription {
        media,
        port,
        port_count,
        protocol,
        formats,
        connection: None,
        other: Vec::new(),
        attributes: Vec::new(),
    })
}

fn parse_attribute(value: &str) -> Attribute {
    match value.split_once(':') {
        Some((name, v)) => Attribute {
            name: name.to_owned(),
            value: Some(v.to_owned()),
        },
        None => Attribute {
            name: value.to_owned(),
            value: None,
        },
    }
}

/// An audio codec we can mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
}

impl Codec {
    /// The static payload type.
    pub fn static_payload_type(self) -> u8 {
        match self {
            Self::Pcmu => 0,
            Self::Pcma => 8,
        }
    }

    /// The encoding name used in `a=rtpmap`.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
        }
    }
}

/// What we offer and accept in SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// The address put in `o=` and `c=`: the bound RTP address, or the public address.
    pub address: IpAddr,
    /// Our RTP port for this call.
    pub rtp_port: u16,
    /// The codecs we accept; the offer's order of preference decides among them.
    pub codecs: Vec<Codec>,
    /// Whether to negotiate telephone-event/8000 (RFC 4733).
    pub telephone_event: bool,
    /// The payload type for telephone-event when we make the offer.
    pub telephone_event_payload_type: u8,
    /// The packetization time we ask for, in milliseconds.
    pub ptime: u32,
    /// The `o=` session id.
    pub session_id: u64,
    /// The `o=` session version.
    pub session_version: u64,
    /// SRTP with SDES (RFC 4568): `None` takes plain RTP only (RTP/SAVP is refused);
    /// `Some(key)` takes SRTP only, with `key` as ours (plain RTP is refused), as on SIP
    /// over TLS.
    pub srtp: Option<Crypto>,
}

impl MediaConfig {
    /// PCMU, PCMA and telephone-event (payload type 101), ptime 20.
    pub fn new(address: IpAddr, rtp_port: u16, session_id: u64) -> Self {
        Self {
            address,
            rtp_port,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event: true,
            telephone_event_payload_type: 101,
            ptime: 20,
            session_id,
            session_version: session_id,
            srtp: None,
        }
    }

    fn description(&self, media: Vec<MediaDescription>) -> SessionDescription {
        let connection = Connection::for_ip(self.address);
        SessionDescription {
            origin: Origin {
                username: "pinbridge".into(),
                session_id: self.session_id.to_string(),
                session_version: self.session_version,
                net_type: "IN".into(),
                addr_type: connection.addr_type.clone(),
                address: connection.address.clone(),
            },
            session_name: "pinbridge".into(),
            connection: Some(connection),
            timing: (0, 0),
            other: Vec::new(),
            attributes: Vec::new(),
            media,
        }
    }
}

/// The outcome of offer/answer for the audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The codec both sides use.
    pub codec: Codec,
    /// Its payload type.
    pub payload_type: u8,
    /// The telephone-event payload type, if both sides support it.
    pub telephone_event: Option<u8>,
    /// Where to send RTP; `None` when the peer gave 0.0.0.0 (RFC 2543 hold) or port 0.
    pub remote_rtp: Option<SocketAddr>,
    /// The peer's RTCP port (a=rtcp, else RTP port + 1).
    pub remote_rtcp_port: Option<u16>,
    /// The peer's packetization time, if it asked for one.
    pub remote_ptime: Option<u32>,
    /// The direction as the peer described it.
    pub remote_direction: Direction,
    /// The direction in our description.
    pub local_direction: Direction,
    /// Whether the peer put the call on hold: it will not receive (a=sendonly or
    /// a=inactive) or gave c=0.0.0.0.
    pub on_hold: bool,
    /// The SRTP keys agreed, when the stream is SRTP.
    pub srtp: Option<SrtpKeys>,
}

/// The SDES keys of an SRTP stream: the peer's (for what we receive) and ours (for what
/// we send). `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// The peer's master key and salt.
    pub remote: [u8; sdes::KEY_LEN],
    /// Our master key and salt.
    pub local: [u8; sdes::KEY_LEN],
    /// The tag of the crypto attribute agreed.
    pub tag: u32,
}

impl fmt::Debug for SrtpKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SrtpKeys {{ tag: {}, .. }}", self.tag)
    }
}

/// Answers a remote offer: picks the first offered codec we support, keeps the offered
/// telephone-event payload type, answers every other media section with port 0.
pub fn answer(
    offer: &SessionDescription,
    config: &MediaConfig,
) -> Result<(SessionDescription, Negotiated), NegotiationError> {
    let mut chosen: Option<(usize, Negotiated)> = None;
    let mut last_error = NegotiationError::NoAudio;
    for (index, m) in offer.media.iter().enumerate() {
        if m.media != "audio" || m.port == 0 {
            continue;
        }
        match negotiate_stream(offer, m, config) {
            Ok(n) => {
                chosen = Some((index, n));
                break;
            }
            Err(e) => last_error = e,
        }
    }
    let (chosen_index, negotiated) = chosen.ok_or(last_error)?;
    let media = offer
        .media
        .iter()
        .enumerate()
        .map(|(index, m)| {
            if index == chosen_index {
                let mut section = audio_section(
                    config,
                    &m.protocol,
                    &[(negotiated.codec, negotiated.payload_type)],
                    negotiated.telephone_event,
                    negotiated.local_direction,
                );
                if let (Some(keys), Some(ours)) = (&negotiated.srtp, &config.srtp) {
                    let answer = Crypto {
                        tag: keys.tag,
                        key: ours.key,
                    };
                    section
                        .attributes
                        .push(Attribute::value("crypto", answer.to_value()));
                }
                section
            } else {
                MediaDescription {
                    media: m.media.clone(),
                    port: 0,
                    port_count: None,
                    protocol: m.protocol.clone(),
                    formats: m.formats.iter().take(1).cloned().collect(),
                    connection: None,
                    other: Vec::new(),
                    attributes: Vec::new(),
                }
            }
        })
        .collect();
    Ok((config.description(media), negotiated))
}

/// An offer for a call that arrived without one (or a re-INVITE without one).
pub fn offer(config: &MediaConfig) -> SessionDescription {
    let codecs: Vec<(Codec, u8)> = config
        .codecs
        .iter()
        .map(|c| (*c, c.static_payload_type()))
        .collect();
    let protocol = if config.srtp.is_some() {
        "RTP/SAVP"
    } else {
        "RTP/AVP"
    };
    let mut section = audio_section(
        config,
        protocol,
        &codecs,
        config
            .telephone_event
            .then_some(config.telephone_event_payload_type),
        Direction::SendRecv,
    );
    if let Some(ours) = &config.srtp {
        section
            .attributes
            .push(Attribute::value("crypto", ours.to_value()));
    }
    config.description(vec![section])
}

fn audio_section(
    config: &MediaConfig,
    protocol: &str,
    codecs: &[(Codec, u8)],
    telephone_event: Option<u8>,
    direction: Direction,
) -> MediaDescription {
    let mut formats = Vec::new();
    let mut attributes = Vec::new();
    for (codec, payload_type) in codecs {
        formats.push(payload_type.to_string());
        attributes.push(Attribute::value(
            "rtpmap",
            format!("{payload_type} {}/8000", codec.encoding_name()),
        ));
    }
    if let Some(pt) = telephone_event {
        formats.push(pt.to_string());
        attributes.push(Attribute::value(
            "rtpmap",
            format!("{pt} telephone-event/8000"),
        ));
        attributes.push(Attribute::value("fmtp", format!("{pt} 0-16")));
    }
    attributes.push(Attribute::value("ptime", config.ptime.to_string()));
    attributes.push(Attribute::flag(direction.as_str()));
    MediaDescription {
        media: "audio".into(),
        port: config.rtp_port,
        port_count: None,
        protocol: protocol.into(),
        formats,
        connection: None,
        other: Vec::new(),
        attributes,
    }
}

fn negotiate_stream(
    offer: &SessionDescription,
    m: &MediaDescription,
    config: &MediaConfig,
) -> Result<Negotiated, NegotiationError> {
    let plain = ["RTP/AVP", "RTP/AVPF"]
        .iter()
        .any(|p| m.protocol.eq_ignore_ascii_case(p));
    let secure = ["RTP/SAVP", "RTP/SAVPF"]
        .iter()
        .any(|p| m.protocol.eq_ignore_ascii_case(p));
    let srtp = match (&config.srtp, plain, secure) {
        (None, true, _) => None,
        (Some(ours), _, true) => {
            let theirs = sdes::choose(
                m.attributes
                    .iter()
                    .filter(|a| a.name == "crypto")
                    .filter_map(|a| a.value.as_deref()),
            )
            .map_err(NegotiationError::Crypto)?;
            Some(SrtpKeys {
                remote: theirs.key,
                local: ours.key,
                tag: theirs.tag,
            })
        }
        (Some(_), true, _) => return Err(NegotiationError::PlainRtpRefused),
        _ => return Err(NegotiationError::UnsupportedTransport(m.protocol.clone())),
    };
    let rtpmaps = m.rtpmaps();
    let encoding_of = |pt: u8| {
        rtpmaps
            .iter()
            .find(|(p, _, _)| *p == pt)
            .map(|(_, name, rate)| (name.to_ascii_uppercase(), *rate))
    };
    let mut chosen = None;
    let mut telephone_event = None;
    for format in &m.formats {
        let Ok(pt) = format.parse::<u8>() else {
            continue;
        };
        let codec = match (pt, encoding_of(pt)) {
            (_, Some((name, 8000))) if name == "PCMU" => Some(Codec::Pcmu),
            (_, Some((name, 8000))) if name == "PCMA" => Some(Codec::Pcma),
            (_, Some((name, 8000))) if name == "TELEPHONE-EVENT" => {
                telephone_event.get_or_insert(pt);
                None
            }
            (0, None) => Some(Codec::Pcmu),
            (8, None) => Some(Codec::Pcma),
            _ => None,
        };
        if let Some(codec) = codec.filter(|c| config.codecs.contains(c)) {
            chosen.get_or_insert((codec, pt));
        }
    }
    let (codec, payload_type) = chosen.ok_or(NegotiationError::NoCommonCodec)?;
    let connection = m
        .connection
        .as_ref()
        .or(offer.connection.as_ref())
        .ok_or(NegotiationError::NoConnectionAddress)?;
    let ip = connection
        .ip()
        .ok_or(NegotiationError::NoConnectionAddress)?;
    let null_address = ip.is_unspecified();
    let remote_direction = m
        .direction()
        .or_else(|| {
            offer
                .attributes
                .iter()
                .find_map(|a| Direction::from_attribute(&a.name))
        })
        .unwrap_or(Direction::SendRecv);
    let on_hold = null_address || !remote_direction.receives();
    Ok(Negotiated {
        codec,
        payload_type,
        telephone_event: telephone_event.filter(|_| config.telephone_event),
        remote_rtp: (!null_address).then(|| SocketAddr::new(ip, m.port)),
        remote_rtcp_port: m.rtcp_port().or_else(|| m.port.checked_add(1)),
        remote_ptime: m.ptime(),
        remote_direction,
        local_direction: remote_direction.answer(),
        on_hold,
        srtp,
    })
}

/// Reads what was agreed from an answer to our own offer (late offer in INVITE or re-INVITE).
pub fn accept_answer(
    answer: &SessionDescription,
    config: &MediaConfig,
) -> Result<Negotiated, NegotiationError> {
    let m = answer
        .media
        .iter()
        .find(|m| m.media == "audio" && m.port != 0)
        .ok_or(NegotiationError::NoAudio)?;
    let mut n = negotiate_stream(answer, m, config)?;
    // The answer's key must answer the crypto line we offered, under its tag (RFC 4568
    // §5.1.3): a key under another tag answers nothing we sent.
    if let (Some(ours), Some(theirs)) = (&config.srtp, &n.srtp)
        && theirs.tag != ours.tag
    {
        return Err(NegotiationError::CryptoTagMismatch {
            offered: ours.tag,
            answered: theirs.tag,
        });
    }
    // In an answer, our direction is what we offered (sendrecv) narrowed by theirs.
    n.local_direction = n.remote_direction.answer();
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BARESIP_OFFER: &str = "v=0\r\no=- 1425112066 3408237440 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\na=tool:baresip 3.10.1\r\nm=audio 10750 RTP/AVP 9 0 8 101\r\nb=AS:64\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\na=label:1\r\na=ssrc:3236433408 cname:e2b1a4d0\r\na=rtcp-rsize\r\na=ptime:20\r\n";

    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n";

    fn config() -> MediaConfig {
        MediaConfig::new("192.0.2.10".parse().unwrap(), 20000, 42)
    }

    /// An SRTP offer as baresip makes it on TLS (RTP/SAVP, one SDES key).
    fn savp_offer(crypto: &str) -> SessionDescription {
        let text = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 10750 RTP/SAVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\n{crypto}a=sendrecv\r\n"
        );
        SessionDescription::parse(text.as_bytes()).unwrap()
    }

    const THEIR_KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    fn srtp_config() -> MediaConfig {
        MediaConfig {
            srtp: Some(Crypto {
                tag: 1,
                key: [7; sdes::KEY_LEN],
            }),
            ..config()
        }
    }

    #[test]
    fn an_srtp_offer_is_answered_with_our_key_under_its_tag() {
        let line = format!("a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}\r\n");
        let (answer, n) = answer(&savp_offer(&line), &srtp_config()).unwrap();
        let keys = n.srtp.clone().expect("SRTP agreed");
        assert_eq!(keys.tag, 3);
        assert_eq!(keys.local, [7; sdes::KEY_LEN]);
        assert_eq!(
            Crypto::parse(&format!("3 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}"))
                .unwrap()
                .key,
            keys.remote
        );
        let text = String::from_utf8(answer.to_bytes()).unwrap();
        assert!(text.contains("m=audio 20000 RTP/SAVP 0 101\r\n"), "{text}");
        let ours = Crypto {
            tag: 3,
            key: [7; sdes::KEY_LEN],
        };
        assert!(
            text.contains(&format!("a=crypto:{}\r\n", ours.to_value())),
            "{text}"
        );
        assert!(
            !format!("{n:?}").contains("remote: ["),
            "keys in Debug: {n:?}"
        );
    }

    #[test]
    fn plain_rtp_is_refused_where_srtp_is_required_and_srtp_where_it_is_not() {
        let plain = SessionDescription::parse(BARESIP_OFFER.as_bytes()).unwrap();
        assert_eq!(
            answer(&plain, &srtp_config()).err(),
            Some(NegotiationError::PlainRtpRefused)
        );
        let line = format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}\r\n");
        assert_eq!(
            answer(&savp_offer(&line), &config()).err(),
            Some(NegotiationError::UnsupportedTransport("RTP/SAVP".into()))
        );
        assert!(matches!(
            answer(&savp_offer(""), &srtp_config()).err(),
            Some(NegotiationError::Crypto(_))
        ));
        let short = "a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n";
        assert!(matches!(
            answer(&savp_offer(short), &srtp_config()).err(),
            Some(NegotiationError::Crypto(sdes::SdesError::Suite(_)))
        ));
    }

    #[test]
    fn our_offer_on_srtp_carries_our_key_and_its_answer_gives_theirs() {
        let offer = offer(&srtp_config());
        let text = String::from_utf8(offer.to_bytes()).unwrap();
        assert!(text.contains(" RTP/SAVP "), "{text}");
        assert!(
            text.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"),
            "{text}"
        );
        let line = format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}\r\n");
        let n = accept_answer(&savp_offer(&line), &srtp_config()).unwrap();
        assert!(n.srtp.is_some());
        let under_another_tag = line.replace("a=crypto:1 ", "a=crypto:2 ");
        assert_eq!(
            accept_answer(&savp_offer(&under_another_tag), &srtp_config()).unwrap_err(),
            NegotiationError::CryptoTagMismatch {
                offered: 1,
                answered: 2
            }
        );
        assert!(
            !String::from_utf8(super::offer(&config()).to_bytes())
                .unwrap()
                .contains("crypto")
        );
    }

    #[test]
    fn parses_and_roundtrips_baresip_offer() {
        let sdp = SessionDescription::parse(BARESIP_OFFER.as_bytes()).unwrap();
        assert_eq!(sdp.origin.session_version, 3408237440);
        let audio = sdp.audio().unwrap();
        assert_eq!(audio.port, 10750);
        assert_eq!(audio.formats, vec!["9", "0", "8", "101"]);
        assert_eq!(audio.ptime(), Some(20));
        assert_eq!(audio.direction(), Some(Direction::SendRecv));
        assert_eq!(audio.fmtp(101), Some("0-15"));
        assert_eq!(String::from_utf8(sdp.to_bytes()).unwrap(), BARESIP_OFFER);
    }

    #[test]
    fn answers_with_first_supported_codec_in_offer_order() {
        let offer = SessionDescription::parse(BARESIP_OFFER.as_bytes()).unwrap();
        let (answer, n) = answer(&offer, &config()).unwrap();
        assert_eq!(n.codec, Codec::Pcmu);
        assert_eq!(n.payload_type, 0);
        assert_eq!(n.telephone_event, Some(101));
        assert_eq!(n.remote_rtp, Some("127.0.0.1:10750".parse().unwrap()));
        assert_eq!(n.remote_rtcp_port, Some(10751));
        assert!(!n.on_hold);
        let a = answer.audio().unwrap();
        assert_eq!(a.port, 20000);
        assert_eq!(a.formats, vec!["0", "101"]);
        assert_eq!(a.ptime(), Some(20));
        assert_eq!(answer.connection.as_ref().unwrap().address, "192.0.2.10");
        let text = String::from_utf8(answer.to_bytes()).unwrap();
        assert!(text.contains("m=audio 20000 RTP/AVP 0 101\r\n"), "{text}");
    }

    #[test]
    fn answers_sipp_pcma_offer() {
        let offer = SessionDescription::parse(SIPP_OFFER.as_bytes()).unwrap();
        let (_, n) = answer(&offer, &config()).unwrap();
        assert_eq!(n.codec, Codec::Pcma);
        assert_eq!(n.payload_type, 8);
        assert_eq!(n.telephone_event, Some(101));
    }

    #[test]
    fn detects_hold() {
        let held = SIPP_OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
        let (_, n) = answer(
            &SessionDescription::parse(held.as_bytes()).unwrap(),
            &config(),
        )
        .unwrap();
        assert!(n.on_hold);
        assert_eq!(n.remote_rtp, None);
        let sendonly = format!("{SIPP_OFFER}a=sendonly\r\n");
        let (ans, n) = answer(
            &SessionDescription::parse(sendonly.as_bytes()).unwrap(),
            &config(),
        )
        .unwrap();
        assert!(n.on_hold);
        assert_eq!(n.local_direction, Direction::RecvOnly);
        assert_eq!(ans.audio().unwrap().direction(), Some(Direction::RecvOnly));
    }

    #[test]
    fn rejects_offer_without_common_codec() {
        let g722 = SIPP_OFFER
            .replace("RTP/AVP 8 101", "RTP/AVP 9")
            .replace("a=rtpmap:8 PCMA/8000", "a=rtpmap:9 G722/8000");
        let err = answer(
            &SessionDescription::parse(g722.as_bytes()).unwrap(),
            &config(),
        )
        .unwrap_err();
        assert_eq!(err, NegotiationError::NoCommonCodec);
        assert_eq!(err.status_code(), 488);
        let srtp = SIPP_OFFER.replace("RTP/AVP", "RTP/SAVP");
        assert!(matches!(
            answer(
                &SessionDescription::parse(srtp.as_bytes()).unwrap(),
                &config()
            ),
            Err(NegotiationError::UnsupportedTransport(_))
        ));
    }

    #[test]
    fn rejects_extra_streams_with_port_zero() {
        let with_video =
            format!("{SIPP_OFFER}m=video 6002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n");
        let (ans, _) = answer(
            &SessionDescription::parse(with_video.as_bytes()).unwrap(),
            &config(),
        )
        .unwrap();
        assert_eq!(ans.media.len(), 2);
        assert_eq!(ans.media[1].port, 0);
    }

    #[test]
    fn offer_lists_all_codecs_and_is_answerable() {
        let ours = offer(&config());
        let audio = ours.audio().unwrap();
        assert_eq!(audio.formats, vec!["0", "8", "101"]);
        let (_, n) = answer(&ours, &config()).unwrap();
        assert_eq!(n.codec, Codec::Pcmu);
        assert_eq!(
            accept_answer(&ours, &config()).unwrap().telephone_event,
            Some(101)
        );
    }

    #[test]
    fn rejects_malformed_sdp() {
        for bad in [
            "",
            "v=1\r\n",
            "v=0\r\nx\r\n",
            "v=0\r\ns=-\r\nt=0 0\r\n",
            "v=0\r\no=- x 1 IN IP4 1.1.1.1\r\ns=-\r\nt=0 0\r\n",
            "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nt=0 0\r\nm=audio x RTP/AVP 0\r\n",
        ] {
            assert!(
                SessionDescription::parse(bad.as_bytes()).is_err(),
                "{bad:?}"
            );
        }
    }
}
