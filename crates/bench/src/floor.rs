//! `pinbridge-floor`: what the media engine's socket work alone costs per caller on this
//! machine, the floor beneath pinbridge's per-participant CPU.
//!
//! One process, two threads, loopback only:
//!
//! - The **bridge thread** does the engine's I/O with the engine's own code
//!   ([`pinbridge_dialin::media_io::CallSockets`]) and nothing else: N calls, each an
//!   RTP and an RTCP socket (non-blocking, on 127.0.0.1) in one readiness set. Every
//!   20 ms on an absolute schedule it reads the sockets that became readable in batches
//!   of [`pinbridge_udp::BATCH`] (up to four reads), notes where each call's RTP comes
//!   from (symmetric RTP), then sends each call with a known source one
//!   172-byte RTP packet (its own sequence number, timestamp and SSRC, 160 bytes of a
//!   fixed µ-law frame) with one `send_to`. No parsing, decoding, jitter buffer, mixing
//!   or RTCP reports. With `unheard_read_ticks` K > 1 each call's sockets are read only
//!   every K-th tick, staggered by call index, as the engine reads callers nobody hears.
//! - The **load thread** plays the callers as the native generator does
//!   ([`crate::native`]): a few shared sockets, one packet per call every 20 ms sent
//!   with `sendmmsg` ([`SendBatch`]), everything received drained with `recvmmsg`.
//!
//! The bridge thread's CPU time is read from `/proc/self/task/TID/stat` (user and
//! system, in clock ticks) at the start and the end of the window, with the packet
//! counters at the same moments; the JSON record also has its time on a CPU to the
//! nanosecond from `/proc/self/task/TID/schedstat`, where the kernel keeps it.
//!
//! On loopback the kernel delivers a datagram to the receiving socket inside the
//! sender's system call: the bridge's system time includes delivering its packets to the
//! load's sockets, and the load's includes delivering its packets to the bridge's (with
//! the epoll wake-up). With a network card the receive side is the softirq's work
//! instead, charged to whatever runs on the core that takes the interrupt.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pinbridge_bridge::Channel;
use pinbridge_dialin::media_io::{CallSockets, Reader};
use pinbridge_media::{Codec, FRAME_SAMPLES, RtpSender};
use pinbridge_udp::{RecvBatch, SendBatch};

use crate::Error;
use crate::process::{self, CpuTicks};

/// One media tick.
pub const TICK: Duration = Duration::from_millis(20);
/// The bytes of each RTP packet: a 12-byte header and 160 bytes of µ-law.
pub const PACKET_LEN: usize = 12 + FRAME_SAMPLES;
/// Packets each way per call and second.
pub const PACKETS_PER_S: f64 = 50.0;
/// The share of the expected packets that must go each way for a run to count, in %.
pub const ENOUGH_PCT: f64 = 98.0;
/// The most calls one run opens (two sockets each).
pub const MAX_CALLS: usize = 20_000;

/// Datagrams per `recvmmsg` / `sendmmsg` of the load, as the native generator.
const LOAD_BATCH: usize = 64;
/// The load's socket buffers, each way, as the native generator's.
const LOAD_SOCKET_BUFFER: usize = 8 << 20;
/// The most batched reads of one load socket per tick (a bound, never reached at
/// [`MAX_CALLS`]).
const LOAD_MAX_READS: usize = 1_000;
/// Schedules that fall further behind than this start afresh, as the engine's do.
const MAX_LAG_TICKS: u32 = 5;
/// The longest wait for a thread to open its sockets.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Threads stop by themselves this long after the window should have ended.
const OVERRUN: Duration = Duration::from_secs(60);

/// What one run does.
#[derive(Debug, Clone)]
pub struct FloorConfig {
    /// Calls: RTP and RTCP sockets on the bridge side, packet streams each way.
    pub calls: usize,
    /// Before the window opens.
    pub warmup: Duration,
    /// The measurement window.
    pub duration: Duration,
    /// Read each call's sockets every K-th tick (1: every tick; the engine's
    /// UNHEARD_READ_TICKS is 5).
    pub unheard_read_ticks: u64,
    /// Sockets the load's calls share.
    pub rtp_sockets: usize,
    /// The cores the bridge and the load threads are pinned to; `None`: not pinned.
    pub bridge_core: Option<usize>,
    pub load_core: Option<usize>,
}

