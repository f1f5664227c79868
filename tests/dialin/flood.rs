//! Acceptance (hostile traffic): a bounded flood of 20,000 malformed and scanner
//! datagrams in about ten seconds from one loopback address outside the trunk allow-list
//! (127.0.0.9), alongside real calls from the trunk (127.0.0.1, SIPp through the caller
//! flow into an anonymous-start meeting). The trunk's calls are unharmed: the two in the
//! meeting keep hearing each other all through the flood, a third placed during it is
//! answered, joins and hears both, and all three end with the caller's BYE. The flooder
//! hears no more than its rate limits allow (403s to its INVITEs and REGISTERs, nothing to
//! scanners or garbage), every datagram is counted under its reason, the SIP tables stay
//! small, and pinbridge's memory (RSS from `/proc`, printed before and after) stays within
//! a generous bound. Late mixes are printed; their rate under a flood is measured in
//! BENCHMARKS.md ("Hostile traffic"), not asserted here.

use crate::common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::phone::bridge::{self, Bridge};
use common::phone::*;
use pinbridge_media::analysis::goertzel_power;

const FLOOD_DATAGRAMS: usize = 20_000;
const FLOOD_SECONDS: u64 = 10;
/// Datagrams sent together every 10 ms: 2,000 a second.
const FLOOD_BATCH: usize = 20;
const FLOODER: &str = "127.0.0.9";

const A_HZ: f32 = 450.0;
const B_HZ: f32 = 2000.0;
const C_HZ: f32 = 1100.0;
/// 200 ms of audio at 8 kHz.
const WINDOW: usize = 1600;
/// The power of one of the phones' tones (amplitude 6000) where it was sent.
const TONE: f64 = 6000.0 * 6000.0 / 2.0;
/// RSS growth over the flood that fails the test: far above what a bounded flood costs
/// (the limiter's table of one source, nothing kept per datagram), far below what
/// keeping even a few bytes per datagram would.
const RSS_GROWTH_LIMIT_KIB: u64 = 48 * 1024;

fn epoch_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The resident set of process `pid`, in KiB, from `/proc/PID/status`.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

fn hears(stretch: &[i16], hz: f32) -> bool {
    goertzel_power(stretch, f64::from(hz)) > TONE * 0.1
}

/// The audio pinbridge sent from `port` between `from` and `to` (capture times).
fn audio_between(datagrams: &[Datagram], port: u16, from: f64, to: f64) -> Vec<i16> {
    let received = received_audio(datagrams, port);
    let per_packet = received.samples.len() / received.times.len().max(1);
    let first = received.times.iter().take_while(|&&t| t < from).count();
    let last = received.times.iter().take_while(|&&t| t < to).count();
    received.samples[first * per_packet..last * per_packet].to_vec()
}

/// How many 200 ms windows of `audio` carry `hz`, out of how many.
fn windows_hearing(audio: &[i16], hz: f32) -> (usize, usize) {
    let windows: Vec<&[i16]> = audio.chunks_exact(WINDOW).collect();
    let heard = windows.iter().filter(|w| hears(w, hz)).count();
    (heard, windows.len())
}

