//! Splitting a stream transport (TCP, TLS) into SIP messages (RFC 3261 §18.3).
//!
//! Bytes from the connection go in with [`StreamFramer::push`]; complete messages come
//! out of [`StreamFramer::next_frame`], in order, whatever the read boundaries were.
//! Content-Length is mandatory on streams. A double CRLF between messages is a
//! keep-alive ping (RFC 5626 §3.5.1) and is reported so the driver can answer with a
//! single CRLF pong; single CRLFs (pongs) are skipped.

use crate::error::FrameError;
use crate::message::{MAX_MESSAGE_SIZE, canonical_name, header_end};

/// One unit cut from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete SIP message: hand it to [`crate::Endpoint::handle_input`].
    Message(Vec<u8>),
    /// A CRLFCRLF keep-alive ping: the driver answers with `\r\n`.
    KeepAlivePing,
}

/// Accumulates stream bytes and cuts them into messages. Each byte is looked at a bounded
/// number of times however the stream is cut: the search for the end of the header
/// section resumes where it stopped, and a message's length is read once.
#[derive(Debug, Default)]
pub struct StreamFramer {
    buffer: Vec<u8>,
    /// How much of `buffer` is known to hold no end of the header section.
    scanned: usize,
    /// The length of the message at the front, once its header section is complete.
    expected: Option<usize>,
}

impl StreamFramer {
    /// A framer with an empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The number of buffered bytes that do not yet form a complete frame.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed, or an error after
    /// which the connection must be closed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        loop {
            if self.expected.is_none() && self.buffer.starts_with(b"\r\n\r\n") {
                self.buffer.drain(..4);
                self.scanned = 0;
                return Ok(Some(Frame::KeepAlivePing));
            }
            if self.expected.is_some() {
                break;
            }
            match self.buffer.first() {
                Some(b'\r') | Some(b'\n') => {
                    // Could be the start of a ping: wait until it can be told apart.
                    let lead = self
                        .buffer
                        .iter()
                        .take_while(|b| **b == b'\r' || **b == b'\n')
                        .count();
                    if lead == self.buffer.len() && lead < 4 {
                        return Ok(None);
                    }
                    if lead >= 4 && self.buffer.starts_with(b"\r\n\r\n") {
                        continue;
                    }
                    // A pong or stray line ending before a message: skip it.
                    let skip = if self.buffer.starts_with(b"\r\n") {
                        2
                    } else {
                        1
                    };
                    self.buffer.drain(..skip);
                    self.scanned = 0;
                }
                None => return Ok(None),
                Some(_) => break,
            }
        }
        let total = match self.expected {
            Some(total) => total,
            None => {
                // An end that was not there before starts at most two bytes back.
                let from = self.scanned.saturating_sub(2).min(self.buffer.len());
                let found = header_end(self.buffer.get(from..).unwrap_or(&[]))
                    .map(|(head, body)| (from + head, from + body));
                let Some((head_len, body_start)) = found else {
                    self.scanned = self.buffer.len();
                    if self.buffer.len() > MAX_MESSAGE_SIZE {
                        return Err(FrameError::TooLarge {
                            limit: MAX_MESSAGE_SIZE,
                        });
                    }
                    return Ok(None);
                };
                let head = self.buffer.get(..head_len).unwrap_or(&[]);
                let content_length = content_length(head)?;
                let total = body_start
                    .checked_add(content_length)
                    .filter(|t| *t <= MAX_MESSAGE_SIZE)
                    .ok_or(FrameError::TooLarge {
                        limit: MAX_MESSAGE_SIZE,
                    })?;
                self.expected = Some(total);
                total
            }
        };
        if self.buffer.len() < total {
            return Ok(None);
        }
        let message: Vec<u8> = self.buffer.drain(..total).collect();
        self.scanned = 0;
        self.expected = None;
        Ok(Some(Frame::Message(message)))
    }
}