impl Default for FloorConfig {
    fn default() -> Self {
        FloorConfig {
            calls: 200,
            warmup: Duration::from_secs(3),
            duration: Duration::from_secs(30),
            unheard_read_ticks: 1,
            rtp_sockets: 16,
            bridge_core: Some(0),
            load_core: Some(1),
        }
    }
}

impl FloorConfig {
    /// Why the configuration cannot run, if it cannot.
    pub fn check(&self) -> Result<(), Error> {
        if !(1..=MAX_CALLS).contains(&self.calls) {
            return Err(Error::new(format!(
                "calls must be 1 to {MAX_CALLS}, not {}",
                self.calls
            )));
        }
        if self.duration < TICK * 10 {
            return Err(Error::new("the window must be at least 0.2 s"));
        }
        if self.unheard_read_ticks == 0 {
            return Err(Error::new("unheard read ticks must be at least 1"));
        }
        if self.rtp_sockets == 0 {
            return Err(Error::new("the load needs at least one socket"));
        }
        let cores = process::cores();
        for (name, core) in [("bridge", self.bridge_core), ("load", self.load_core)] {
            if let Some(core) = core
                && core >= cores
            {
                return Err(Error::new(format!(
                    "the {name} core is {core}, but this machine has cores 0 to {}",
                    cores - 1
                )));
            }
        }
        let needed = 2 * self.calls + self.rtp_sockets + 64;
        let limit = process::fd_limit();
        if (needed as u64) > limit {
            return Err(Error::new(format!(
                "{} calls need about {needed} open files, and the limit is {limit} \
                 (raise it with `ulimit -n`)",
                self.calls
            )));
        }
        Ok(())
    }

    /// How the run is named in its line: the calls, and the read cycle when not 1.
    pub fn label(&self) -> String {
        let mut label = format!("floor N={}", self.calls);
        if self.unheard_read_ticks > 1 {
            label.push_str(&format!(" unheard-read-ticks={}", self.unheard_read_ticks));
        }
        label
    }
}

/// Counters the threads publish once per tick, read by the main thread.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    bridge_tid: AtomicU64,
    bridge: Counters,
    load: Counters,
    /// Readiness drains that failed (every socket then read).
    readiness_errors: AtomicU64,
}

#[derive(Debug, Default)]
struct Counters {
    ticks: AtomicU64,
    late_ticks: AtomicU64,
    received: AtomicU64,
    sent: AtomicU64,
    receive_errors: AtomicU64,
    send_errors: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct Count {
    ticks: u64,
    late_ticks: u64,
    received: u64,
    sent: u64,
    receive_errors: u64,
    send_errors: u64,
}

impl Counters {
    fn read(&self) -> Count {
        Count {
            ticks: self.ticks.load(Ordering::Relaxed),
            late_ticks: self.late_ticks.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            receive_errors: self.receive_errors.load(Ordering::Relaxed),
            send_errors: self.send_errors.load(Ordering::Relaxed),
        }
    }

    fn add(&self, tick: &Count) {
        for (counter, value) in [
            (&self.ticks, tick.ticks),
            (&self.late_ticks, tick.late_ticks),
            (&self.received, tick.received),
            (&self.sent, tick.sent),
            (&self.receive_errors, tick.receive_errors),
            (&self.send_errors, tick.send_errors),
        ] {
            if value > 0 {
                counter.fetch_add(value, Ordering::Relaxed);
            }
        }
    }
}

impl Count {
    fn since(self, before: Count) -> Count {
        Count {
            ticks: self.ticks - before.ticks,
            late_ticks: self.late_ticks - before.late_ticks,
            received: self.received - before.received,
            sent: self.sent - before.sent,
            receive_errors: self.receive_errors - before.receive_errors,
            send_errors: self.send_errors - before.send_errors,
        }
    }
}

/// One reading of everything measured.
struct Snapshot {
    at: Instant,
    cpu: CpuTicks,
    /// The bridge thread's time on a CPU in ns (`schedstat`), when the kernel tells.
    runtime_ns: Option<u64>,
    bridge: Count,
    load: Count,
    readiness_errors: u64,
}

impl Shared {
    fn snapshot(&self) -> Snapshot {
        let tid = self.bridge_tid.load(Ordering::Relaxed);
        Snapshot {
            at: Instant::now(),
            cpu: process::thread_cpu_ticks(tid),
            runtime_ns: runtime_ns(tid),
            bridge: self.bridge.read(),
            load: self.load.read(),
            readiness_errors: self.readiness_errors.load(Ordering::Relaxed),
        }
    }
}

/// The first field of `/proc/self/task/TID/schedstat`: time spent on a CPU, in ns.
fn runtime_ns(tid: u64) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Sets `stop` when dropped, so that no return leaves the threads running.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
    }
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct FloorRecord {
    pub label: String,
    pub calls: usize,
    pub window_s: f64,
    /// The bridge thread's CPU over the window, % of one core, and per call.
    pub cpu_pct: f64,
    pub cpu_per_call_pct: f64,
    pub user_pct: f64,
    pub system_pct: f64,
    /// Packets the bridge received and sent in the window, per second.
    pub in_per_s: f64,
    pub out_per_s: f64,
    /// Packets the bridge received, and the load received, as % of the expected
    /// (calls × 50/s × window).
    pub bridge_received_pct: f64,
    pub load_received_pct: f64,
    pub late_ticks: u64,
    pub ticks: u64,
    /// Failed reads and sends, and failed readiness drains, on either side.
    pub io_errors: u64,
    /// Every raw figure.
    pub json: serde_json::Value,
}

