//! Smoke tests of the dial-in bridge through `pinbridge serve`, with a minimal scripted
//! SIP/RTP phone written here (the SIPp and baresip scenarios live in their own files):
//!
//! - the organiser dials, types the conference ID, star and the PIN as RFC 4733 events,
//!   is answered with 200 and RTP, `meeting show --json` says the meeting started, and
//!   the call ends with BYE;
//! - a caller waits in the lobby hearing music; the organiser joins with the PIN and
//!   presses \*21; both are then in the meeting and each hears the other's tone and not
//!   their own.

use crate::common;

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::directory::{ALICE, TOLL};
use common::phone::{event_code, free_port_block};
use common::{Serve, TestStore};
use pinbridge_app::report::{MeetingReport, NewMeetingReport};
use pinbridge_domain::meeting::{ParticipantKind, Placement};
use pinbridge_media::Codec;
use pinbridge_media::analysis::{goertzel_power, rms};

const FRAME: usize = 160;
const TICK: Duration = Duration::from_millis(20);
const TELEPHONE_EVENT: u8 = 101;

/// A scripted phone: one SIP dialog over UDP and one RTP stream.
struct Phone {
    name: &'static str,
    sip: UdpSocket,
    rtp: UdpSocket,
    server: SocketAddr,
    call_id: String,
    from_tag: String,
    to_tag: String,
    cseq: u32,
    remote_rtp: Option<SocketAddr>,
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    /// Keys still to press, as RFC 4733 events.
    keys: VecDeque<char>,
    /// The key being sent and how many packets of it went out.
    key_in_progress: Option<(char, u32, u32)>,
    /// The tone this phone sends, if any (silence otherwise).
    tone_hz: Option<f32>,
    phase: f32,
    /// Decoded audio received, in arrival order.
    heard: Vec<i16>,
    packets_received: usize,
}

impl Phone {
    fn new(name: &'static str, server: SocketAddr) -> Phone {
        let sip = UdpSocket::bind("127.0.0.1:0").expect("bind SIP");
        let rtp = UdpSocket::bind("127.0.0.1:0").expect("bind RTP");
        rtp.set_nonblocking(true).expect("non-blocking RTP");
        let tag = common::random_hex(4);
        Phone {
            name,
            sip,
            rtp,
            server,
            call_id: format!("smoke-{}@127.0.0.1", common::random_hex(8)),
            from_tag: tag,
            to_tag: String::new(),
            cseq: 1,
            remote_rtp: None,
            ssrc: 0x1234_0000 | rand_u16() as u32,
            sequence: rand_u16(),
            timestamp: 1000,
            keys: VecDeque::new(),
            key_in_progress: None,
            tone_hz: None,
            phase: 0.0,
            heard: Vec::new(),
            packets_received: 0,
        }
    }

    fn sip_port(&self) -> u16 {
        self.sip.local_addr().unwrap().port()
    }

    fn headers(&self, method: &str, cseq: u32, branch: &str) -> String {
        let to_tag = if self.to_tag.is_empty() {
            String::new()
        } else {
            format!(";tag={}", self.to_tag)
        };
        format!(
            "Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{branch};rport\r\n\
             From: \"Smoke\" <sip:+14255550123@127.0.0.1>;tag={from}\r\n\
             To: <sip:{TOLL}@127.0.0.1>{to_tag}\r\n\
             Call-ID: {call}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:smoke@127.0.0.1:{port}>\r\n\
             Max-Forwards: 70\r\n",
            port = self.sip_port(),
            from = self.from_tag,
            call = self.call_id,
        )
    }

