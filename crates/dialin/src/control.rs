//! The control task: what the media engine asks of the store, done asynchronously.
//!
//! Conference look-ups and PIN checks run as tasks of their own and answer the engine
//! through its command queue. A PIN check is Argon2 (19 MiB and tens of milliseconds
//! each): at most [`PinChecks::RUNNING`] run at once, on threads of their own, at most
//! [`PinChecks::WAITING`] more wait their turn, and any beyond are refused at once
//! ([`PinCheck::Busy`]: the caller hears goodbye), so a flood of PIN attempts costs a
//! bounded amount of memory and CPU whatever its size. Live-state writes run one after
//! the other in a writer task, so the store sees them in order. The task also re-reads
//! the tenant settings and service numbers every few seconds and hands the engine's
//! core a fresh [`Directory`] when they change.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use pinbridge_app::security::PinCaller;
use pinbridge_app::{App, PinChecker};
use pinbridge_bridge::{
    Command, ControlRequest, Directory, LiveUpdate, MeetingRecord, Origin, PinCheck,
};
use pinbridge_domain::{ConferenceId, Pin, User, VerifyMemory};
use pinbridge_store::meetings::LiveParticipant;
use tokio::sync::mpsc::{Receiver, channel};

use crate::engine::EngineCommand;
use crate::metrics::{self, METRICS};

/// How often the cached tenant settings and numbers are re-read.
const REFRESH: Duration = Duration::from_secs(5);

/// How many requests may wait for the control task.
pub const CONTROL_QUEUE: usize = 4096;

/// How many live-state writes may wait for the store; beyond it the oldest state is
/// already stale and the newest is dropped (counted).
const LIVE_QUEUE: usize = 4096;

/// The bound on PIN checks; see the module documentation. The checks run on
/// [`Self::RUNNING`] threads of their own, each verifying in the one Argon2 memory it
/// keeps: freed and allocated afresh for every check, 19 MiB blocks are kept by the C
/// allocator, and the process's memory would grow with every check.
pub struct PinChecks {
    jobs: std::sync::mpsc::SyncSender<Job>,
    admitted: Arc<AtomicUsize>,
}

type Job = Box<dyn FnOnce(&mut VerifyMemory) + Send>;

impl PinChecks {
    /// Argon2 verifications at once.
    pub const RUNNING: usize = 4;
    /// Checks that may wait for one of those.
    pub const WAITING: usize = 64;