impl FloorRecord {
    /// One line, as the load harness prints its runs.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{}: bridge cpu {:.1}% ({:.4}%/call; user {:.1}%, system {:.1}%), \
             in {:.0}/s out {:.0}/s, load received {:.1}%, late ticks {}/{}",
            self.label,
            self.cpu_pct,
            self.cpu_per_call_pct,
            self.user_pct,
            self.system_pct,
            self.in_per_s,
            self.out_per_s,
            self.load_received_pct,
            self.late_ticks,
            self.ticks
        );
        if self.io_errors > 0 {
            line.push_str(&format!(", I/O errors {}", self.io_errors));
        }
        line
    }

    /// Why the run does not count, if it does not: too few packets went one way.
    pub fn shortfall(&self) -> Option<String> {
        let mut short = Vec::new();
        if self.bridge_received_pct < ENOUGH_PCT {
            short.push(format!(
                "the bridge received {:.1}% of the expected packets",
                self.bridge_received_pct
            ));
        }
        if self.load_received_pct < ENOUGH_PCT {
            short.push(format!(
                "the load received {:.1}% of the expected packets",
                self.load_received_pct
            ));
        }
        (!short.is_empty()).then(|| {
            format!(
                "{} (at least {ENOUGH_PCT}% needed): the figures do not show the full load",
                short.join(" and ")
            )
        })
    }
}

/// Runs the bridge and the load for the warm-up and the window, and measures.
pub fn run(config: &FloorConfig) -> Result<FloorRecord, Error> {
    config.check()?;
    let shared = Arc::new(Shared::default());
    let _stop = StopOnDrop(shared.clone());
    let give_up = Instant::now() + config.warmup + config.duration + OVERRUN;

    let (ready, bridge_ready) = mpsc::channel();
    let bridge = {
        let (config, shared) = (config.clone(), shared.clone());
        std::thread::Builder::new()
            .name("floor-bridge".into())
            .spawn(move || bridge_thread(&config, &shared, ready, give_up))
            .map_err(|e| Error::new(format!("cannot start the bridge thread: {e}")))?
    };
    let targets = match bridge_ready.recv_timeout(SETUP_TIMEOUT) {
        Ok(result) => result?,
        Err(_) => return Err(Error::new("the bridge thread did not open its sockets")),
    };

    let (ready, load_ready) = mpsc::channel();
    let load = {
        let (config, shared) = (config.clone(), shared.clone());
        std::thread::Builder::new()
            .name("floor-load".into())
            .spawn(move || load_thread(&config, &shared, targets, ready, give_up))
            .map_err(|e| Error::new(format!("cannot start the load thread: {e}")))?
    };
    match load_ready.recv_timeout(SETUP_TIMEOUT) {
        Ok(result) => result?,
        Err(_) => return Err(Error::new("the load thread did not open its sockets")),
    }

    std::thread::sleep(config.warmup);
    let before = shared.snapshot();
    std::thread::sleep(config.duration);
    let after = shared.snapshot();
    shared.stop.store(true, Ordering::Relaxed);
    for (name, thread) in [("bridge", bridge), ("load", load)] {
        if thread.join().is_err() {
            return Err(Error::new(format!("the {name} thread panicked")));
        }
    }
    Ok(record(config, &before, &after))
}

