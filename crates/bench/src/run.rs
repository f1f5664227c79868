//! One run of the harness, from an empty directory to a [`Record`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::Error;
use crate::audio::{self, Heard};
use crate::directory::{Cli, SERVICE_NUMBER};
use crate::native::{self, CallPlan, NativeConfig, NativeReport, Shared};
use crate::process::{self, CpuTicks};
use crate::serve::{self, Metrics, Serve, ServeConfig, free_port_block};
use crate::sipp::{self, SippConfig, SippRun};

/// Which load generator places the calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneratorKind {
    /// SIPp 3.6 with the scenarios of `crates/bench/sipp/`.
    Sipp,
    /// The harness's own generator ([`crate::native`]).
    Native,
}

impl GeneratorKind {
    pub fn name(self) -> &'static str {
        match self {
            GeneratorKind::Sipp => "sipp",
            GeneratorKind::Native => "native",
        }
    }
}

/// The set-up rate mode: calls at a fixed rate, each through the whole caller flow.
#[derive(Debug, Clone)]
pub struct SetupRate {
    /// Calls per second.
    pub rate: f64,
    /// For how long calls are started.
    pub seconds: f64,
    /// How long each caller stays in the meeting after joining.
    pub stay: Duration,
}

/// What one run does.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `pinbridge` binary.
    pub pinbridge: PathBuf,
    /// The repository's `assets/` (the speech and the greeting).
    pub assets: PathBuf,
    /// `crates/bench/sipp/`.
    pub scenarios: PathBuf,
    pub generator: GeneratorKind,
    /// Callers held during the measurement (load mode).
    pub callers: usize,
    /// Callers per meeting.
    pub room_size: usize,
    /// Meetings nobody can start: every caller waits in the lobby with music on hold.
    pub lobby: bool,
    /// The measurement window.
    pub duration: Duration,
    /// Time after every caller joined before the window opens.
    pub warmup: Duration,
    /// Calls started (and hung up) per second around the window.
    pub ramp_rate: f64,
    /// The set-up rate mode instead of a load run.
    pub setup: Option<SetupRate>,
    /// Pin pinbridge to one core and the harness with its generator to another.
    pub pin: bool,
    /// The cores: pinbridge's and the load's [0 and 1].
    pub serve_core: usize,
    pub load_core: usize,
    /// Keep the run's files (data directory, logs, SIPp's files) here.
    pub work_dir: Option<PathBuf>,
    /// RTP sockets the native generator's callers share.
    pub rtp_sockets: usize,
    /// Callers whose audio is captured in a SIPp run.
    pub audio_sample: usize,
    /// Length of the SIPp audio capture.
    pub audio_check: Duration,
    /// Before the run, wait (up to `quiet_wait`) until pinbridge's core (every core when
    /// not pinned) is less busy than this, in %, over 2 s.
    pub quiet_below: Option<f64>,
    pub quiet_wait: Duration,
    /// Progress lines on standard error.
    pub verbose: bool,
}

impl Config {
    /// The defaults, for a checkout at `repo`.
    pub fn new(pinbridge: &Path, repo: &Path) -> Config {
        Config {
            pinbridge: pinbridge.to_path_buf(),
            assets: repo.join("assets"),
            scenarios: repo.join("crates/bench/sipp"),
            generator: GeneratorKind::Native,
            callers: 20,
            room_size: 5,
            lobby: false,
            duration: Duration::from_secs(30),
            warmup: Duration::from_secs(5),
            ramp_rate: 100.0,
            setup: None,
            pin: true,
            serve_core: 0,
            load_core: 1,
            work_dir: None,
            rtp_sockets: 16,
            audio_sample: 20,
            audio_check: Duration::from_secs(3),
            quiet_below: None,
            quiet_wait: Duration::from_secs(120),
            verbose: false,
        }
    }

    /// `native N=200 room=5`, `sipp N=50 lobby room=5`, `native set-up 100/s`.
    pub fn label(&self) -> String {
        match &self.setup {
            Some(s) => format!(
                "{} set-up {}/s for {}s room={}",
                self.generator.name(),
                s.rate,
                s.seconds,
                self.room_size
            ),
            None => format!(
                "{} N={}{} room={}",
                self.generator.name(),
                self.callers,
                if self.lobby { " lobby" } else { "" },
                self.room_size
            ),
        }
    }
}

/// The figures of one run. `json` holds every raw figure; the fields are what the
/// summary prints.
#[derive(Debug, Clone)]
pub struct Record {
    pub label: String,
    pub callers: usize,
    /// pinbridge's CPU over the window, % of one core.
    pub cpu_pct: f64,
    pub cpu_per_participant_pct: f64,
    pub rss_base_kib: u64,
    pub rss_window_kib: u64,
    pub rss_per_participant_kib: f64,
    pub late_mixes: f64,
    pub mix_ticks: f64,
    pub rtp_lost: f64,
    pub rtp_late: f64,
    pub send_failures: f64,
    pub failed_calls: usize,
    pub audio_checked: usize,
    pub audio_ok: usize,
    pub audio_pps_median: f64,
    pub audio_rms_median: f64,
    /// Callers found where they should be (their meeting, or the lobby) of those checked.
    pub placement: Option<(usize, usize)>,
    /// Set-up mode: calls set up and CPU per set-up in ms.
    pub setups: Option<(usize, f64)>,
    pub generator_cpu_pct: f64,
    /// Busy time of pinbridge's core not spent by pinbridge, % (pinned runs).
    pub others_on_serve_core_pct: Option<f64>,
    /// RTP pinbridge received over the window, % of 50 packets/s per caller (load runs).
    pub load_delivered_pct: Option<f64>,
    pub json: Value,
}