    /// Starts the checking threads.
    pub fn new() -> std::io::Result<Self> {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(Self::RUNNING + Self::WAITING);
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for i in 0..Self::RUNNING {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("pinbridge-pin-{i}"))
                .spawn(move || {
                    // Each thread keeps its Argon2 memory: 19 MiB per thread, for good.
                    let mut memory = VerifyMemory::default();
                    loop {
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&mut memory),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Self {
            jobs,
            admitted: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Runs `check` on a checking thread when one is free; `None` without running it when
    /// [`Self::RUNNING`] + [`Self::WAITING`] checks are already admitted.
    pub async fn run<F, T>(&self, check: F) -> Option<T>
    where
        F: FnOnce(&mut VerifyMemory) -> T + Send + 'static,
        T: Send + 'static,
    {
        let admitted = self.admitted.fetch_add(1, Ordering::AcqRel);
        if admitted >= Self::RUNNING + Self::WAITING {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        if admitted >= Self::RUNNING {
            metrics::add(&METRICS.pin_checks_queued, 1);
        }
        let (answer, answered) = tokio::sync::oneshot::channel();
        let done = Arc::clone(&self.admitted);
        let job: Job = Box::new(move |memory| {
            let result = check(memory);
            // Counted out before the answer, so a caller who sees it may be admitted.
            done.fetch_sub(1, Ordering::AcqRel);
            let _ = answer.send(result);
        });
        if self.jobs.try_send(job).is_err() {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        answered.await.ok()
    }
}

/// Reads the directory once.
pub async fn load_directory(app: &App) -> Result<Directory, pinbridge_app::AppError> {
    Ok(Directory {
        settings: app.tenant_settings().await?,
        numbers: app.numbers().await?,
    })
}

/// Runs the control task until the engine drops its sender.
pub async fn run(
    app: App,
    mut requests: Receiver<ControlRequest>,
    engine: SyncSender<EngineCommand>,
    mut directory: Directory,
) {
    let (live_tx, live_rx) = channel(LIVE_QUEUE);
    let pin_checks = match PinChecks::new() {
        Ok(checks) => Arc::new(checks),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the PIN-checking threads; no call can start a meeting by PIN");
            return;
        }
    };
    let checker = app.pin_checker();
    let writer = tokio::spawn(write_live(app.clone(), live_rx));
    let mut refresh = tokio::time::interval(REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some(request) = request else { break };
                match request {
                    ControlRequest::Lookup(call, id) => {
                        let app = app.clone();
                        let engine = engine.clone();
                        tokio::spawn(async move {
                            let record = lookup(&app, &id).await;
                            answer(&engine, Command::LookedUp(call, record.map(Box::new)));
                        });
                    }
                    ControlRequest::VerifyPin { call, organiser, digits, origin } => {
                        let app = app.clone();
                        let engine = engine.clone();
                        let pin_checks = Arc::clone(&pin_checks);
                        let checker = checker.clone();
                        tokio::spawn(async move {
                            let check = verify_pin(&app, &pin_checks, checker, *organiser, digits, &origin).await;
                            answer(&engine, Command::PinChecked(call, check));
                        });
                    }
                    ControlRequest::Live(update) => {
                        if live_tx.try_send(update).is_err() {
                            metrics::add(&METRICS.control_queue_full, 1);
                        }
                    }
                }
            }
            _ = refresh.tick() => {
                match load_directory(&app).await {
                    Ok(fresh) if fresh != directory => {
                        directory = fresh.clone();
                        answer(&engine, Command::Directory(Box::new(fresh)));
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot refresh tenant settings and numbers"),
                }
            }
        }
    }
    drop(live_tx);
    let _ = writer.await;
}

/// Checks an organiser PIN entered by phone, with the PIN-guessing defence around the
/// check: nothing is checked while PIN entry is locked for the organiser or the caller
/// (the refusal is a security event), a wrong PIN is counted against both (and may lock
/// them), a correct one clears their failures. A store that cannot answer refuses the
/// check as busy: without the throttle no PIN is checked.
async fn verify_pin(
    app: &App,
    pin_checks: &PinChecks,
    checker: PinChecker,
    organiser: User,
    digits: Pin,
    origin: &Origin,
) -> PinCheck {
    let caller = PinCaller {
        number: origin.number.as_deref(),
        source: origin.address,
    };
    match app.phone_pin_locked(&organiser.upn, &caller).await {
        Ok(false) => {}
        Ok(true) => {
            metrics::add(&METRICS.pin_entries_refused_locked, 1);
            return PinCheck::Locked;
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read the phone PIN throttle; the caller is told goodbye");
            return PinCheck::Busy;
        }
    }
    let upn = organiser.upn.clone();
    let user = organiser.clone();
    let checked = pin_checks
        .run(move |memory| checker.check(&user, digits.reveal(), memory))
        .await;
    let Some(correct) = checked else {
        tracing::warn!(organiser = %upn, "too many PIN checks waiting; the caller is told goodbye");
        return PinCheck::Busy;
    };
    if correct {
        if let Err(e) = app.record_phone_pin_success(&upn, &caller).await {
            tracing::warn!(error = %e, "cannot clear the phone PIN throttle");
        }
        return PinCheck::Correct;
    }
    match app.record_phone_pin_failure(&organiser, &caller).await {
        Ok(0) => PinCheck::Wrong,
        Ok(locked) => {
            // The core counts the wrong PINs it is told of; this one it is told of as a lock.
            metrics::add(&METRICS.pin_failures, 1);
            metrics::add(&METRICS.pin_locks, locked as u64);
            PinCheck::Locked
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot count a wrong phone PIN");
            PinCheck::Wrong
        }
    }
}

/// Hands the engine an answer. The engine's queue is bounded; a full queue means it is
/// far behind, and the answer is dropped (counted): the caller flow's own reply timeout
/// ends the call politely.
fn answer(engine: &SyncSender<EngineCommand>, command: Command) {
    if let Err(std::sync::mpsc::TrySendError::Full(_)) =
        engine.try_send(EngineCommand::Core(command))
    {
        metrics::add(&METRICS.engine_queue_full, 1);
    }
}

/// The meeting a conference ID leads to: a meeting's own ID, or a user's own ID (a
/// meeting that user organises). Its organiser must be enabled for audio conferencing.
async fn lookup(app: &App, id: &ConferenceId) -> Option<MeetingRecord> {
    match app.dial_in_meeting(id).await {
        Ok(found) => found.map(|m| MeetingRecord {
            options: m.options,
            organiser: m.organiser,
        }),
        Err(e) => {
            tracing::error!(error = %e, "conference look-up failed");
            None
        }
    }
}

/// Writes live state in the order it happened.
async fn write_live(app: App, mut updates: Receiver<LiveUpdate>) {
    while let Some(update) = updates.recv().await {
        let result = match &update {
            LiveUpdate::Meeting {
                conference_id,
                started_at_ms,
            } => app.set_live_meeting(conference_id, *started_at_ms).await,
            LiveUpdate::MeetingClosed { conference_id } => {
                app.close_live_meeting(conference_id).await
            }
            LiveUpdate::Participant {
                conference_id,
                participant,
                is_organiser,
                kind,
                placement,
                calling_number,
                joined_at_ms,
            } => {
                let row = LiveParticipant {
                    participant: *participant as i64,
                    kind: kind.as_str().to_owned(),
                    is_organizer: *is_organiser,
                    placement: placement.as_str().to_owned(),
                    calling_number: calling_number.clone(),
                    joined_at_ms: *joined_at_ms,
                };
                app.set_live_participant(conference_id, &row).await
            }
            LiveUpdate::ParticipantLeft {
                conference_id,
                participant,
            } => {
                app.remove_live_participant(conference_id, *participant as i64)
                    .await
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot write live meeting state");
        }
    }
}