/// Sends the flood from a socket bound to [`FLOODER`], paced at [`FLOOD_BATCH`] every
/// 10 ms; returns the socket (for the answers) and how long sending took.
fn flood(target: SocketAddr) -> (UdpSocket, Duration) {
    let socket = UdpSocket::bind((FLOODER, 0)).expect("bind 127.0.0.9");
    let from = socket.local_addr().unwrap();
    let start = Instant::now();
    let batches = FLOOD_DATAGRAMS / FLOOD_BATCH;
    let period = Duration::from_secs(FLOOD_SECONDS) / batches as u32;
    for batch in 0..batches {
        for k in 0..FLOOD_BATCH {
            let i = batch * FLOOD_BATCH + k;
            socket
                .send_to(&pinbridge_sip::fuzz::flood_datagram(i, from), target)
                .expect("send a flood datagram");
        }
        // The flood's shape in time: batches on a fixed schedule.
        let next = start + period * (batch as u32 + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    (socket, start.elapsed())
}

/// Sends an OPTIONS from the trunk and waits for its 200: pinbridge has then handled
/// every datagram that reached its socket before it.
fn trunk_probe(target: SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let from = socket.local_addr().unwrap();
    let probe = format!(
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK-probe\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1>\r\n\
         Call-ID: probe@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    socket.send_to(probe.as_bytes(), target).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = socket
        .recv_from(&mut buf)
        .expect("the trunk's OPTIONS answered");
    assert!(
        buf[..n].starts_with(b"SIP/2.0 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
}

/// Every SIP response waiting on the flooder's socket.
fn answers(socket: &UdpSocket) -> Vec<String> {
    socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 65_535];
    let mut out = Vec::new();
    while let Ok((n, _)) = socket.recv_from(&mut buf) {
        out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    out
}

fn refused(metrics: &pinbridge_testkit::http::Metrics, reason: &str) -> f64 {
    metrics.get(&format!(
        "pinbridge_sip_refused_total{{reason=\"{reason}\"}}"
    ))
}

#[test]
fn a_flood_from_one_address_leaves_the_trunks_calls_unharmed() {
    let bridge = bridge::start(&["--trunk-allow", "127.0.0.1/32"]);
    let target: SocketAddr = bridge.sip_udp.parse().unwrap();
    let conference = bridge.meeting(&["--allow-anonymous-start", "true"]);
    let dir = common::tempdir();
    let capture = bridge.capture(dir.path());
    let keys = format!("{conference}#");
    let caller = |name: &str, hz: f32| {
        let mut config = CallerConfig::new(bridge.number, &keys);
        config.tone_hz = Some(hz);
        bridge.call_with(name, config)
    };

    let mut a = caller("SIPp 450 Hz", A_HZ);
    let mut b = caller("SIPp 2000 Hz", B_HZ);
    let port_a = a.wait_answered(Duration::from_secs(30)).rtp_port;
    let port_b = b.wait_answered(Duration::from_secs(30)).rtp_port;
    bridge.wait_state(&conference, "two in the meeting", |s| s.in_meeting() == 2);
    Bridge::wait_capture(&capture, "the mix to settle", |d| {
        let last = |port| {
            let s = received_audio(d, port).samples;
            (s.len() >= WINDOW).then(|| s[s.len() - WINDOW..].to_vec())
        };
        (hears(&last(port_a)?, B_HZ) && hears(&last(port_b)?, A_HZ)).then_some(())
    });

    let pid = bridge.serve.pid();
    let rss_before = rss_kib(pid);
    let before = bridge.serve.metrics().expect("metrics");
    let flood_start = epoch_seconds();
    let flooder = std::thread::spawn(move || flood(target));
    // A call set up from the trunk while the flood runs.
    let mut c = caller("SIPp 1100 Hz", C_HZ);
    let port_c = c.wait_answered(Duration::from_secs(30)).rtp_port;
    bridge.wait_state(&conference, "three in the meeting", |s| s.in_meeting() == 3);
    let (socket, took) = flooder.join().expect("the flood thread");
    let flood_end = epoch_seconds();
    trunk_probe(target);
    let after = bridge.serve.metrics().expect("metrics");
    let rss_after = rss_kib(pid);
    Bridge::wait_capture(&capture, "the third caller to hear both others", |d| {
        let s = received_audio(d, port_c).samples;
        let last = (s.len() >= WINDOW).then(|| s[s.len() - WINDOW..].to_vec())?;
        (hears(&last, A_HZ) && hears(&last, B_HZ)).then_some(())
    });

    for call in [&mut a, &mut b, &mut c] {
        call.hang_up();
        assert_eq!(call.wait_end(Duration::from_secs(30)), Ending::ByCaller);
    }
    bridge.wait_state(&conference, "everyone gone", |s| s.participants.is_empty());
    let datagrams = capture.stop();

    let delta = before.delta(&after);
    let reasons = [
        "untrusted",
        "scanner",
        "rate_limited_invite",
        "rate_limited_options",
        "rate_limited_register",
        "rate_limited_other",
        "malformed",
        "unmatched",
        "overloaded",
    ];
    // A trunk's stray ACK may count as unmatched; everything else is the flood's.
    let counted: f64 = reasons
        .iter()
        .filter(|r| **r != "unmatched")
        .map(|r| refused(&delta, r))
        .sum();
    let late = delta.get("pinbridge_late_mixes_total");
    let ticks = delta.get("pinbridge_media_ticks_total");
    let answers = answers(&socket);
    println!(
        "flood: {FLOOD_DATAGRAMS} datagrams from {FLOODER} in {took:.2?}; refused by reason: {}; \
         {} answers to the flooder; late mixes {late} of {ticks} ticks; \
         RSS {rss_before} KiB before, {rss_after} KiB after",
        reasons
            .iter()
            .map(|r| format!("{r} {}", refused(&delta, r)))
            .collect::<Vec<_>>()
            .join(", "),
        answers.len(),
    );

    // Every datagram that reached pinbridge was refused and counted (the kernel may
    // drop a few on a busy machine, never add any).
    assert!(counted <= FLOOD_DATAGRAMS as f64, "{counted} refusals");
    assert!(
        counted >= FLOOD_DATAGRAMS as f64 * 0.9,
        "only {counted} of {FLOOD_DATAGRAMS} flood datagrams counted"
    );
    for reason in [
        "untrusted",
        "scanner",
        "rate_limited_invite",
        "rate_limited_register",
        "rate_limited_other",
    ] {
        assert!(
            refused(&delta, reason) > 0.0,
            "no {reason} refusal: {delta:?}"
        );
    }
    assert_eq!(refused(&delta, "overloaded"), 0.0);
    // The flooder hears only 403s, and only as many as its INVITE and REGISTER buckets
    // allow by default: bursts of 20 and 4, then 10 and 2 a second.
    assert!(!answers.is_empty(), "the outsider got no 403 at all");
    assert!(
        answers.iter().all(|a| a.starts_with("SIP/2.0 403 ")),
        "{answers:?}"
    );
    let seconds = took.as_secs_f64().ceil() + 1.0;
    let allowed = (20.0 + 10.0 * seconds) + (4.0 + 2.0 * seconds);
    assert!(
        answers.len() as f64 <= allowed,
        "{} answers to the flooder, more than its limits allow ({allowed})",
        answers.len()
    );
    // Only the ordinary outsider's requests (datagrams 3 and 4 of every 8) were answered.
    for answer in &answers {
        let i: usize = answer
            .split("Call-ID: flood-")
            .nth(1)
            .and_then(|rest| rest.split('@').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("an answer to no flood request: {answer}"));
        assert!(
            matches!(i % 8, 3 | 4),
            "flood datagram {i} was answered: {answer}"
        );
    }
    // The SIP tables stayed small: the flood left nothing behind.
    assert!(
        after.get("pinbridge_sip_rate_limited_sources") <= 2.0,
        "{after:?}"
    );
    assert!(after.get("pinbridge_sip_transactions") < 50.0, "{after:?}");
    assert_eq!(after.get("pinbridge_sip_calls"), 3.0, "{after:?}");
    assert_eq!(delta.get("pinbridge_calls_answered_total"), 1.0);
    assert!(
        rss_after <= rss_before + RSS_GROWTH_LIMIT_KIB,
        "RSS grew from {rss_before} KiB to {rss_after} KiB over the flood"
    );

    // The two callers in the meeting heard each other all through the flood, and never
    // themselves.
    for (who, port, own, other) in [("A", port_a, A_HZ, B_HZ), ("B", port_b, B_HZ, A_HZ)] {
        let audio = audio_between(&datagrams, port, flood_start, flood_end);
        let (heard, windows) = windows_hearing(&audio, other);
        let (own_heard, _) = windows_hearing(&audio, own);
        println!("caller {who}: the other's tone in {heard} of {windows} windows of the flood");
        assert!(
            windows as f64 >= (flood_end - flood_start) * 5.0 * 0.9,
            "caller {who} received only {windows} windows of audio during the flood"
        );
        assert!(
            heard as f64 >= windows as f64 * 0.95,
            "caller {who} heard the other caller in only {heard} of {windows} windows"
        );
        assert_eq!(own_heard, 0, "caller {who} heard its own tone");
    }
}