fn record(config: &FloorConfig, before: &Snapshot, after: &Snapshot) -> FloorRecord {
    let window_s = (after.at - before.at).as_secs_f64();
    let clock_ticks = process::clock_ticks();
    let user = after.cpu.user.saturating_sub(before.cpu.user);
    let system = after.cpu.system.saturating_sub(before.cpu.system);
    let pct = |ticks: u64| ticks as f64 / clock_ticks as f64 / window_s * 100.0;
    let cpu_pct = pct(user + system);
    let bridge = after.bridge.since(before.bridge);
    let load = after.load.since(before.load);
    let readiness_errors = after.readiness_errors - before.readiness_errors;
    // The same CPU time to the nanosecond, a check on the clock-tick figures.
    let runtime_ns = after
        .runtime_ns
        .zip(before.runtime_ns)
        .map(|(a, b)| a.saturating_sub(b));
    let expected = config.calls as f64 * PACKETS_PER_S * window_s;
    let share = |n: u64| n as f64 / expected * 100.0;
    let io_errors = bridge.receive_errors
        + bridge.send_errors
        + load.receive_errors
        + load.send_errors
        + readiness_errors;
    let json = serde_json::json!({
        "tool": "pinbridge-floor",
        "label": config.label(),
        "calls": config.calls,
        "unheard_read_ticks": config.unheard_read_ticks,
        "rtp_sockets": config.rtp_sockets,
        "bridge_core": config.bridge_core,
        "load_core": config.load_core,
        "warmup_s": config.warmup.as_secs_f64(),
        "duration_s": config.duration.as_secs_f64(),
        "window_s": window_s,
        "clock_ticks_per_s": clock_ticks,
        "bridge_cpu_ticks": {"user": user, "system": system},
        "bridge_runtime_ns": runtime_ns,
        "runtime_cpu_pct": runtime_ns.map(|ns| ns as f64 / 1e9 / window_s * 100.0),
        "cpu_pct": cpu_pct,
        "cpu_per_call_pct": cpu_pct / config.calls as f64,
        "user_pct": pct(user),
        "system_pct": pct(system),
        "expected_packets": expected,
        "bridge": {
            "ticks": bridge.ticks,
            "late_ticks": bridge.late_ticks,
            "received": bridge.received,
            "sent": bridge.sent,
            "receive_errors": bridge.receive_errors,
            "send_errors": bridge.send_errors,
            "readiness_errors": readiness_errors,
            "received_pct": share(bridge.received),
        },
        "load": {
            "ticks": load.ticks,
            "late_ticks": load.late_ticks,
            "sent": load.sent,
            "received": load.received,
            "receive_errors": load.receive_errors,
            "send_errors": load.send_errors,
            "received_pct": share(load.received),
        },
        "in_per_s": bridge.received as f64 / window_s,
        "out_per_s": bridge.sent as f64 / window_s,
        "cores": process::cores(),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
        "git_commit": git_commit(),
        "unix_time": crate::run::unix_now(),
    });
    FloorRecord {
        label: config.label(),
        calls: config.calls,
        window_s,
        cpu_pct,
        cpu_per_call_pct: cpu_pct / config.calls as f64,
        user_pct: pct(user),
        system_pct: pct(system),
        in_per_s: bridge.received as f64 / window_s,
        out_per_s: bridge.sent as f64 / window_s,
        bridge_received_pct: share(bridge.received),
        load_received_pct: share(load.received),
        late_ticks: bridge.late_ticks,
        ticks: bridge.ticks,
        io_errors,
        json,
    }
}