/// Progress on standard error when asked for.
struct Progress {
    verbose: bool,
    start: Instant,
}

impl Progress {
    fn say(&self, what: &str) {
        if self.verbose {
            eprintln!("[{:7.1}s] {what}", self.start.elapsed().as_secs_f64());
        }
    }
}

/// Polls `check` every 100 ms until it returns `Some`, up to `timeout`.
fn wait_until<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One reading of pinbridge and the generator at an instant.
#[derive(Debug, Clone)]
struct Snapshot {
    at: Instant,
    cores: Vec<(u64, u64)>,
    cpu: CpuTicks,
    generator_cpu: CpuTicks,
    metrics: Metrics,
}

/// The generator of a run, running.
enum Running {
    Native {
        thread: std::thread::JoinHandle<Result<NativeReport, Error>>,
        shared: Arc<Shared>,
    },
    Sipp(SippRun),
}

impl Running {
    fn cpu(&self) -> CpuTicks {
        match self {
            Running::Native { shared, .. } => {
                process::thread_cpu_ticks(shared.tid.load(Ordering::Relaxed))
            }
            Running::Sipp(s) => process::cpu_ticks(s.pid()).unwrap_or_default(),
        }
    }
}

fn snapshot(serve: &Serve, generator: &Running) -> Result<Snapshot, Error> {
    Ok(Snapshot {
        at: Instant::now(),
        cores: process::core_times(),
        cpu: process::cpu_ticks(serve.pid())?,
        generator_cpu: generator.cpu(),
        metrics: serve.metrics()?,
    })
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The wall clock in seconds since the Unix epoch, for the JSON records.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The commit of the checkout the binary runs from, if git can tell.
fn git_commit(repo: &Path) -> String {
    std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The working directory of a run: kept where asked, else a temporary one.
enum WorkDir {
    Kept(PathBuf),
    Temporary(tempfile::TempDir),
}

impl WorkDir {
    fn new(keep: Option<&Path>) -> Result<WorkDir, Error> {
        match keep {
            Some(base) => {
                let dir = base.join(format!("run-{}-{}", unix_now(), std::process::id()));
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::new(format!("create {}: {e}", dir.display())))?;
                Ok(WorkDir::Kept(dir))
            }
            None => tempfile::Builder::new()
                .prefix("pinbridge-load-")
                .tempdir()
                .map(WorkDir::Temporary)
                .map_err(|e| Error::new(format!("create a temporary directory: {e}"))),
        }
    }

    fn path(&self) -> &Path {
        match self {
            WorkDir::Kept(p) => p,
            WorkDir::Temporary(t) => t.path(),
        }
    }
}

/// Which meeting each call joins: rooms filled one after the other.
fn assign(calls: usize, room_size: usize, meetings: &[String]) -> Vec<String> {
    (0..calls)
        .map(|i| meetings[(i / room_size.max(1)) % meetings.len()].clone())
        .collect()
}

/// Runs once. pinbridge is stopped (by PID) whatever happens.
pub fn run(config: &Config) -> Result<Record, Error> {
    let progress = Progress {
        verbose: config.verbose,
        start: Instant::now(),
    };
    if config.callers == 0 || config.room_size == 0 {
        return Err(Error::new("--callers and --room-size must be at least 1"));
    }
    if !process::exists(&config.pinbridge) {
        return Err(Error::new(format!(
            "no pinbridge binary at {} (build it: cargo build --release -p pinbridge)",
            config.pinbridge.display()
        )));
    }
    let cores = process::cores();
    if config.pin
        && (config.serve_core == config.load_core
            || config.serve_core >= cores
            || config.load_core >= cores)
    {
        return Err(Error::new(format!(
            "pinning needs two distinct cores of the {cores} here (pinbridge on {}, the load \
             on {}); run with --no-pin",
            config.serve_core, config.load_core
        )));
    }
    let (serve_core, load_core) = if config.pin {
        (Some(config.serve_core), Some(config.load_core))
    } else {
        (None, None)
    };
    if let Some(core) = load_core {
        process::pin_self(core)?;
    }
    let quiet = config
        .quiet_below
        .map(|limit| wait_quiet(config, limit, &progress));
    let load_before = process::load_average();
    let work = WorkDir::new(config.work_dir.as_deref())?;
    let data_dir = work.path().join("data");
    let cli = Cli::new(&config.pinbridge, &data_dir);

    // 1. The directory: tenant, number, organiser, meetings.
    let greeting = audio::duration_of(&config.assets.join("prompts/en-US/welcome.wav"))?;
    let speech = audio::speech_ulaw(&config.assets)?;
    let (calls, meetings_needed, peak) = match &config.setup {
        Some(s) => {
            let calls = (s.rate * s.seconds).round().max(1.0) as usize;
            // Answer, greeting, keys, join, stay: how many are up at once.
            let lifetime = greeting.as_secs_f64() + 6.0 + s.stay.as_secs_f64();
            let peak = ((s.rate * lifetime).ceil() as usize).clamp(1, calls);
            (calls, peak.div_ceil(config.room_size), peak)
        }
        None => (
            config.callers,
            config.callers.div_ceil(config.room_size),
            config.callers,
        ),
    };
    progress.say(&format!(
        "preparing {} with {meetings_needed} meetings",
        data_dir.display()
    ));
    cli.prepare_tenant()?;
    let meetings: Vec<String> = (0..meetings_needed)
        .map(|_| cli.new_meeting(!config.lobby))
        .collect::<Result<_, _>>()?;
    let plan_ids = assign(calls, config.room_size, &meetings);
    let longest_id = plan_ids.iter().map(String::len).max().unwrap_or(9);

    // 2. Ports: pinbridge's range and the generator's, below the ephemeral ports.
    let pairs = (peak + peak / 2 + 32) as u16;
    let rtp_low = free_port_block(2 * pairs)?;
    let rtp_high = rtp_low + 2 * pairs - 1;
    let generator_ports = free_port_block(2 * config.rtp_sockets as u16 + 4)?;

    // 3. pinbridge.
    let log = work.path().join("serve.log");
    let mut serve = serve::start(&ServeConfig {
        cli: &cli,
        rtp_low,
        rtp_high,
        core: serve_core,
        log: &log,
    })?;
    let outcome = measure(
        config,
        &progress,
        &cli,
        &mut serve,
        work.path(),
        Plan {
            ids: plan_ids,
            meetings: &meetings,
            speech,
            greeting,
            longest_id,
            generator_ports,
            load_core,
        },
    );
    let serve_exit = serve::stop(&mut serve);
    progress.say(&format!("pinbridge {serve_exit}"));
    let mut record = outcome?;
    let json = record.json.as_object_mut().expect("an object");
    json.insert("serve_exit".into(), json!(serve_exit));
    json.insert("load_average_before".into(), json!(load_before));
    if let Some((waited, busy)) = quiet {
        json.insert(
            "quiet_gate".into(),
            json!({ "waited_s": waited.as_secs_f64(), "core_busy_pct": busy }),
        );
    }
    json.insert("load_average_after".into(), json!(process::load_average()));
    json.insert("work_dir".into(), json!(work.path().display().to_string()));
    json.insert(
        "git_commit".into(),
        json!(git_commit(config.assets.parent().unwrap_or(Path::new(".")))),
    );
    json.insert("started_unix".into(), json!(unix_now()));
    if let WorkDir::Kept(_) = work {
        progress.say(&format!("files kept in {}", work.path().display()));
    }
    Ok(record)
}

/// Waits until pinbridge's core (every core unpinned) is quiet (below `limit` % busy
/// over 2 s),
/// up to `config.quiet_wait`; how long it waited and the last reading.
fn wait_quiet(config: &Config, limit: f64, progress: &Progress) -> (Duration, Vec<f64>) {
    let start = Instant::now();
    let cores: Vec<usize> = if config.pin {
        vec![config.serve_core]
    } else {
        (0..process::cores()).collect()
    };
    loop {
        let before = process::core_times();
        std::thread::sleep(Duration::from_secs(2));
        let busy = process::core_busy(&before, &process::core_times());
        let quiet = cores
            .iter()
            .all(|&c| busy.get(c).is_some_and(|b| *b < limit));
        if quiet || start.elapsed() >= config.quiet_wait {
            return (start.elapsed(), busy);
        }
        progress.say(&format!("waiting for quiet cores: busy {busy:.0?} %"));
    }
}

struct Plan<'a> {
    ids: Vec<String>,
    meetings: &'a [String],
    speech: Vec<u8>,
    greeting: Duration,
    longest_id: usize,
    generator_ports: u16,
    load_core: Option<usize>,
}

