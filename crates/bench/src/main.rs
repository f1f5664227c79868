//! `pinbridge-load`: drives callers against `pinbridge serve` and measures it. See
//! BENCHMARKS.md, "Bridge load harness".

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use pinbridge_bench::{Config, GeneratorKind, Record, SetupRate, report, run};

#[derive(Clone, Copy, ValueEnum)]
enum Generator {
    /// SIPp 3.6 (Debian sip-tester) with crates/bench/sipp/*.xml.
    Sipp,
    /// The harness's own generator: one thread, batched UDP.
    Native,
}

/// Load harness of pinbridge's dial-in bridge: prepares a data directory, starts
/// `pinbridge serve` pinned to one core, drives callers through the caller flow from
/// another and measures pinbridge over a steady-state window.
#[derive(Parser)]
#[command(name = "pinbridge-load", version)]
struct Args {
    /// The pinbridge binary [default: $CARGO_TARGET_DIR/release/pinbridge, else
    /// target/release/pinbridge].
    #[arg(long, value_name = "PATH")]
    pinbridge: Option<PathBuf>,
    /// The pinbridge checkout (its assets/ and crates/bench/sipp/).
    #[arg(long, value_name = "DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))]
    repo: PathBuf,
    /// Which load generator places the calls.
    #[arg(long, value_enum, default_value = "native")]
    generator: Generator,
    /// Callers held during the measurement.
    #[arg(long, default_value_t = 50)]
    callers: usize,
    /// Callers per meeting: the number of callers for one room, 5 for rooms of 5.
    #[arg(long, default_value_t = 5)]
    room_size: usize,
    /// Meetings nobody starts: every caller waits in the lobby with music on hold.
    #[arg(long)]
    lobby: bool,
    /// Length of the measurement window, seconds.
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Seconds after every caller joined before the window opens.
    #[arg(long, default_value_t = 5.0)]
    warmup: f64,
    /// Calls started (and hung up) per second around the window.
    #[arg(long, default_value_t = 100.0)]
    ramp_rate: f64,
    /// Set-up rate mode: calls per second, each through greeting, conference ID, join
    /// and a short stay, for --setup-seconds.
    #[arg(short = 'r', long, value_name = "CALLS_PER_S")]
    setup_rate: Option<f64>,
    /// How long the set-up rate mode starts calls, seconds.
    #[arg(long, default_value_t = 60.0)]
    setup_seconds: f64,
    /// How long each caller of the set-up rate mode stays after joining, seconds.
    #[arg(long, default_value_t = 3.0)]
    stay: f64,
    /// Runs of each configuration.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Append one JSON record per run (every raw figure) to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Do not pin pinbridge and the load to cores.
    #[arg(long)]
    no_pin: bool,
    /// The core pinbridge is pinned to.
    #[arg(long, default_value_t = 0)]
    serve_core: usize,
    /// The core the harness and its load generator are pinned to.
    #[arg(long, default_value_t = 1)]
    load_core: usize,
    /// Keep each run's files (data directory, serve.log, SIPp's files) under DIR.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// RTP sockets the native generator's callers share.
    #[arg(long, default_value_t = 16)]
    rtp_sockets: usize,
    /// Callers whose audio is captured in a SIPp run.
    #[arg(long, default_value_t = 20)]
    audio_sample: usize,
    /// Before each run, wait (up to --quiet-wait) until pinbridge's core (every core with
    /// --no-pin) is less busy than this, in % over 2 s: for a machine shared with others.
    #[arg(long, value_name = "PCT")]
    quiet_below: Option<f64>,
    /// The longest wait for --quiet-below, seconds; then the run goes ahead (and says how
    /// busy the cores were).
    #[arg(long, default_value_t = 120.0)]
    quiet_wait: f64,
    /// No progress lines on standard error.
    #[arg(long, short)]
    quiet: bool,
}

fn default_pinbridge() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("release/pinbridge"),
        None => PathBuf::from("target/release/pinbridge"),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let pinbridge = args.pinbridge.clone().unwrap_or_else(default_pinbridge);
    let mut config = Config::new(&pinbridge, &args.repo);
    config.generator = match args.generator {
        Generator::Sipp => GeneratorKind::Sipp,
        Generator::Native => GeneratorKind::Native,
    };
    config.callers = args.callers;
    config.room_size = args.room_size;
    config.lobby = args.lobby;
    config.duration = Duration::from_secs_f64(args.duration);
    config.warmup = Duration::from_secs_f64(args.warmup);
    config.ramp_rate = args.ramp_rate;
    config.setup = args.setup_rate.map(|rate| SetupRate {
        rate,
        seconds: args.setup_seconds,
        stay: Duration::from_secs_f64(args.stay),
    });
    config.pin = !args.no_pin;
    config.serve_core = args.serve_core;
    config.load_core = args.load_core;
    config.work_dir = args.keep.clone();
    config.rtp_sockets = args.rtp_sockets;
    config.audio_sample = args.audio_sample;
    config.quiet_below = args.quiet_below;
    config.quiet_wait = Duration::from_secs_f64(args.quiet_wait);
    config.verbose = !args.quiet;

    let mut records: Vec<Record> = Vec::new();
    let mut ok = true;
    for repetition in 1..=args.repeat.max(1) {
        if !args.quiet {
            eprintln!(
                "run {repetition}/{}: {} (load average {})",
                args.repeat.max(1),
                config.label(),
                pinbridge_bench::process::load_average()
            );
        }
        match run(&config) {
            Ok(record) => {
                println!("run {repetition}: {}", report::line(&record));
                let misplaced = record
                    .placement
                    .is_some_and(|(placed, checked)| placed < checked);
                if record.failed_calls > 0 || misplaced {
                    ok = false;
                }
                if let Some(path) = &args.json
                    && let Err(e) = report::append_json(path, &record.json)
                {
                    eprintln!("error: {e}");
                    ok = false;
                }
                records.push(record);
            }
            Err(e) => {
                println!("run {repetition}: {}: error: {e}", config.label());
                ok = false;
            }
        }
    }
    if records.len() > 1 {
        for line in report::summary(&records) {
            println!("{line}");
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