    /// Sends INVITE and waits for the final response; returns its status.
    fn invite(&mut self) -> u16 {
        let rtp_port = self.rtp.local_addr().unwrap().port();
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {rtp_port} RTP/AVP 0 {TELEPHONE_EVENT}\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:{TELEPHONE_EVENT} telephone-event/8000\r\na=fmtp:{TELEPHONE_EVENT} 0-15\r\n\
             a=ptime:20\r\na=sendrecv\r\n"
        );
        let request = format!(
            "INVITE sip:{TOLL}@127.0.0.1 SIP/2.0\r\n{}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            self.headers("INVITE", self.cseq, "inv"),
            sdp.len()
        );
        self.sip.send_to(request.as_bytes(), self.server).unwrap();
        let response = self.final_response("INVITE");
        let status = status_of(&response);
        if status == 200 {
            self.to_tag = header(&response, "To")
                .and_then(|to| {
                    to.split(";tag=")
                        .nth(1)
                        .map(|t| t.split(';').next().unwrap_or(t).trim().to_owned())
                })
                .expect("a To tag in the 200");
            let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
            let ip = body
                .lines()
                .find_map(|l| l.strip_prefix("c=IN IP4 "))
                .expect("c= in the answer")
                .trim();
            let port = body
                .lines()
                .find_map(|l| l.strip_prefix("m=audio "))
                .and_then(|l| l.split(' ').next())
                .expect("m= in the answer")
                .trim();
            self.remote_rtp = Some(format!("{ip}:{port}").parse().expect("an RTP address"));
            let ack = format!(
                "ACK sip:{TOLL}@127.0.0.1 SIP/2.0\r\n{}Content-Length: 0\r\n\r\n",
                self.headers("ACK", self.cseq, "ack")
            );
            self.sip.send_to(ack.as_bytes(), self.server).unwrap();
        }
        status
    }

    /// Sends BYE and returns the status of the response.
    fn bye(&mut self) -> u16 {
        self.cseq += 1;
        let request = format!(
            "BYE sip:{TOLL}@127.0.0.1 SIP/2.0\r\n{}Content-Length: 0\r\n\r\n",
            self.headers("BYE", self.cseq, &format!("bye{}", self.cseq))
        );
        self.sip.send_to(request.as_bytes(), self.server).unwrap();
        status_of(&self.final_response("BYE"))
    }

    /// The first final response to `method`, within ten seconds.
    fn final_response(&mut self, method: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = vec![0u8; 65535];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "[{}] no final response to {method}",
                self.name
            );
            self.sip.set_read_timeout(Some(left)).unwrap();
            let Ok((len, _)) = self.sip.recv_from(&mut buf) else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..len]).into_owned();
            let is_response = text.starts_with("SIP/2.0 ");
            let cseq_matches = header(&text, "CSeq").is_some_and(|c| c.ends_with(method));
            if is_response && cseq_matches && status_of(&text) >= 200 {
                return text;
            }
        }
    }

    /// One 20 ms step: send a packet (a key event or audio) and read what arrived.
    fn step(&mut self) {
        let Some(remote) = self.remote_rtp else {
            return;
        };
        let mut packet = Vec::with_capacity(12 + FRAME);
        let (payload_type, marker, timestamp, payload) = self.next_payload();
        packet.push(0x80);
        packet.push(payload_type | if marker { 0x80 } else { 0 });
        packet.extend_from_slice(&self.sequence.to_be_bytes());
        packet.extend_from_slice(&timestamp.to_be_bytes());
        packet.extend_from_slice(&self.ssrc.to_be_bytes());
        packet.extend_from_slice(&payload);
        self.sequence = self.sequence.wrapping_add(1);
        let _ = self.rtp.send_to(&packet, remote);
        let mut buf = [0u8; 2048];
        while let Ok((len, from)) = self.rtp.recv_from(&mut buf) {
            if from != remote || len < 12 || buf[1] & 0x7F != 0 {
                continue;
            }
            self.packets_received += 1;
            self.heard
                .extend(buf[12..len].iter().map(|&c| Codec::Pcmu.decode_sample(c)));
        }
    }

    /// The next packet's payload type, marker, timestamp and payload.
    fn next_payload(&mut self) -> (u8, bool, u32, Vec<u8>) {
        if self.key_in_progress.is_none()
            && let Some(key) = self.keys.pop_front()
        {
            self.key_in_progress = Some((key, 0, self.timestamp));
        }
        if let Some((key, sent, start)) = self.key_in_progress {
            let code = event_code(key);
            // Three updates, then the end packet three times, then two frames of gap.
            let duration = ((sent.min(3) + 1) * FRAME as u32) as u16;
            let end = sent >= 3;
            let next = sent + 1;
            if next >= 8 {
                self.key_in_progress = None;
                self.timestamp = self.timestamp.wrapping_add(8 * FRAME as u32);
            } else {
                self.key_in_progress = Some((key, next, start));
            }
            if sent >= 6 {
                // The gap between keys: silence at the audio timestamps to come.
                return (
                    0,
                    false,
                    start.wrapping_add(sent * FRAME as u32),
                    vec![0xFF; FRAME],
                );
            }
            let mut payload = vec![code, if end { 0x80 | 10 } else { 10 }];
            payload.extend_from_slice(&duration.to_be_bytes());
            return (TELEPHONE_EVENT, sent == 0, start, payload);
        }
        let timestamp = self.timestamp;
        self.timestamp = self.timestamp.wrapping_add(FRAME as u32);
        let mut payload = vec![0xFFu8; FRAME];
        if let Some(hz) = self.tone_hz {
            for code in payload.iter_mut() {
                let sample = (self.phase.sin() * 8000.0) as i16;
                self.phase += 2.0 * std::f32::consts::PI * hz / 8000.0;
                if self.phase > 2.0 * std::f32::consts::PI {
                    self.phase -= 2.0 * std::f32::consts::PI;
                }
                *code = Codec::Pcmu.encode_sample(sample);
            }
        }
        (0, false, timestamp, payload)
    }

    fn press(&mut self, keys: &str) {
        self.keys.extend(keys.chars());
    }

    /// The last `seconds` of received audio.
    fn last_heard(&self, seconds: f32) -> &[i16] {
        let n = (seconds * 8000.0) as usize;
        &self.heard[self.heard.len().saturating_sub(n)..]
    }
}