/// How long the native generator takes to type `keys` keys.
fn native_typing(keys: usize) -> Duration {
    native::TICK * (20 * keys as u32)
}

fn measure(
    config: &Config,
    progress: &Progress,
    cli: &Cli,
    serve: &mut Serve,
    dir: &Path,
    plan: Plan<'_>,
) -> Result<Record, Error> {
    let pid = serve.pid();
    let clk = process::clock_ticks() as f64;
    let calls = plan.ids.len();
    let keys = plan.longest_id + 1;
    let setup = config.setup.as_ref();
    // Set-up mode: the keys come once the greeting has played; load: at once (pinbridge
    // keeps keys typed during the greeting).
    let keys_after = if setup.is_some() {
        plan.greeting + Duration::from_millis(200)
    } else {
        Duration::ZERO
    };
    let rate = setup.map_or(config.ramp_rate, |s| s.rate);
    let typing = match config.generator {
        GeneratorKind::Native => native_typing(keys),
        GeneratorKind::Sipp => sipp::play_dtmf_time(keys),
    };
    // Joining after pound: one look-up in the store; in the lobby variant also "if you
    // are the organiser, press star", its 3 s wait and "please wait".
    let stay = setup.map_or(Duration::ZERO, |s| s.stay + Duration::from_secs(1));

    // Idle: pinbridge with no call, for a baseline.
    let idle_span = Duration::from_secs(2);
    let idle0 = process::cpu_ticks(pid)?;
    std::thread::sleep(idle_span);
    let idle1 = process::cpu_ticks(pid)?;
    let idle_cpu_pct =
        (idle1.total() - idle0.total()) as f64 / clk / idle_span.as_secs_f64() * 100.0;
    let mem_base = process::memory(pid)?;
    let metrics_base = serve.metrics()?;

    progress.say(&format!(
        "{} calls at {rate}/s with {}",
        calls,
        config.generator.name()
    ));
    let running = match config.generator {
        GeneratorKind::Native => {
            let shared = Arc::new(Shared::default());
            let hang_up_after = setup.map(|_| keys_after + typing + stay);
            let plans = plan
                .ids
                .iter()
                .enumerate()
                .map(|(i, id)| CallPlan {
                    conference_id: id.clone(),
                    start: Duration::from_secs_f64(i as f64 / rate),
                    keys_after,
                    hang_up_after,
                })
                .collect();
            let native_config = NativeConfig {
                target: serve.sip_udp,
                service: SERVICE_NUMBER.into(),
                plans,
                rtp_sockets: config.rtp_sockets,
                rtp_base: plan.generator_ports,
                speech: Arc::new(plan.speech.clone()),
                hang_up_rate: config.ramp_rate,
            };
            let for_thread = Arc::clone(&shared);
            let thread = std::thread::Builder::new()
                .name("pinbridge-load".into())
                .spawn(move || native::run(native_config, for_thread))
                .map_err(|e| Error::new(format!("start the generator thread: {e}")))?;
            Running::Native { thread, shared }
        }
        GeneratorKind::Sipp => {
            let scenario = if setup.is_some() {
                "setup-caller.xml"
            } else {
                "load-caller.xml"
            };
            // SIPp's SIP port: the last pair of the generator's block (the media port,
            // and the ports SIPp may bind above it, are the first).
            let sip_port = plan.generator_ports + 2 * config.rtp_sockets as u16 + 2;
            Running::Sipp(SippRun::start(&SippConfig {
                scenario: config.scenarios.join(scenario),
                target: serve.sip_udp,
                service: SERVICE_NUMBER.into(),
                conference_ids: plan.ids.clone(),
                rate,
                keys_after,
                typing,
                stay,
                speech: plan.speech.clone(),
                sip_port,
                media_port: plan.generator_ports,
                dir: dir.join("sipp"),
                core: plan.load_core,
                timeout: Duration::from_secs_f64(calls as f64 / rate * 2.0)
                    + typing
                    + stay
                    + keys_after
                    + config.warmup
                    + config.duration
                    + Duration::from_secs(300),
            })?)
        }
    };
    match setup {
        Some(s) => drive_setup(
            config,
            progress,
            serve,
            running,
            s,
            calls,
            mem_base,
            idle_cpu_pct,
        ),
        None => drive_load(
            config,
            progress,
            cli,
            serve,
            running,
            &plan,
            typing,
            mem_base,
            idle_cpu_pct,
            &metrics_base,
            dir,
        ),
    }
}

