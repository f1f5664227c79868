//! Shared helpers: a virtual-time harness around the endpoint and real-world messages.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pinbridge_sip::{
    CallHandle, Endpoint, EndpointConfig, Event, IncomingCall, Input, InputError, Message, Output,
    Request, Response, Transmit, Transport,
};

/// Where the tests' endpoint listens.
pub const LOCAL: &str = "127.0.0.1:5060";
/// Where the simulated SIPp instance sends from.
pub const SIPP: &str = "127.0.0.1:5061";
/// Where the simulated baresip instance sends from.
pub const BARESIP: &str = "127.0.0.1:35811";

pub fn addr(text: &str) -> SocketAddr {
    text.parse().expect("test address")
}

/// The endpoint, a virtual clock and everything the endpoint has output so far.
pub struct Harness {
    pub endpoint: Endpoint,
    pub start: Instant,
    pub now: Instant,
    log: Vec<(Duration, Output)>,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(EndpointConfig::default())
    }

    pub fn with_config(config: EndpointConfig) -> Self {
        let start = Instant::now();
        Self {
            endpoint: Endpoint::new(config),
            start,
            now: start,
            log: Vec::new(),
        }
    }

    /// Time since the start of the test.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    fn drain(&mut self) {
        let at = self.elapsed();
        while let Some(output) = self.endpoint.poll_output() {
            self.log.push((at, output));
        }
    }

    /// Delivers a message over a transport.
    pub fn deliver(
        &mut self,
        transport: Transport,
        from: &str,
        contents: &[u8],
    ) -> Result<(), InputError> {
        let result = self.endpoint.handle_input(
            self.now,
            Input {
                transport,
                source: addr(from),
                local: addr(LOCAL),
                contents,
            },
        );
        self.drain();
        result
    }

    /// Delivers a UDP datagram.
    pub fn udp(&mut self, from: &str, text: &str) -> Result<(), InputError> {
        self.deliver(Transport::Udp, from, text.as_bytes())
    }

    /// Moves the clock forward, firing each timer at its own deadline.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        while let Some(deadline) = self.endpoint.poll_timeout() {
            if deadline > target {
                break;
            }
            self.now = self.now.max(deadline);
            self.endpoint.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
    }

    /// Runs a command on the endpoint at the current time and collects its outputs.
    pub fn command<T>(&mut self, f: impl FnOnce(&mut Endpoint, Instant) -> T) -> T {
        let now = self.now;
        let result = f(&mut self.endpoint, now);
        self.drain();
        result
    }

    /// Removes and returns what was sent, with the time it was sent.
    pub fn sent(&mut self) -> Vec<(Duration, Transmit)> {
        let mut sent = Vec::new();
        self.log.retain(|(at, output)| match output {
            Output::Transmit(t) => {
                sent.push((*at, t.clone()));
                false
            }
            Output::Event(_) => true,
        });
        sent
    }

    /// Removes and returns the events.
    pub fn events(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        self.log.retain(|(_, output)| match output {
            Output::Event(e) => {
                events.push(e.clone());
                false
            }
            Output::Transmit(_) => true,
        });
        events
    }

    /// Removes and returns the sent responses, parsed.
    pub fn responses(&mut self) -> Vec<Response> {
        self.sent()
            .into_iter()
            .map(|(_, t)| match Message::parse(&t.contents) {
                Ok(Message::Response(r)) => r,
                other => panic!("expected a response, got {other:?}"),
            })
            .collect()
    }

    /// Removes and returns the status codes of the sent responses.
    pub fn statuses(&mut self) -> Vec<u16> {
        self.responses().iter().map(|r| r.status).collect()
    }

    /// Removes and returns the sent requests, parsed, with their destinations.
    pub fn requests(&mut self) -> Vec<(Request, SocketAddr)> {
        self.sent()
            .into_iter()
            .map(|(_, t)| match Message::parse(&t.contents) {
                Ok(Message::Request(r)) => (r, t.destination),
                other => panic!("expected a request, got {other:?}"),
            })
            .collect()
    }

    /// Expects exactly one IncomingCall among the events.
    pub fn incoming_call(&mut self) -> IncomingCall {
        let calls: Vec<IncomingCall> = self
            .events()
            .into_iter()
            .filter_map(|e| match e {
                Event::IncomingCall(c) => Some(*c),
                _ => None,
            })
            .collect();
        assert_eq!(calls.len(), 1, "expected one incoming call");
        calls.into_iter().next().expect("one call")
    }

    /// SIPp's uac scenario: INVITE, answered by us with 200, then ACK. Returns the
    /// handle and our To tag.
    pub fn established_sipp_call(&mut self, call_id: &str) -> (CallHandle, String) {
        self.udp(SIPP, &sipp_invite(call_id, "z9hG4bK-100-1-0"))
            .expect("invite");
        let call = self.incoming_call().call;
        let answer = answer_for(&sipp_sdp());
        self.command(|e, now| e.accept(now, call, &answer))
            .expect("accept");
        let ok = self.responses().pop().expect("200");
        assert_eq!(ok.status, 200);
        let tag = to_tag(&ok);
        self.udp(SIPP, &sipp_ack(call_id, &tag, 1)).expect("ack");
        let events = self.events();
        assert!(
            matches!(events.as_slice(), [Event::CallConfirmed { .. }]),
            "{events:?}"
        );
        (call, tag)
    }
}

