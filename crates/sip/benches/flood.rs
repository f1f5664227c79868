//! The SIP limiter's cost of BENCHMARKS.md ("Hostile traffic"): the endpoint's work per
//! datagram of a flood from outside the trunk allow-list, with the default per-source
//! limits, without limits, and with `--sip-untrusted drop`; from one address, and from a
//! new address every datagram (the limiter's table churning); and the limiter's
//! `allow` alone. Virtual time advances 0.5 ms a datagram on average (2,000 a second,
//! the acceptance flood's rate); outputs are drained as the driver does. A measurement, not a
//! test (`cargo test` does not run it):
//!
//!   cargo bench -p pinbridge-sip --bench flood

use std::hint::black_box;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use pinbridge_domain::Cidr;
use pinbridge_sip::{
    Endpoint, EndpointConfig, Frame, Input, RequestClass, SourceLimiter, SourceLimits,
    StreamFramer, Transport, Untrusted,
};

const DATAGRAMS: usize = 200_000;
const RUNS: usize = 5;
/// The mean gap between datagrams; each gap is drawn from 0–1 ms, so that no kind of
/// datagram always finds the buckets in the same phase.
const STEP: Duration = Duration::from_micros(500);

/// The gaps between datagrams: uniform in 0..2·STEP (a fixed-seed generator).
fn gaps() -> Vec<Duration> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..DATAGRAMS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            STEP * 2 * (x % 1000) as u32 / 1000
        })
        .collect()
}

fn source(i: usize, churn: bool) -> SocketAddr {
    if churn {
        let ip = IpAddr::from((0x0a00_0000u32 + i as u32).to_be_bytes());
        SocketAddr::new(ip, 5060)
    } else {
        "127.0.0.9:5060".parse().unwrap()
    }
}

/// Nanoseconds per datagram through `handle_input` and the output drain, and how many
/// responses went out.
fn endpoint_run(config: &EndpointConfig, churn: bool) -> (f64, usize) {
    let prepared: Vec<(SocketAddr, Vec<u8>)> = (0..DATAGRAMS)
        .map(|i| {
            let from = source(i, churn);
            (from, pinbridge_sip::fuzz::flood_datagram(i, from))
        })
        .collect();
    let local: SocketAddr = "127.0.0.1:5060".parse().unwrap();
    let gaps = gaps();
    let mut endpoint = Endpoint::new(config.clone());
    let mut now = Instant::now();
    let mut sent = 0;
    let start = Instant::now();
    for ((from, contents), gap) in prepared.iter().zip(&gaps) {
        now += *gap;
        let input = Input {
            transport: Transport::Udp,
            source: *from,
            local,
            contents,
        };
        let _ = black_box(endpoint.handle_input(now, input));
        while let Some(output) = endpoint.poll_output() {
            black_box(&output);
            sent += 1;
        }
    }
    let elapsed = start.elapsed();
    (elapsed.as_nanos() as f64 / DATAGRAMS as f64, sent)
}

fn limiter_run(churn: bool) -> f64 {
    let mut limiter = SourceLimiter::new(SourceLimits::default());
    let sources: Vec<IpAddr> = (0..DATAGRAMS).map(|i| source(i, churn).ip()).collect();
    let classes = [
        RequestClass::Options,
        RequestClass::Invite,
        RequestClass::Register,
        RequestClass::Other,
    ];
    let gaps = gaps();
    let mut now = Instant::now();
    let start = Instant::now();
    for (i, ip) in sources.iter().enumerate() {
        now += gaps[i];
        black_box(limiter.allow(now, *ip, classes[i % 4]));
    }
    start.elapsed().as_nanos() as f64 / DATAGRAMS as f64
}

/// Milliseconds to frame one message of `headers` padding lines and a `body`-byte body,
/// pushed `piece` bytes at a time (a trunk trickling a large message over TCP).
fn framer_run(headers: usize, body: usize, piece: usize) -> f64 {
    let mut message = b"INFO sip:a@b SIP/2.0\r\n".to_vec();
    for i in 0..headers {
        message.extend_from_slice(
            format!("X-Padding-{i}: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n").as_bytes(),
        );
    }
    message.extend_from_slice(format!("Content-Length: {body}\r\n\r\n").as_bytes());
    message.extend(std::iter::repeat_n(b'x', body));
    let mut framer = StreamFramer::new();
    let start = Instant::now();
    let mut frames = 0;
    for chunk in message.chunks(piece) {
        framer.push(chunk);
        while let Ok(Some(frame)) = framer.next_frame() {
            if let Frame::Message(m) = frame {
                frames += m.len();
            }
        }
    }
    assert_eq!(frames, message.len());
    start.elapsed().as_secs_f64() * 1000.0
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let base = EndpointConfig {
        trunk_allow: vec!["127.0.0.1/32".parse::<Cidr>().unwrap()],
        ..EndpointConfig::default()
    };
    let configurations = [
        ("403, default limits", base.clone()),
        (
            "403, no limits",
            EndpointConfig {
                limits: SourceLimits::unlimited(),
                ..base.clone()
            },
        ),
        (
            "drop",
            EndpointConfig {
                untrusted: Untrusted::Drop,
                ..base.clone()
            },
        ),
    ];
    println!(
        "{DATAGRAMS} datagrams a run, median of {RUNS} runs, ns per datagram (min–max), responses sent"
    );
    for churn in [false, true] {
        let sources = if churn {
            "a new address each"
        } else {
            "one address"
        };
        for (name, config) in &configurations {
            let runs: Vec<(f64, usize)> = (0..RUNS).map(|_| endpoint_run(config, churn)).collect();
            let ns: Vec<f64> = runs.iter().map(|r| r.0).collect();
            let (lo, hi) = (
                ns.iter().copied().fold(f64::MAX, f64::min),
                ns.iter().copied().fold(0.0, f64::max),
            );
            println!(
                "endpoint, {sources}, {name}: {:.0} ns ({lo:.0}–{hi:.0}), {} responses",
                median(ns.clone()),
                runs[0].1
            );
        }
        let ns: Vec<f64> = (0..RUNS).map(|_| limiter_run(churn)).collect();
        println!(
            "SourceLimiter::allow alone, {sources}: {:.1} ns",
            median(ns)
        );
    }
    for (what, headers, body) in [
        ("a 30 KiB header section", 700, 0),
        ("a 30 KiB body", 0, 30_000),
    ] {
        let ms: Vec<f64> = (0..RUNS).map(|_| framer_run(headers, body, 1)).collect();
        println!(
            "StreamFramer, {what} pushed a byte at a time: {:.1} ms",
            median(ms)
        );
    }
}
