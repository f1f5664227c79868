//! Property tests: serialize then parse gives the same message or SDP back, and no
//! input, however arbitrary, makes a parser or the endpoint panic.

use proptest::prelude::*;

use pinbridge_sip::sdp::{Attribute, Connection, MediaDescription, Origin};
use pinbridge_sip::{
    Headers, Message, Method, Request, Response, SessionDescription, StreamFramer, Uri,
};

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9.!%*_+`'~-]{0,12}"
}

fn header_value() -> impl Strategy<Value = String> {
    // Printable text without CR/LF, not starting or ending with whitespace.
    "[!-~]([ -~]{0,40}[!-~])?"
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Ack),
        Just(Method::Bye),
        Just(Method::Cancel),
        Just(Method::Options),
        Just(Method::Info),
        "[A-Z]{3,10}".prop_map(|m| Method::parse(&m).expect("token")),
    ]
}

fn uri() -> impl Strategy<Value = Uri> {
    (
        prop::option::of("[a-z0-9+]{1,10}"),
        "[a-z][a-z0-9.-]{0,15}",
        prop::option::of(any::<u16>()),
        prop::option::of("[a-z]{1,6}"),
    )
        .prop_map(|(user, host, port, param)| {
            let mut uri = Uri::sip(user.as_deref(), host, port);
            if let Some(p) = param {
                uri.params.set("transport", Some(p));
            }
            uri
        })
}

fn headers() -> impl Strategy<Value = Headers> {
    prop::collection::vec((token(), header_value()), 0..12).prop_map(|pairs| {
        let mut headers = Headers::new();
        for (name, value) in pairs {
            // Content-Length is framing, not a header the message keeps.
            let canonical = pinbridge_sip::message::canonical_name(&name);
            if canonical != "Content-Length" {
                headers.push(&name, value);
            }
        }
        headers
    })
}

fn message() -> impl Strategy<Value = Message> {
    let body = prop::collection::vec(any::<u8>(), 0..64);
    prop_oneof![
        (method(), uri(), headers(), body.clone()).prop_map(|(method, uri, headers, body)| {
            Message::Request(Request {
                method,
                uri,
                headers,
                body,
            })
        }),
        (100u16..700, "[ -~]{0,20}", headers(), body).prop_map(
            |(status, reason, headers, body)| {
                Message::Response(Response {
                    status,
                    reason: reason.trim().to_owned(),
                    headers,
                    body,
                })
            }
        ),
    ]
}

fn sdp() -> impl Strategy<Value = SessionDescription> {
    let media = (
        1u16..65535,
        prop::collection::vec(0u8..128, 1..6),
        prop::collection::vec(("[a-z-]{1,10}", prop::option::of("[!-~]{1,20}")), 0..6),
    )
        .prop_map(|(port, formats, attributes)| MediaDescription {
            media: "audio".into(),
            port,
            port_count: None,
            protocol: "RTP/AVP".into(),
            formats: formats.iter().map(u8::to_string).collect(),
            connection: None,
            other: Vec::new(),
            attributes: attributes
                .into_iter()
                .map(|(name, value)| match value {
                    Some(v) => Attribute::value(&name, v),
                    None => Attribute::flag(&name),
                })
                .collect(),
        });
    (
        any::<u64>(),
        any::<u64>(),
        "[a-zA-Z0-9 -]{1,20}",
        prop::collection::vec(media, 0..3),
    )
        .prop_map(|(id, version, name, media)| SessionDescription {
            origin: Origin {
                username: "-".into(),
                session_id: id.to_string(),
                session_version: version,
                net_type: "IN".into(),
                addr_type: "IP4".into(),
                address: "192.0.2.1".into(),
            },
            session_name: name
                .trim()
                .to_owned()
                .chars()
                .next()
                .map_or("-".into(), |_| name.trim().to_owned()),
            connection: Some(Connection::for_ip("192.0.2.1".parse().expect("ip"))),
            timing: (0, 0),
            other: Vec::new(),
            attributes: Vec::new(),
            media,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn message_roundtrips(message in message()) {
        let bytes = message.to_bytes();
        prop_assert_eq!(Message::parse(&bytes), Ok(message));
    }

    #[test]
    fn sdp_roundtrips(sdp in sdp()) {
        prop_assert_eq!(SessionDescription::parse(&sdp.to_bytes()), Ok(sdp));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        pinbridge_sip::fuzz::parse_message(&bytes);
        pinbridge_sip::fuzz::parse_sdp(&bytes);
        pinbridge_sip::fuzz::frame_stream(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(
        message in message(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = message.to_bytes();
        for (index, value) in flips {
            let i = index.index(bytes.len());
            bytes[i] = value;
        }
        pinbridge_sip::fuzz::parse_message(&bytes);
        pinbridge_sip::fuzz::frame_stream(&bytes);
    }

    #[test]
    fn framer_output_does_not_depend_on_read_sizes(
        messages in prop::collection::vec(message(), 1..4),
        chunk in 1usize..64,
    ) {
        let mut stream = Vec::new();
        for m in &messages {
            stream.extend_from_slice(&m.to_bytes());
        }
        let mut framer = StreamFramer::new();
        let mut parsed = Vec::new();
        for piece in stream.chunks(chunk) {
            framer.push(piece);
            while let Some(pinbridge_sip::Frame::Message(bytes)) = framer.next_frame().expect("frame") {
                parsed.push(Message::parse(&bytes).expect("parse"));
            }
        }
        prop_assert_eq!(parsed, messages);
    }
}
