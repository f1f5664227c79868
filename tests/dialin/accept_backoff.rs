//! Out of file descriptors, the SIP listeners rest instead of spinning: with `serve`'s
//! descriptor limit lowered (prlimit) so that accepts fail with EMFILE, a queue of TCP
//! connections makes a handful of failed accepts per second (each pausing accepting for
//! 250 ms), not thousands; once descriptors are free again the queued connections are
//! served.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::phone::bridge::{self, RTP_PORTS};
use pinbridge_testkit::wait_for;

fn prlimit_nofile(pid: u32, soft: u64) {
    let status = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--nofile={soft}:")])
        .status()
        .expect("run prlimit (util-linux)");
    assert!(status.success(), "prlimit --nofile={soft}: {status}");
}

fn open_descriptors(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as u64
}

fn options(n: usize, local: std::net::SocketAddr) -> String {
    format!(
        "OPTIONS sip:+14255550100@127.0.0.1;transport=tcp SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch=z9hG4bK-backoff-{n}\r\n\
         From: <sip:probe@127.0.0.1>;tag=backoff{n}\r\n\
         To: <sip:+14255550100@127.0.0.1>\r\n\
         Call-ID: backoff-{n}@test\r\n\
         CSeq: 1 OPTIONS\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn failed_accepts_pause_the_listener_and_queued_connections_are_served_later() {
    let dir = common::tempdir();
    let log = dir.path().join("serve.log");
    let bridge = bridge::start_with(&[], RTP_PORTS, Some(&log));
    let pid = bridge.serve.pid();
    assert_eq!(bridge.metric("pinbridge_sip_accept_failures_total"), 0.0);
    // Out of descriptors, /metrics cannot be reached either: the log tells.
    let failures = || {
        std::fs::read_to_string(&log)
            .unwrap()
            .matches("SIP TCP accept failed")
            .count() as f64
    };
    // No descriptor left for an accepted connection.
    prlimit_nofile(pid, open_descriptors(pid));
    let queued: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(&bridge.sip_tcp).expect("the kernel queues the connection"))
        .collect();
    wait_for("a failed accept", Duration::from_secs(10), || {
        (failures() >= 1.0).then_some(())
    });
    // Over two seconds: at most one failure per pause (and one for the start of the
    // window), where a listener that retried at once would fail thousands of times.
    let before = failures();
    std::thread::sleep(Duration::from_secs(2));
    let during = failures() - before;
    assert!(
        during <= 2.0 / 0.25 + 1.0,
        "{during} failed accepts in two seconds"
    );
    // Descriptors again: the queued connections are accepted and answered.
    prlimit_nofile(pid, 20_000);
    for (n, mut stream) in queued.into_iter().enumerate() {
        let local = stream.local_addr().unwrap();
        stream.write_all(options(n, local).as_bytes()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 2048];
        let len = stream.read(&mut buf).expect("an answer once accepted");
        let answer = String::from_utf8_lossy(&buf[..len]);
        assert!(answer.starts_with("SIP/2.0 200 "), "{answer}");
    }
    assert_eq!(
        bridge.metric("pinbridge_sip_accept_failures_total"),
        failures()
    );
}