/// Counts of how calls failed, by reason.
type Failures = BTreeMap<String, usize>;

/// After the window: what the generator saw of every call, and the audio checks.
struct Outcomes {
    failures: Failures,
    /// Calls that failed as the generator saw them (each counted once).
    failed: usize,
    /// (pinbridge port, what the caller heard over the check, whether the call failed
    /// already for another reason).
    heard: Vec<(u16, Heard, bool)>,
    /// Seconds the audio was measured over.
    heard_over: f64,
    generator: Value,
}

#[allow(clippy::too_many_arguments)]
fn drive_load(
    config: &Config,
    progress: &Progress,
    cli: &Cli,
    serve: &mut Serve,
    running: Running,
    plan: &Plan<'_>,
    typing: Duration,
    mem_base: process::Memory,
    idle_cpu_pct: f64,
    metrics_base: &Metrics,
    dir: &Path,
) -> Result<Record, Error> {
    let calls = plan.ids.len();
    let ramp = Duration::from_secs_f64(calls as f64 / config.ramp_rate);
    let ready_timeout = ramp + typing + Duration::from_secs(60);
    // Every caller answered and its keys typed (or its call over).
    progress.say("waiting for every caller to type the conference ID");
    let mut running = running;
    let typed = wait_until(ready_timeout, || {
        let (keyed, ended) = match &mut running {
            Running::Native { shared, .. } => (
                shared.keyed.load(Ordering::Relaxed),
                shared.ended.load(Ordering::Relaxed),
            ),
            Running::Sipp(s) => {
                if s.sipp.proc.exited().is_some() {
                    // SIPp gave up on the scenario or ended every call: nothing to wait for.
                    return Some(s.keyed());
                }
                let stats = s.stats();
                (s.keyed(), SippRun::counter(&stats, "FailedCall") as usize)
            }
        };
        (keyed + ended >= calls).then_some(keyed)
    });
    if let Running::Sipp(s) = &mut running
        && let Some(status) = s.sipp.proc.exited()
    {
        return Err(Error::new(format!(
            "SIPp ended ({status}) before the measurement: {}",
            s.errors().lines().take(5).collect::<Vec<_>>().join(" | ")
        )));
    }
    progress.say(&format!("keys typed by {typed:?} callers"));
    // Every caller where it should be: in the lobby, or in its meeting.
    let expected: BTreeMap<&str, usize> = plan.ids.iter().fold(BTreeMap::new(), |mut m, id| {
        *m.entry(id.as_str()).or_default() += 1;
        m
    });
    // Checking each meeting costs one CLI call: all of them up to 100, else every k-th.
    let step = plan.meetings.len().div_ceil(100).max(1);
    let checked: Vec<&String> = plan.meetings.iter().step_by(step).collect();
    let want: usize = checked.iter().map(|id| expected[id.as_str()]).sum();
    let mut placed = (0usize, 0usize);
    let in_place = wait_until(Duration::from_secs(60), || {
        if config.lobby {
            let lobby = serve.metrics().ok()?.get("pinbridge_lobby_calls") as usize;
            placed = (0, lobby);
            (lobby >= calls).then_some(())
        } else {
            let mut total = (0, 0);
            for id in &checked {
                let (meeting, lobby) = cli.participants(id).ok()?;
                total.0 += meeting;
                total.1 += lobby;
            }
            placed = total;
            (total.0 >= want).then_some(())
        }
    });
    progress.say(&format!(
        "placed (meeting, lobby) = {placed:?} of {} expected{}",
        if config.lobby { calls } else { want },
        if in_place.is_none() {
            " (timed out after 60 s)"
        } else {
            ""
        }
    ));
    std::thread::sleep(config.warmup);

    // The window.
    let gauges = serve.metrics()?;
    if let Running::Native { shared, .. } = &running {
        shared.window.store(true, Ordering::Relaxed);
    }
    let a = snapshot(serve, &running)?;
    progress.say(&format!("window open for {:?}", config.duration));
    std::thread::sleep(config.duration / 2);
    let mem_mid = process::memory(serve.pid())?;
    let fds = process::open_fds(serve.pid());
    std::thread::sleep(config.duration - config.duration / 2);
    let b = snapshot(serve, &running)?;
    if let Running::Native { shared, .. } = &running {
        shared.window.store(false, Ordering::Relaxed);
    }
    let mem_end = process::memory(serve.pid())?;
    progress.say("window closed");

    // Audio of SIPp's callers (after the window, so tcpdump costs pinbridge nothing in it).
    let mut sipp_heard = Vec::new();
    if let Running::Sipp(s) = &running {
        let answered = s.answered();
        let sample = config.audio_sample.min(answered.len());
        let ports: Vec<u16> = (0..sample)
            .map(|k| answered[k * answered.len() / sample.max(1)].1)
            .collect();
        sipp_heard = sipp::capture_audio(
            &s.sipp.dir,
            s.sipp.media_port,
            &ports,
            config.audio_check,
            plan.load_core,
        )?;
    }

    // Hang up at the ramp rate and wait for every call to end.
    progress.say("hanging up");
    let hang_up_timeout = ramp + Duration::from_secs(60);
    let outcomes = match running {
        Running::Native { thread, shared } => {
            shared.hang_up.store(true, Ordering::Relaxed);
            if wait_until(hang_up_timeout, || {
                (shared.ended.load(Ordering::Relaxed) >= calls).then_some(())
            })
            .is_none()
            {
                shared.abort.store(true, Ordering::Relaxed);
            }
            let report = thread
                .join()
                .map_err(|_| Error::new("the generator thread panicked"))??;
            native_outcomes(report, &shared, config.duration.as_secs_f64())
        }
        Running::Sipp(mut s) => {
            s.hang_up(&s.answered(), config.ramp_rate)?;
            let exit = s.sipp.proc.wait_exit(hang_up_timeout);
            if exit.is_none() {
                s.sipp.proc.stop(Duration::from_secs(5));
            }
            sipp_outcomes(&s, exit, sipp_heard, config.audio_check.as_secs_f64())
        }
    };
    let end = serve.metrics()?;
    let mut record = figures(
        config,
        calls,
        &a,
        &b,
        mem_base,
        mem_mid,
        mem_end,
        idle_cpu_pct,
        outcomes,
    );
    let json = record.json.as_object_mut().expect("an object");
    let not_placed = if config.lobby {
        calls.saturating_sub(placed.1)
    } else {
        want.saturating_sub(placed.0)
    };
    json.insert(
        "placement".into(),
        json!({
            "meetings_checked": checked.len(),
            "expected": if config.lobby { calls } else { want },
            "in_meeting": placed.0,
            "in_lobby": placed.1,
            "not_placed": not_placed,
        }),
    );
    record.placement = Some((
        if config.lobby { calls } else { want } - not_placed,
        if config.lobby { calls } else { want },
    ));
    json.insert("gauges_at_window_start".into(), gauges.to_json());
    json.insert("metrics_before_calls".into(), metrics_base.to_json());
    json.insert("metrics_at_end".into(), end.to_json());
    json.insert("open_fds".into(), json!(fds));
    json.insert("typing_ms".into(), json!(typing.as_millis() as u64));
    json.insert(
        "sipp_dir".into(),
        json!(dir.join("sipp").display().to_string()),
    );
    Ok(record)
}

