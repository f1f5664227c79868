//! `pinbridge-floor`: the media engine's socket work alone, to measure what it costs per
//! caller on this machine. See `pinbridge_bench::floor`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use pinbridge_bench::floor::{self, FloorConfig, MAX_CALLS};

/// The I/O floor of pinbridge's media engine: one thread does exactly the engine's
/// socket work for N calls (epoll readiness, batched reads, one send per call every
/// 20 ms) and nothing else, another plays the callers; prints the first thread's CPU
/// per call.
#[derive(Parser)]
#[command(name = "pinbridge-floor", version)]
struct Args {
    /// Calls: each an RTP and an RTCP socket on the bridge side, 50 packets a second
    /// each way.
    #[arg(long, default_value_t = 200, value_parser = calls)]
    calls: usize,
    /// Seconds before the window opens.
    #[arg(long, default_value_t = 3.0, value_parser = seconds)]
    warmup: f64,
    /// Length of the measurement window, seconds.
    #[arg(long, default_value_t = 30.0, value_parser = window)]
    duration: f64,
    /// Read each call's sockets only every K-th tick, staggered by call, as the engine
    /// does for callers nobody hears (it uses 5).
    #[arg(long, value_name = "K", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    unheard_read_ticks: u64,
    /// Sockets the load's calls share.
    #[arg(long, default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    rtp_sockets: u16,
    /// The core the bridge thread is pinned to.
    #[arg(long, default_value_t = 0)]
    bridge_core: usize,
    /// The core the load thread is pinned to.
    #[arg(long, default_value_t = 1)]
    load_core: usize,
    /// Do not pin the threads to cores.
    #[arg(long)]
    no_pin: bool,
    /// Append one JSON record (every raw figure) to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// No progress line on standard error.
    #[arg(long, short)]
    quiet: bool,
}

fn calls(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_CALLS).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from 1 to {MAX_CALLS}")),
    }
}

fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.0..=86_400.0).contains(&s) => Ok(s),
        _ => Err("expected seconds from 0 to 86400".into()),
    }
}

fn window(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.2..=86_400.0).contains(&s) => Ok(s),
        _ => Err("expected seconds from 0.2 to 86400".into()),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let pin = |core| (!args.no_pin).then_some(core);
    let config = FloorConfig {
        calls: args.calls,
        warmup: Duration::from_secs_f64(args.warmup),
        duration: Duration::from_secs_f64(args.duration),
        unheard_read_ticks: args.unheard_read_ticks,
        rtp_sockets: usize::from(args.rtp_sockets),
        bridge_core: pin(args.bridge_core),
        load_core: pin(args.load_core),
    };
    if let Err(e) = config.check() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    if !args.quiet {
        let core = |c: Option<usize>| c.map_or("any core".into(), |c| format!("core {c}"));
        eprintln!(
            "{}: warm-up {} s, window {} s, bridge on {}, load on {} (load average {})",
            config.label(),
            args.warmup,
            args.duration,
            core(config.bridge_core),
            core(config.load_core),
            pinbridge_bench::process::load_average()
        );
    }
    let record = match floor::run(&config) {
        Ok(record) => record,
        Err(e) => {
            eprintln!("error: {}: {e}", config.label());
            return ExitCode::FAILURE;
        }
    };
    println!("{}", record.line());
    let mut ok = true;
    if let Some(path) = &args.json
        && let Err(e) = pinbridge_bench::report::append_json(path, &record.json)
    {
        eprintln!("error: {e}");
        ok = false;
    }
    if let Some(why) = record.shortfall() {
        eprintln!("error: {why}");
        ok = false;
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