fn rand_u16() -> u16 {
    u16::from_str_radix(&common::random_hex(2), 16).unwrap()
}

fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Steps every phone every 20 ms for `ticks` ticks.
fn run(phones: &mut [&mut Phone], ticks: usize) {
    let mut next = Instant::now();
    for _ in 0..ticks {
        for phone in phones.iter_mut() {
            phone.step();
        }
        next += TICK;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// Keeps the phones' media going while waiting (up to `limit`) for `meeting show` to
/// satisfy `done`; returns the last answer.
fn wait_for_meeting(
    store: &TestStore,
    conference_id: &str,
    phones: &mut [&mut Phone],
    limit: Duration,
    what: &str,
    done: impl Fn(&MeetingReport) -> bool,
) -> MeetingReport {
    let deadline = Instant::now() + limit;
    loop {
        let shown = common::phone::bridge::read_report(&store.ok(&[
            "--json",
            "meeting",
            "show",
            conference_id,
        ]));
        if done(&shown) {
            return shown;
        }
        assert!(
            Instant::now() < deadline,
            "[{}] not reached within {limit:?}: {what}; last: {shown:?}",
            store.name
        );
        run(phones, 10);
    }
}

/// How many RTP ports a smoke test gives pinbridge.
const RTP_PORTS: u16 = 16;

/// `serve` on free loopback ports, with an RTP port range no other test of this process
/// is given.
fn start(store: &TestStore) -> (Serve, SocketAddr) {
    let low = free_port_block(RTP_PORTS);
    let range = format!("{low}-{}", low + RTP_PORTS - 1);
    let serve = store.serve(&["--rtp-ports", &range]);
    let udp = serve.sip_udp;
    (serve, udp)
}

/// Alice enabled with a PIN, name recording off (to keep the flow short); returns her
/// PIN and her own conference ID.
fn setup(store: &TestStore) -> (String, String) {
    store.with_alice();
    let pin = store.enable(ALICE);
    store.ok(&["tenant", "set", "--enable-name-recording", "false"]);
    let user = store.json(&["user", "show", ALICE]);
    let conference_id = user["audio_conferencing"]["conference_id"]
        .as_str()
        .expect("a conference ID")
        .to_owned();
    (pin, conference_id)
}

#[test]
fn organiser_starts_own_meeting_with_pin_by_rfc4733_and_hangs_up() {
    for store in common::stores() {
        let (pin, conference_id) = setup(&store);
        let (serve, sip) = start(&store);

        let mut phone = Phone::new("organiser", sip);
        assert_eq!(phone.invite(), 200, "[{}] INVITE answered", store.name);
        run(&mut [&mut phone], 25);
        assert!(
            phone.packets_received > 10,
            "[{}] RTP comes back ({} packets)",
            store.name,
            phone.packets_received
        );
        assert!(
            rms(phone.last_heard(0.4)) > 100.0,
            "[{}] the greeting is audible",
            store.name
        );
        phone.press(&format!("{conference_id}#*{pin}#"));
        let shown = wait_for_meeting(
            &store,
            &conference_id,
            &mut [&mut phone],
            Duration::from_secs(30),
            "the organiser starts the meeting",
            |m| m.started,
        );
        let people = &shown.participants;
        assert_eq!(people.len(), 1, "[{}] {shown:?}", store.name);
        assert!(people[0].organizer, "{shown:?}");
        assert_eq!(people[0].placement, Placement::Meeting);
        assert_eq!(people[0].kind, ParticipantKind::Phone);
        assert_eq!(people[0].calling_number.as_deref(), Some("+1425555****"));

        let (status, metrics) = common::http_get(&serve.url, "/metrics");
        assert_eq!(status, 200);
        assert!(metrics.contains("pinbridge_active_calls 1"), "{metrics}");
        assert!(metrics.contains("pinbridge_active_meetings 1"), "{metrics}");

        assert_eq!(phone.bye(), 200, "[{}] BYE answered", store.name);
        wait_for_meeting(
            &store,
            &conference_id,
            &mut [],
            Duration::from_secs(10),
            "the meeting ends when the last participant leaves",
            |m| !m.started && m.participants.is_empty(),
        );
        assert!(
            serve.stop().success(),
            "[{}] serve stops cleanly",
            store.name
        );
    }
}

#[test]
fn lobby_caller_hears_music_is_admitted_by_star_21_and_both_are_mixed() {
    for store in common::stores() {
        let (pin, _) = setup(&store);
        let out = store.ok(&[
            "--json",
            "meeting",
            "new",
            "--organizer",
            ALICE,
            "--subject",
            "Smoke",
        ]);
        let meeting: NewMeetingReport =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let conference_id = meeting.conference_id;
        let (serve, sip) = start(&store);

        let mut caller = Phone::new("caller", sip);
        assert_eq!(caller.invite(), 200);
        caller.press(&format!("{conference_id}#"));
        let shown = wait_for_meeting(
            &store,
            &conference_id,
            &mut [&mut caller],
            Duration::from_secs(30),
            "the caller waits in the lobby",
            |m| m.participants.len() == 1,
        );
        assert!(!shown.started, "{shown:?}");
        assert_eq!(shown.participants[0].placement, Placement::Lobby);
        // The lobby announcement, then music: well after it, the caller still hears sound.
        run(&mut [&mut caller], 300);
        assert!(
            rms(caller.last_heard(1.0)) > 100.0,
            "[{}] the lobby caller hears music",
            store.name
        );

        let mut organiser = Phone::new("organiser", sip);
        assert_eq!(organiser.invite(), 200);
        organiser.press(&format!("{conference_id}#*{pin}#"));
        wait_for_meeting(
            &store,
            &conference_id,
            &mut [&mut caller, &mut organiser],
            Duration::from_secs(30),
            "the organiser starts the meeting",
            |m| m.started,
        );
        organiser.press("*21");
        let shown = wait_for_meeting(
            &store,
            &conference_id,
            &mut [&mut caller, &mut organiser],
            Duration::from_secs(20),
            "*21 admits the caller",
            |m| {
                m.participants
                    .iter()
                    .all(|p| p.placement == Placement::Meeting)
            },
        );
        assert_eq!(shown.participants.len(), 2);

        // Each talks with a tone of its own; after the announcements each hears the
        // other's tone and not their own.
        caller.tone_hz = Some(1400.0);
        organiser.tone_hz = Some(600.0);
        run(&mut [&mut caller, &mut organiser], 250);
        let heard_by_caller = caller.last_heard(1.0);
        let heard_by_organiser = organiser.last_heard(1.0);
        assert!(
            goertzel_power(heard_by_caller, 600.0)
                > 100.0 * goertzel_power(heard_by_caller, 1400.0),
            "[{}] the caller hears the organiser, not themself",
            store.name
        );
        assert!(
            goertzel_power(heard_by_organiser, 1400.0)
                > 100.0 * goertzel_power(heard_by_organiser, 600.0),
            "[{}] the organiser hears the caller, not themself",
            store.name
        );

        assert_eq!(caller.bye(), 200);
        assert_eq!(organiser.bye(), 200);
        assert!(serve.stop().success());
    }
}
