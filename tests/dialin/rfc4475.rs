//! Acceptance (RFC 4475): the 50 torture messages of `crates/sip/tests/data/rfc4475/`,
//! byte for byte, sent 100 times over UDP to a running `serve`. It stays up (an OPTIONS
//! is answered after every pass, and a caller completes a call into the lobby at the
//! end), and its memory stays flat: the RSS after the last pass is at most
//! [`RSS_GROWTH_BOUND`] above the RSS after the first.
//!
//! The messages' Vias carry no `rport`, so pinbridge answers them at their sent-by
//! (127.0.0.1 and a port, mostly 5060: loopback, but not this test's socket); the
//! Sans-IO test `crates/sip/tests/rfc4475.rs` checks those answers one by one. Three
//! valid INVITEs in the corpus would be answered with media sent to the documentation
//! addresses of their SDP (192.0.2.x): while the corpus runs, this test holds every RTP
//! port of pinbridge's range, so those calls are refused with 503 and nothing leaves
//! loopback. The ports are given back for the call at the end.

use crate::common;

use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::phone::bridge;
use common::phone::*;

/// How often the whole corpus is sent.
const PASSES: usize = 100;
/// The least time between the starts of two passes: 100 passes then span more than
/// 64·T1 (32 s), so transactions run out and are made anew during the run.
const PASS_SPACING: Duration = Duration::from_millis(350);
/// How much more memory `serve` may hold after the last pass than after the first.
const RSS_GROWTH_BOUND: u64 = 16 * 1024 * 1024;

/// The corpus, in file-name order.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crates/sip/tests/data/rfc4475");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "dat"))
        .map(|path| {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("read"))
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 50, "RFC 4475's archive holds 50 messages");
    files
}

/// `serve`'s resident set size, from `/proc/PID/status`.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("serve (PID {pid}) is gone: {e}"));
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"));
    kib * 1024
}

/// An OPTIONS with `rport`, so that its 200 comes back to `socket`.
fn probe(socket: &UdpSocket, n: usize) -> String {
    let port = socket.local_addr().expect("local address").port();
    format!(
        "OPTIONS sip:+14255550100@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-rfc4475-probe-{n};rport\r\n\
         From: <sip:probe@127.0.0.1>;tag=probe{n}\r\n\
         To: <sip:+14255550100@127.0.0.1>\r\n\
         Call-ID: rfc4475-probe-{n}@test\r\n\
         CSeq: 1 OPTIONS\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Sends probe `n` and waits (at most ten seconds) for its 200. pinbridge reads one
/// socket's datagrams in order, so the 200 also says every datagram sent before it was
/// read. Whatever else arrives is skipped.
fn probe_answered(socket: &UdpSocket, sip: &str, n: usize) {
    socket
        .send_to(probe(socket, n).as_bytes(), sip)
        .expect("send probe");
    let call_id = format!("rfc4475-probe-{n}@test");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 65_535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "serve did not answer probe {n}");
        socket.set_read_timeout(Some(left)).expect("timeout");
        let Ok(len) = socket.recv(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..len]);
        if pinbridge_testkit::sipp::header(&text, &["Call-ID", "i"]) == Some(call_id.as_str()) {
            assert!(text.starts_with("SIP/2.0 200 "), "probe {n}: {text}");
            return;
        }
    }
}

#[test]
fn the_torture_corpus_a_hundred_times_leaves_serve_up_and_its_memory_flat() {
    let bridge = bridge::start(&[]);
    let pid = bridge.serve.pid();
    let corpus = corpus();
    let held: Vec<UdpSocket> = (bridge.rtp_low..=bridge.rtp_high)
        .map(|port| {
            UdpSocket::bind(("127.0.0.1", port))
                .unwrap_or_else(|e| panic!("cannot hold RTP port {port}: {e}"))
        })
        .collect();
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    probe_answered(&socket, &bridge.sip_udp, 0);
    let rss_start = rss_bytes(pid);

    let mut rss_after_first = 0;
    let started = Instant::now();
    for pass in 1..=PASSES {
        let pass_start = Instant::now();
        for (name, message) in &corpus {
            socket
                .send_to(message, &bridge.sip_udp)
                .unwrap_or_else(|e| panic!("pass {pass}: sending {name}: {e}"));
        }
        probe_answered(&socket, &bridge.sip_udp, pass);
        if pass == 1 {
            rss_after_first = rss_bytes(pid);
        }
        if let Some(rest) = PASS_SPACING.checked_sub(pass_start.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    let rss_after_last = rss_bytes(pid);
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    println!(
        "rfc4475: {} messages x {PASSES} passes = {} datagrams in {:.1} s; serve RSS {:.1} MiB \
         at the start, {:.1} MiB after the first pass, {:.1} MiB after the last (bound: +{:.0} MiB)",
        corpus.len(),
        corpus.len() * PASSES,
        started.elapsed().as_secs_f64(),
        mib(rss_start),
        mib(rss_after_first),
        mib(rss_after_last),
        mib(RSS_GROWTH_BOUND),
    );
    assert!(
        rss_after_last <= rss_after_first + RSS_GROWTH_BOUND,
        "serve's RSS grew from {:.1} MiB after the first pass to {:.1} MiB after the last",
        mib(rss_after_first),
        mib(rss_after_last)
    );
    assert_eq!(
        bridge.metric("pinbridge_active_calls"),
        0.0,
        "a torture INVITE became a call"
    );

    // serve is still up: a caller gets through to the lobby and hangs up.
    drop(held);
    let conference = bridge.meeting(&[]);
    let mut caller = bridge.call("caller after the corpus", &format!("{conference}#"));
    caller.wait_answered(Duration::from_secs(30));
    bridge.wait_state(&conference, "the caller waits in the lobby", |s| {
        s.in_lobby() == 1
    });
    caller.hang_up();
    assert_eq!(caller.wait_end(Duration::from_secs(30)), Ending::ByCaller);
}