/// The commit of the checkout this was built from, if git can tell.
fn git_commit() -> Option<String> {
    std::process::Command::new("git")
        .arg("-C")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// A fixed frame of µ-law: a 500 Hz tone.
fn payload() -> [u8; FRAME_SAMPLES] {
    let mut pcm = [0i16; FRAME_SAMPLES];
    for (n, sample) in pcm.iter_mut().enumerate() {
        let phase = std::f64::consts::TAU * 500.0 * n as f64 / 8000.0;
        *sample = (phase.sin() * 8000.0) as i16;
    }
    let mut frame = [0u8; FRAME_SAMPLES];
    Codec::Pcmu.encode(&pcm, &mut frame);
    frame
}

/// An RTP stream of its own for call `i` (`salt` tells the two directions apart).
fn sender(i: usize, salt: u32) -> RtpSender {
    let seed = (i as u32).wrapping_mul(2_654_435_761) ^ salt;
    RtpSender::new(seed, 0, seed as u16, seed.rotate_left(11))
}

/// Runs `tick` every 20 ms on an absolute schedule until `stop` (or `give_up`),
/// counting the ticks that started a tick or more late, as the engine does.
fn every_tick(
    shared: &Shared,
    counters: &Counters,
    give_up: Instant,
    mut tick: impl FnMut(u64, &mut Count),
) {
    let mut next_tick = Instant::now() + TICK;
    let mut number = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= give_up {
            break;
        }
        if now < next_tick {
            std::thread::sleep(next_tick - now);
            continue;
        }
        let mut count = Count {
            ticks: 1,
            late_ticks: u64::from(now >= next_tick + TICK),
            ..Count::default()
        };
        tick(number, &mut count);
        counters.add(&count);
        number += 1;
        next_tick += TICK;
        if now > next_tick + TICK * MAX_LAG_TICKS {
            next_tick = now + TICK;
        }
    }
}

fn pin(core: Option<usize>) -> Result<(), Error> {
    match core {
        Some(core) => process::pin_self(core),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------
// The bridge: the engine's I/O

/// One call on the bridge side, beyond its sockets.
struct Leg {
    /// Where the call's RTP comes from (symmetric RTP), once it has come.
    send_to: Option<SocketAddr>,
    sender: RtpSender,
}

/// The floor's stand-in for the core: it reads every `read_every`-th tick (staggered
/// by call), notes each call's source and counts what arrived.
struct FloorReader<'a> {
    legs: &'a mut [Leg],
    count: &'a mut Count,
    tick: u64,
    read_every: u64,
}

impl Reader<usize> for FloorReader<'_> {
    fn due(&self, call: usize) -> bool {
        (self.tick + call as u64).is_multiple_of(self.read_every)
    }

    fn datagram(&mut self, call: usize, channel: Channel, source: SocketAddr, _: &[u8]) {
        if channel == Channel::Rtp {
            self.count.received += 1;
            self.legs[call].send_to = Some(source);
        }
    }
}

fn open_legs(calls: usize) -> Result<(CallSockets<usize>, Vec<Leg>), Error> {
    let io = |what: &str, e: std::io::Error| Error::new(format!("{what}: {e}"));
    let mut sockets = CallSockets::new().map_err(|e| io("make a readiness set", e))?;
    let mut legs = Vec::with_capacity(calls);
    for i in 0..calls {
        let rtp = UdpSocket::bind("127.0.0.1:0").map_err(|e| io("bind an RTP socket", e))?;
        let rtcp = UdpSocket::bind("127.0.0.1:0").map_err(|e| io("bind an RTCP socket", e))?;
        for socket in [&rtp, &rtcp] {
            socket
                .set_nonblocking(true)
                .map_err(|e| io("make a socket non-blocking", e))?;
        }
        sockets
            .insert(i, i, rtp, rtcp)
            .map_err(|e| io("watch a call's sockets", e))?;
        legs.push(Leg {
            send_to: None,
            sender: sender(i, 0xB81D_6E00),
        });
    }
    Ok((sockets, legs))
}

fn bridge_thread(
    config: &FloorConfig,
    shared: &Shared,
    ready: mpsc::Sender<Result<Vec<SocketAddr>, Error>>,
    give_up: Instant,
) {
    let opened = pin(config.bridge_core).and_then(|()| {
        let (sockets, legs) = open_legs(config.calls)?;
        let targets = (0..legs.len())
            .map(|i| sockets.local_addr(i, Channel::Rtp))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Error::new("an RTP socket has no address"))?;
        Ok((sockets, legs, targets))
    });
    let (mut sockets, mut legs, targets) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    shared
        .bridge_tid
        .store(process::thread_id(), Ordering::Relaxed);
    if ready.send(Ok(targets)).is_err() {
        return;
    }
    let payload = payload();
    let mut buf = [0u8; pinbridge_udp::MAX_DATAGRAM];
    let read_every = config.unheard_read_ticks;
    every_tick(shared, &shared.bridge, give_up, |tick, count| {
        // 1. Receive: what arrived, with the engine's own reading code.
        let report = sockets.read(&mut FloorReader {
            legs: &mut legs,
            count,
            tick,
            read_every,
        });
        count.receive_errors += report.read_errors;
        if report.readiness_failed {
            shared.readiness_errors.fetch_add(1, Ordering::Relaxed);
        }
        // 2. Send one packet per call with a known source, one system call each.
        for (i, leg) in legs.iter_mut().enumerate() {
            let Some(destination) = leg.send_to else {
                continue;
            };
            match leg
                .sender
                .write_packet(&payload, FRAME_SAMPLES as u32, &mut buf)
            {
                Ok(len) => match sockets.send(i, Channel::Rtp, &buf[..len], destination) {
                    Ok(_) => count.sent += 1,
                    Err(_) => count.send_errors += 1,
                },
                Err(_) => count.send_errors += 1,
            }
        }
    });
}