#[allow(clippy::too_many_arguments)]
fn drive_setup(
    config: &Config,
    progress: &Progress,
    serve: &mut Serve,
    mut running: Running,
    setup: &SetupRate,
    calls: usize,
    mem_base: process::Memory,
    idle_cpu_pct: f64,
) -> Result<Record, Error> {
    if let Running::Native { shared, .. } = &running {
        shared.window.store(true, Ordering::Relaxed);
    }
    let a = snapshot(serve, &running)?;
    let timeout = Duration::from_secs_f64(setup.seconds) + Duration::from_secs(120);
    let mut peak = 0.0f64;
    let mut mem_peak = mem_base;
    let mut generator_cpu = a.generator_cpu;
    let deadline = Instant::now() + timeout;
    // Until every call has ended: the peak of concurrent calls and memory once a second.
    loop {
        if let Ok(m) = serve.metrics() {
            peak = peak.max(m.get("pinbridge_active_calls"));
        }
        if let Ok(m) = process::memory(serve.pid())
            && m.rss_kib > mem_peak.rss_kib
        {
            mem_peak = m;
        }
        generator_cpu = generator_cpu.max(running.cpu());
        let done = match &mut running {
            Running::Native { shared, .. } => shared.ended.load(Ordering::Relaxed) >= calls,
            Running::Sipp(s) => s.sipp.proc.exited().is_some(),
        };
        if done || Instant::now() >= deadline {
            break;
        }
        progress.say(&format!("{peak} calls up at most so far"));
        std::thread::sleep(Duration::from_secs(1));
    }
    let mut b = snapshot(serve, &running)?;
    b.generator_cpu = generator_cpu.max(b.generator_cpu);
    let outcomes = match running {
        Running::Native { thread, shared } => {
            shared.window.store(false, Ordering::Relaxed);
            shared.abort.store(true, Ordering::Relaxed);
            let report = thread
                .join()
                .map_err(|_| Error::new("the generator thread panicked"))??;
            let (user, system) = report.cpu_ticks_at_end;
            b.generator_cpu = b.generator_cpu.max(CpuTicks { user, system });
            native_outcomes(report, &shared, (b.at - a.at).as_secs_f64())
        }
        Running::Sipp(mut s) => {
            let exit = s.sipp.proc.wait_exit(Duration::from_secs(10));
            if exit.is_none() {
                s.sipp.proc.stop(Duration::from_secs(5));
            }
            sipp_outcomes(&s, exit, Vec::new(), 0.0)
        }
    };
    let mem_end = process::memory(serve.pid())?;
    let mut record = figures(
        config,
        calls,
        &a,
        &b,
        mem_base,
        mem_peak,
        mem_end,
        idle_cpu_pct,
        outcomes,
    );
    let clk = process::clock_ticks() as f64;
    let cpu_s = b.cpu.total().saturating_sub(a.cpu.total()) as f64 / clk;
    let set_up = calls - record.failed_calls.min(calls);
    let per_setup_ms = if set_up > 0 {
        cpu_s * 1000.0 / set_up as f64
    } else {
        0.0
    };
    record.setups = Some((set_up, per_setup_ms));
    let json = record.json.as_object_mut().expect("an object");
    json.insert(
        "setup_rate".into(),
        json!({
            "rate_per_s": setup.rate,
            "seconds": setup.seconds,
            "stay_s": setup.stay.as_secs_f64(),
            "calls": calls,
            "set_up": set_up,
            "cpu_s": cpu_s,
            "cpu_ms_per_setup": per_setup_ms,
            "peak_active_calls": peak,
        }),
    );
    Ok(record)
}

