//! Error types of the crate.

use thiserror::Error;

/// Why a SIP message, a header or a URI could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The message is larger than [`crate::message::MAX_MESSAGE_SIZE`].
    #[error("message exceeds {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The message has more header lines than [`crate::message::MAX_HEADERS`].
    #[error("message has more than {limit} headers")]
    TooManyHeaders {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The message ends before the empty line that closes the header section.
    #[error("header section is not terminated")]
    Unterminated,
    /// The request line or status line is malformed.
    #[error("malformed start line")]
    StartLine,
    /// The protocol version is well-formed but not SIP/2.0 (answered with 505).
    #[error("unsupported protocol version")]
    Version,
    /// The method is not a valid token.
    #[error("invalid method")]
    Method,
    /// The status code is not a three-digit number from 100 to 699.
    #[error("invalid status code")]
    Status,
    /// The header section is not valid UTF-8.
    #[error("header section is not valid utf-8")]
    Utf8,
    /// A header line has no colon or an invalid name.
    #[error("malformed header line")]
    HeaderLine,
    /// The Content-Length header is not a number, or there are conflicting ones.
    #[error("invalid content-length")]
    ContentLength,
    /// The body is shorter than the Content-Length header announces.
    #[error("body is shorter than content-length")]
    TruncatedBody,
    /// A URI is malformed.
    #[error("invalid uri: {0}")]
    Uri(&'static str),
    /// A header value is malformed.
    #[error("invalid {0} header")]
    Header(&'static str),
    /// A mandatory header is missing.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// A header that takes one value has several (RFC 3261 §7.3.1).
    #[error("repeated {0} header")]
    Repeated(&'static str),
}

/// Why a byte stream could not be split into SIP messages.
///
/// Any framing error is fatal for the connection: the driver closes it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The header section or the whole message is larger than the limit.
    #[error("message exceeds {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A message on a stream transport has no Content-Length header.
    #[error("missing content-length on a stream transport")]
    MissingContentLength,
    /// The Content-Length header is not a number.
    #[error("invalid content-length")]
    InvalidContentLength,
}

/// Why an SDP body could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpError {
    /// The body is larger than the limit.
    #[error("session description exceeds {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The body is not valid UTF-8.
    #[error("session description is not valid utf-8")]
    Utf8,
    /// A line is not of the form `x=value`.
    #[error("malformed line {line}")]
    Line {
        /// The one-based number of the offending line.
        line: usize,
    },
    /// A line has a value that cannot be parsed.
    #[error("invalid {field} on line {line}")]
    Field {
        /// Which field is invalid.
        field: &'static str,
        /// The one-based number of the offending line.
        line: usize,
    },
    /// A mandatory line is missing.
    #[error("missing {0} line")]
    Missing(&'static str),
    /// There are more media sections or attributes than the limit.
    #[error("too many lines")]
    TooManyLines,
}

/// Why an offer could not be answered; every variant maps to 488 Not Acceptable Here.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NegotiationError {
    /// The offer has no usable audio stream.
    #[error("offer has no audio stream")]
    NoAudio,
    /// The offer's audio stream uses a transport other than RTP/AVP.
    #[error("unsupported media transport {0}")]
    UnsupportedTransport(String),
    /// No offered codec is one we support.
    #[error("no common codec")]
    NoCommonCodec,
    /// The offer has no connection address for the audio stream.
    #[error("offer has no connection address")]
    NoConnectionAddress,
    /// Plain RTP offered where only SRTP is taken (SIP over TLS).
    #[error("plain RTP is refused on this transport; offer RTP/SAVP with SDES")]
    PlainRtpRefused,
    /// SRTP offered without a crypto attribute pinbridge can use.
    #[error("no usable crypto attribute: {0}")]
    Crypto(crate::sdes::SdesError),
    /// An answer's crypto attribute under another tag than the one we offered.
    #[error("the answer's crypto tag {answered} is not the tag we offered ({offered})")]
    CryptoTagMismatch { offered: u32, answered: u32 },
}

impl NegotiationError {
    /// The SIP status code that rejects the offer.
    pub fn status_code(&self) -> u16 {
        488
    }
}

/// Why an application command on a call was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CallError {
    /// The handle names no call the endpoint knows (it ended, or never existed).
    #[error("unknown call")]
    UnknownCall,
    /// The call is not in a state where the command applies.
    #[error("call is {state}, cannot {command}")]
    InvalidState {
        /// The state the call is in.
        state: &'static str,
        /// The command that was refused.
        command: &'static str,
    },
    /// The status code given is not allowed for the command.
    #[error("status {0} is not allowed here")]
    InvalidStatus(u16),
}