// ---------------------------------------------------------------------------------------
// The load: the callers

fn load_thread(
    config: &FloorConfig,
    shared: &Shared,
    targets: Vec<SocketAddr>,
    ready: mpsc::Sender<Result<(), Error>>,
    give_up: Instant,
) {
    let opened = pin(config.load_core).and_then(|()| {
        (0..config.rtp_sockets)
            .map(|_| {
                let socket = UdpSocket::bind("127.0.0.1:0")
                    .map_err(|e| Error::new(format!("bind a load socket: {e}")))?;
                socket
                    .set_nonblocking(true)
                    .map_err(|e| Error::new(format!("make a socket non-blocking: {e}")))?;
                pinbridge_udp::grow_buffers(&socket, LOAD_SOCKET_BUFFER);
                Ok(socket)
            })
            .collect::<Result<Vec<UdpSocket>, Error>>()
    });
    let sockets = match opened {
        Ok(sockets) => sockets,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    if ready.send(Ok(())).is_err() {
        return;
    }
    let payload = payload();
    let mut senders: Vec<RtpSender> = (0..targets.len()).map(|i| sender(i, 0x10AD)).collect();
    let mut receive = RecvBatch::new(LOAD_BATCH);
    let mut send = SendBatch::new(LOAD_BATCH);
    every_tick(shared, &shared.load, give_up, |_, count| {
        for socket in &sockets {
            for _ in 0..LOAD_MAX_READS {
                match receive.receive(socket) {
                    Ok(n) => {
                        count.received += receive.iter().count() as u64;
                        if n < receive.capacity() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        count.receive_errors += 1;
                        break;
                    }
                }
            }
        }
        // Call i sends from socket i % sockets.
        for (s, socket) in sockets.iter().enumerate() {
            for i in (s..targets.len()).step_by(sockets.len()) {
                let written =
                    senders[i].write_packet(&payload, FRAME_SAMPLES as u32, send.next_buf());
                match written {
                    Ok(len) => send.commit(len, targets[i]),
                    Err(_) => count.send_errors += 1,
                }
                if send.is_full() {
                    flush(&mut send, socket, count);
                }
            }
            if !send.is_empty() {
                flush(&mut send, socket, count);
            }
        }
    });
}

fn flush(send: &mut SendBatch, socket: &UdpSocket, count: &mut Count) {
    let (sent, failed) = send.flush(socket);
    count.sent += sent;
    count.send_errors += failed;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packet_is_172_bytes() {
        let mut buf = [0u8; 1500];
        let len = sender(3, 1)
            .write_packet(&payload(), FRAME_SAMPLES as u32, &mut buf)
            .unwrap();
        assert_eq!(len, PACKET_LEN);
        assert_eq!(PACKET_LEN, 172);
    }

    #[test]
    fn bad_configurations_say_why() {
        let bad = [
            FloorConfig {
                calls: 0,
                ..FloorConfig::default()
            },
            FloorConfig {
                unheard_read_ticks: 0,
                ..FloorConfig::default()
            },
            FloorConfig {
                bridge_core: Some(4096),
                ..FloorConfig::default()
            },
            FloorConfig {
                duration: Duration::from_millis(100),
                ..FloorConfig::default()
            },
        ];
        for config in bad {
            assert!(config.check().is_err(), "{config:?}");
        }
    }

    #[test]
    fn the_label_names_the_read_cycle() {
        let mut config = FloorConfig {
            calls: 1000,
            ..FloorConfig::default()
        };
        assert_eq!(config.label(), "floor N=1000");
        config.unheard_read_ticks = 5;
        assert_eq!(config.label(), "floor N=1000 unheard-read-ticks=5");
    }
}