fn native_outcomes(report: NativeReport, shared: &Shared, heard_over: f64) -> Outcomes {
    let mut failures = Failures::new();
    let mut heard = Vec::new();
    let mut answer_ms: Vec<f64> = Vec::new();
    for call in &report.calls {
        if call.outcome.is_failure() {
            *failures.entry(call.outcome.name()).or_default() += 1;
        }
        if let Some(port) = call.pinbridge_port {
            heard.push((port, call.heard, call.outcome.is_failure()));
        }
        if let Some(t) = call.answer_time {
            answer_ms.push(t.as_secs_f64() * 1000.0);
        }
    }
    answer_ms.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        answer_ms
            .get(((answer_ms.len() as f64 * p) as usize).min(answer_ms.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    let failed = report
        .calls
        .iter()
        .filter(|c| c.outcome.is_failure())
        .count();
    Outcomes {
        failed,
        failures,
        heard,
        heard_over,
        generator: json!({
            "kind": "native",
            "ticks": report.ticks,
            "late_ticks": report.late_ticks,
            "ticks_in_window": report.ticks_in_window,
            "late_ticks_in_window": report.late_ticks_in_window,
            "max_tick_lag_in_window_ms": report.max_tick_lag_in_window.as_secs_f64() * 1000.0,
            "max_tick_lag_ms": report.max_tick_lag.as_secs_f64() * 1000.0,
            "rtp_sent_in_window": shared.sent_in_window.load(Ordering::Relaxed),
            "rtp_received_in_window": shared.received_in_window.load(Ordering::Relaxed),
            "rtp_send_failures": report.rtp_send_failures,
            "rtcp_received": report.rtcp_received,
            "sip_retransmissions": report.sip_retransmissions,
            "unmatched_datagrams": report.unmatched,
            "answer_ms_p50": pct(0.5),
            "answer_ms_p95": pct(0.95),
            "answer_ms_max": answer_ms.last().copied().unwrap_or(0.0),
        }),
    }
}

fn sipp_outcomes(
    s: &SippRun,
    exit: Option<std::process::ExitStatus>,
    heard: Vec<(u16, Heard)>,
    heard_over: f64,
) -> Outcomes {
    let stats = s.stats();
    let mut failures = Failures::new();
    let created = SippRun::counter(&stats, "TotalCallCreated") as usize;
    let successful = SippRun::counter(&stats, "SuccessfulCall") as usize;
    for (key, value) in &stats {
        let n: u64 = value.parse().unwrap_or(0);
        if key.starts_with("Failed") && key.ends_with("(C)") && key != "FailedCall(C)" && n > 0 {
            *failures.entry(format!("sipp {key}")).or_default() += n as usize;
        }
    }
    let failed = s.calls.saturating_sub(successful);
    let listed: usize = failures.values().sum();
    if failed > listed {
        *failures
            .entry("sipp calls not successful".into())
            .or_default() += failed - listed;
    }
    // A sampled caller whose call SIPp did not complete failed already.
    let completed = s.completed();
    let call_of: BTreeMap<u16, String> = s.answered().into_iter().map(|(c, p)| (p, c)).collect();
    let heard = heard
        .into_iter()
        .map(|(port, h)| {
            let done = call_of.get(&port).is_some_and(|c| completed.contains(c));
            (port, h, !done)
        })
        .collect();
    let errors = s.errors();
    Outcomes {
        failed,
        failures,
        heard,
        heard_over,
        generator: json!({
            "kind": "sipp",
            "exit": exit.map(|e| e.to_string()),
            "calls_created": created,
            "successful": successful,
            "statistics": stats,
            "errors_head": errors.lines().take(20).collect::<Vec<_>>(),
        }),
    }
}

#[allow(clippy::too_many_arguments)]
fn figures(
    config: &Config,
    calls: usize,
    a: &Snapshot,
    b: &Snapshot,
    mem_base: process::Memory,
    mem_mid: process::Memory,
    mem_end: process::Memory,
    idle_cpu_pct: f64,
    outcomes: Outcomes,
) -> Record {
    let clk = process::clock_ticks() as f64;
    let window = (b.at - a.at).as_secs_f64();
    let cpu_s = b.cpu.total().saturating_sub(a.cpu.total()) as f64 / clk;
    let cpu_pct = cpu_s / window * 100.0;
    let user_pct = b.cpu.user.saturating_sub(a.cpu.user) as f64 / clk / window * 100.0;
    let system_pct = b.cpu.system.saturating_sub(a.cpu.system) as f64 / clk / window * 100.0;
    let generator_cpu_pct = b
        .generator_cpu
        .total()
        .saturating_sub(a.generator_cpu.total()) as f64
        / clk
        / window
        * 100.0;
    let d = a.metrics.delta(&b.metrics);
    // What else ran on pinbridge's core: its busy time less pinbridge's own.
    let core_busy = process::core_busy(&a.cores, &b.cores);
    let others_on_serve_core = config
        .pin
        .then(|| {
            core_busy
                .get(config.serve_core)
                .map(|busy| (busy - cpu_pct).max(0.0))
        })
        .flatten();
    let rss_window = mem_mid.rss_kib.max(mem_end.rss_kib);
    let rss_per = (rss_window as f64 - mem_base.rss_kib as f64) / calls as f64;
    let mut failed_calls = outcomes.failed;
    let mut failures = outcomes.failures.clone();
    let mut pps: Vec<f64> = Vec::new();
    let mut rms: Vec<f64> = Vec::new();
    let mut silent = 0;
    let mut samples = Vec::new();
    for (port, h, failed_already) in &outcomes.heard {
        let rate = if outcomes.heard_over > 0.0 {
            h.packets as f64 / outcomes.heard_over
        } else {
            0.0
        };
        pps.push(rate);
        rms.push(h.rms());
        // A caller hears something: at least 80 % of the packets it should get, loud
        // enough to be the room or the music.
        let ok = (config.setup.is_some() && h.packets > 0) || (rate >= 40.0 && h.heard_audio());
        if !ok && !failed_already {
            silent += 1;
        }
        if samples.len() < 50 {
            samples.push(json!({
                "pinbridge_port": port,
                "packets": h.packets,
                "packets_per_s": rate,
                "rms": h.rms(),
                "voiced_share": if h.packets > 0 { h.voiced as f64 / h.packets as f64 } else { 0.0 },
            }));
        }
    }
    if silent > 0 {
        failed_calls += silent;
        failures.insert("heard nothing".into(), silent);
    }
    let checked = outcomes.heard.len();
    let missing: u64 = outcomes.heard.iter().map(|(_, h, _)| h.missing).sum();
    // The generator's own counts against pinbridge's, over (almost) the same window:
    // they differ by up to one tick of every call (the two readings are not atomic).
    let generator_sent = outcomes.generator["rtp_sent_in_window"].as_f64();
    let generator_received = outcomes.generator["rtp_received_in_window"].as_f64();
    let pps_median = median(&mut pps);
    let rms_median = median(&mut rms);
    let m = |name: &str| d.get(name);
    // Ticks the engine ran, where pinbridge counts them (`pinbridge_media_ticks_total`,
    // since d56d1c1), else the ticks the window should hold.
    let mix_ticks = match m("pinbridge_media_ticks_total") {
        t if t > 0.0 => t,
        _ => window * 50.0,
    };
    // How much of the load reached pinbridge: a generator that falls behind (its core is
    // busy) sends less than 50 packets a second per caller, and the run measures less.
    let delivered_pct = if config.setup.is_some() {
        None
    } else {
        Some(m("pinbridge_rtp_packets_received_total") / (calls as f64 * 50.0 * window) * 100.0)
    };
    let rtp = json!({
        "late_mixes": m("pinbridge_late_mixes_total"),
        "mix_ticks_in_window": mix_ticks,
        "rtp_received": m("pinbridge_rtp_packets_received_total"),
        "rtp_sent": m("pinbridge_rtp_packets_sent_total"),
        "rtp_late": m("pinbridge_rtp_packets_late_total"),
        "rtp_lost": m("pinbridge_rtp_packets_lost_total"),
        "rtp_send_failures": m("pinbridge_rtp_send_failures_total"),
        "rtp_expected_each_way": calls as f64 * 50.0 * window,
        "load_delivered_pct": delivered_pct,
        "rtp_generator_sent_in_window": generator_sent,
        "rtp_generator_received_in_window": generator_received,
        "rtp_into_pinbridge_unaccounted": generator_sent
            .map(|sent| sent - m("pinbridge_rtp_packets_received_total")),
        "rtp_from_pinbridge_unaccounted": generator_received
            .map(|got| m("pinbridge_rtp_packets_sent_total") - got),
        "rtp_sequence_gaps_heard": missing,
        "rtp_tolerance_one_tick": calls,
    });
    let json = json!({
        "label": config.label(),
        "mode": if config.setup.is_some() { "setup-rate" } else if config.lobby { "lobby" } else { "load" },
        "generator": config.generator.name(),
        "callers": calls,
        "room_size": config.room_size,
        "lobby": config.lobby,
        "pinned": config.pin,
        "cores": { "serve": config.pin.then_some(config.serve_core), "load": config.pin.then_some(config.load_core) },
        "ramp_rate_per_s": config.ramp_rate,
        "warmup_s": config.warmup.as_secs_f64(),
        "window_s": window,
        "clock_ticks_per_s": clk,
        "cpu_ticks": {
            "user": b.cpu.user.saturating_sub(a.cpu.user),
            "system": b.cpu.system.saturating_sub(a.cpu.system),
        },
        "cpu_pct": cpu_pct,
        "cpu_user_pct": user_pct,
        "cpu_system_pct": system_pct,
        "cpu_per_participant_pct": cpu_pct / calls as f64,
        "idle_cpu_pct": idle_cpu_pct,
        "rss_base_kib": mem_base.rss_kib,
        "rss_window_kib": rss_window,
        "rss_end_kib": mem_end.rss_kib,
        "hwm_kib": mem_end.hwm_kib,
        "rss_per_participant_kib": rss_per,
        "threads": mem_end.threads,
        "metrics_window_delta": d.to_json(),
        "rtp": rtp,
        "failed_calls": failed_calls,
        "failures": failures,
        "audio": {
            "checked": checked,
            "ok": checked - silent,
            "measured_over_s": outcomes.heard_over,
            "packets_per_s_median": pps_median,
            "rms_median": rms_median,
            "samples": samples,
        },
        "generator_cpu_pct": generator_cpu_pct,
        "core_busy_pct": core_busy,
        "others_on_serve_core_pct": others_on_serve_core,
        "generator_report": outcomes.generator,
    });
    Record {
        label: config.label(),
        callers: calls,
        cpu_pct,
        cpu_per_participant_pct: cpu_pct / calls as f64,
        rss_base_kib: mem_base.rss_kib,
        rss_window_kib: rss_window,
        rss_per_participant_kib: rss_per,
        late_mixes: m("pinbridge_late_mixes_total"),
        mix_ticks,
        rtp_lost: m("pinbridge_rtp_packets_lost_total"),
        rtp_late: m("pinbridge_rtp_packets_late_total"),
        send_failures: m("pinbridge_rtp_send_failures_total"),
        failed_calls,
        audio_checked: checked,
        audio_ok: checked - silent,
        audio_pps_median: pps_median,
        audio_rms_median: rms_median,
        placement: None,
        setups: None,
        generator_cpu_pct,
        others_on_serve_core_pct: others_on_serve_core,
        load_delivered_pct: delivered_pct,
        json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_fill_one_after_the_other() {
        let m = vec!["1111111".to_owned(), "2222222".to_owned()];
        let a = assign(7, 3, &m);
        assert_eq!(a[0], "1111111");
        assert_eq!(a[2], "1111111");
        assert_eq!(a[3], "2222222");
        // More callers than rooms hold: the rooms are used again.
        assert_eq!(a[6], "1111111");
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }
}