/// Finds the Content-Length (or `l`) header in a header section.
fn content_length(head: &[u8]) -> Result<usize, FrameError> {
    let mut found = None;
    for line in head.split(|b| *b == b'\n').skip(1) {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = String::from_utf8_lossy(line.get(..colon).unwrap_or(&[]));
        if canonical_name(name.trim()) != "Content-Length" {
            continue;
        }
        let value = String::from_utf8_lossy(line.get(colon + 1..).unwrap_or(&[]));
        let length = crate::message::parse_digits::<usize>(value.trim())
            .ok_or(FrameError::InvalidContentLength)?;
        if found.is_some_and(|f| f != length) {
            return Err(FrameError::InvalidContentLength);
        }
        found = Some(length);
    }
    found.ok_or(FrameError::MissingContentLength)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n";
    const INFO: &[u8] =
        b"INFO sip:a@b SIP/2.0\r\nl: 5\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK2\r\n\r\nhello";

    fn drain(framer: &mut StreamFramer) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(frame) = framer.next_frame().unwrap() {
            out.push(frame);
        }
        out
    }

    #[test]
    fn splits_merged_messages() {
        let mut framer = StreamFramer::new();
        let mut bytes = OPTIONS.to_vec();
        bytes.extend_from_slice(INFO);
        framer.push(&bytes);
        assert_eq!(
            drain(&mut framer),
            vec![
                Frame::Message(OPTIONS.to_vec()),
                Frame::Message(INFO.to_vec())
            ]
        );
        assert_eq!(framer.buffered(), 0);
    }

    #[test]
    fn reassembles_byte_by_byte() {
        let mut framer = StreamFramer::new();
        let mut frames = Vec::new();
        let mut bytes = b"\r\n\r\n".to_vec();
        bytes.extend_from_slice(INFO);
        bytes.extend_from_slice(b"\r\n");
        bytes.extend_from_slice(OPTIONS);
        for b in bytes {
            framer.push(&[b]);
            frames.extend(drain(&mut framer));
        }
        assert_eq!(
            frames,
            vec![
                Frame::KeepAlivePing,
                Frame::Message(INFO.to_vec()),
                Frame::Message(OPTIONS.to_vec())
            ]
        );
    }

    #[test]
    fn rejects_missing_or_bad_content_length() {
        let mut framer = StreamFramer::new();
        framer.push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n");
        assert_eq!(framer.next_frame(), Err(FrameError::MissingContentLength));
        let mut framer = StreamFramer::new();
        framer.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n");
        assert_eq!(framer.next_frame(), Err(FrameError::InvalidContentLength));
        let mut framer = StreamFramer::new();
        framer.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 99999999\r\n\r\n");
        assert!(matches!(
            framer.next_frame(),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn messages_cut_anywhere_come_out_whole() {
        let stream: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n\
            \r\n\r\n\
            INFO sip:a@b SIP/2.0\r\nl: 5\r\n\r\nhello\
            \r\n\
            BYE sip:a@b SIP/2.0\nContent-Length: 2\n\nhi";
        let expected = vec![
            Frame::Message(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n".to_vec()),
            Frame::KeepAlivePing,
            Frame::Message(b"INFO sip:a@b SIP/2.0\r\nl: 5\r\n\r\nhello".to_vec()),
            Frame::Message(b"BYE sip:a@b SIP/2.0\nContent-Length: 2\n\nhi".to_vec()),
        ];
        for piece in 1..=stream.len() {
            let mut framer = StreamFramer::new();
            let mut frames = Vec::new();
            for chunk in stream.chunks(piece) {
                framer.push(chunk);
                while let Some(frame) = framer.next_frame().unwrap() {
                    frames.push(frame);
                }
            }
            assert_eq!(frames, expected, "pieces of {piece}");
            assert_eq!(framer.buffered(), 0);
        }
    }

    #[test]
    fn a_partial_message_never_holds_more_than_the_largest_message() {
        // A header section that never ends, pushed a line at a time: the framer holds
        // at most the largest message plus one push, then refuses.
        let mut framer = StreamFramer::new();
        framer.push(b"INVITE sip:a@b SIP/2.0\r\n");
        let line = b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        let mut refused = false;
        for _ in 0..10_000 {
            framer.push(line);
            assert!(framer.buffered() <= MAX_MESSAGE_SIZE + line.len());
            match framer.next_frame() {
                Ok(None) => {}
                Err(FrameError::TooLarge { .. }) => {
                    refused = true;
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(refused, "an endless header section was never refused");
        // A body announced within the limit is held until it is whole, and no longer.
        let mut framer = StreamFramer::new();
        let length = MAX_MESSAGE_SIZE - 100;
        let head = format!("INFO sip:a@b SIP/2.0\r\nContent-Length: {length}\r\n\r\n");
        framer.push(head.as_bytes());
        let mut sent = 0;
        while sent < length {
            let piece = 1000.min(length - sent);
            framer.push(&vec![b'x'; piece]);
            sent += piece;
            assert!(framer.buffered() <= MAX_MESSAGE_SIZE);
            if sent < length {
                assert_eq!(framer.next_frame(), Ok(None));
            }
        }
        assert!(
            matches!(framer.next_frame(), Ok(Some(Frame::Message(m))) if m.len() == head.len() + length)
        );
        assert_eq!(framer.buffered(), 0);
    }

    #[test]
    fn rejects_endless_header_section() {
        let mut framer = StreamFramer::new();
        framer.push(&vec![b'a'; MAX_MESSAGE_SIZE + 1]);
        assert!(matches!(
            framer.next_frame(),
            Err(FrameError::TooLarge { .. })
        ));
    }
}