/// The To tag of a response.
pub fn to_tag(response: &Response) -> String {
    response
        .headers
        .to()
        .expect("To")
        .tag()
        .expect("tag")
        .to_owned()
}

/// Adds Content-Length and the body to a header section given without its blank line.
pub fn with_body(head: &str, content_type: Option<&str>, body: &str) -> String {
    let mut text = head.replace('\n', "\r\n");
    if let Some(ct) = content_type {
        text.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    text
}

/// SIPp's default uac SDP.
pub fn sipp_sdp() -> String {
    "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n".to_owned()
}

/// An INVITE as SIPp's built-in uac scenario sends it.
pub fn sipp_invite(call_id: &str, branch: &str) -> String {
    with_body(
        &format!(
            "INVITE sip:5550100@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5061;branch={branch}
From: sipp <sip:sipp@127.0.0.1:5061>;tag=100SIPpTag001
To: 5550100 <sip:5550100@127.0.0.1:5060>
Call-ID: {call_id}
CSeq: 1 INVITE
Contact: sip:sipp@127.0.0.1:5061
Max-Forwards: 70
Subject: Performance Test
"
        ),
        Some("application/sdp"),
        &sipp_sdp(),
    )
}

/// SIPp's ACK for our 2xx (new branch, our tag).
pub fn sipp_ack(call_id: &str, tag: &str, cseq: u32) -> String {
    with_body(
        &format!(
            "ACK sip:5550100@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-100-1-ack{cseq}
From: sipp <sip:sipp@127.0.0.1:5061>;tag=100SIPpTag001
To: 5550100 <sip:5550100@127.0.0.1:5060>;tag={tag}
Call-ID: {call_id}
CSeq: {cseq} ACK
Contact: sip:sipp@127.0.0.1:5061
Max-Forwards: 70
Subject: Performance Test
"
        ),
        None,
        "",
    )
}

/// An in-dialog request from SIPp (BYE, INFO, OPTIONS, INVITE).
pub fn sipp_in_dialog(
    method: &str,
    call_id: &str,
    tag: &str,
    cseq: u32,
    branch: &str,
    content_type: Option<&str>,
    body: &str,
) -> String {
    with_body(
        &format!(
            "{method} sip:5550100@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5061;branch={branch}
From: sipp <sip:sipp@127.0.0.1:5061>;tag=100SIPpTag001
To: 5550100 <sip:5550100@127.0.0.1:5060>;tag={tag}
Call-ID: {call_id}
CSeq: {cseq} {method}
Contact: sip:sipp@127.0.0.1:5061
Max-Forwards: 70
"
        ),
        content_type,
        body,
    )
}

/// The SDP baresip 3.x offers.
pub fn baresip_sdp() -> String {
    "v=0\r\no=- 1425112066 3408237440 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\na=tool:baresip 3.10.1\r\nm=audio 10750 RTP/AVP 9 0 8 101\r\nb=AS:64\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\na=label:1\r\na=ssrc:3236433408 cname:e2b1a4d0\r\na=rtcp-rsize\r\na=ptime:20\r\n".to_owned()
}

/// An INVITE as baresip sends it (compact-free, rport, its Allow and Supported lists).
pub fn baresip_invite(branch: &str) -> String {
    with_body(
        &format!(
            "INVITE sip:5550100@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:35811;branch={branch};rport
Contact: <sip:baresip-0x5612@127.0.0.1:35811;transport=udp>
Max-Forwards: 70
To: <sip:5550100@127.0.0.1>
From: \"Baresip\" <sip:baresip@127.0.0.1>;tag=8f7d6d1c2c6b4a1f
Call-ID: 4b5c1f2e8a9d3b7c
CSeq: 14528 INVITE
User-Agent: baresip v3.10.1 (x86_64/linux)
Allow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,UPDATE,REFER
Supported: replaces,norefersub,100rel
"
        ),
        Some("application/sdp"),
        &baresip_sdp(),
    )
}

/// Our answer to an SDP offer.
pub fn answer_for(offer: &str) -> pinbridge_sip::SessionDescription {
    let offer = pinbridge_sip::SessionDescription::parse(offer.as_bytes()).expect("offer");
    let config = pinbridge_sip::sdp::MediaConfig::new(addr(LOCAL).ip(), 20000, 1000);
    pinbridge_sip::sdp::answer(&offer, &config)
        .expect("answer")
        .0
}

pub fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

pub fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}
