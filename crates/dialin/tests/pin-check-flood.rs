//! A flood of PIN attempts costs bounded memory: 200 organiser-PIN checks arriving at
//! once (each a real Argon2id verification of 19 MiB) run at most
//! `PinChecks::RUNNING` at a time, `PinChecks::WAITING` more wait, and the rest are
//! refused at once. The process's peak resident memory grows by less than
//! [`BOUND_MIB`]; unbounded, the same flood takes 200 × 19 MiB.

use std::sync::Arc;

use pinbridge_dialin::control::PinChecks;
use pinbridge_domain::{Pin, SecretHasher, VerifyMemory};
use rand_core::OsRng;
use std::sync::{Condvar, Mutex};
use tokio::sync::mpsc;

const ATTEMPTS: usize = 200;

/// The stated bound on what the flood adds to the peak RSS: the running checks' Argon2
/// memory (4 × 19 MiB) and room for the allocator and the runtime's threads.
const BOUND_MIB: u64 = 128;

/// The process's peak resident set size so far (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmHWM line")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_simultaneous_pin_checks_stay_within_the_memory_bound() {
    let hasher = SecretHasher::new([7; 32]);
    let pin = Pin::from_entered("24680").expect("a PIN");
    let hash = hasher.hash_pin(&pin, &mut OsRng).expect("hashed");
    let before = peak_rss_kib();

    let checks = Arc::new(PinChecks::new().expect("checking threads"));
    // Running checks wait here until every attempt has been admitted or refused, so how
    // many of each there are does not depend on how fast Argon2 runs.
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let (done, mut results) = mpsc::channel(ATTEMPTS);
    for i in 0..ATTEMPTS {
        let (checks, gate, done) = (Arc::clone(&checks), Arc::clone(&gate), done.clone());
        let (hasher, hash) = (hasher.clone(), hash.clone());
        let entered = Pin::from_entered(if i % 2 == 0 { "24680" } else { "13579" }).unwrap();
        tokio::spawn(async move {
            let result = checks
                .run(move |memory: &mut VerifyMemory| {
                    let (open, opened) = &*gate;
                    let mut open = open.lock().unwrap();
                    while !*open {
                        open = opened.wait(open).unwrap();
                    }
                    drop(open);
                    hasher.verify_pin_in(&entered, &hash, memory)
                })
                .await;
            let _ = done.send(result).await;
        });
    }
    drop(done);
    let admitted = PinChecks::RUNNING + PinChecks::WAITING;
    let mut refused = 0;
    while refused < ATTEMPTS - admitted {
        match results.recv().await {
            Some(None) => refused += 1,
            Some(Some(_)) => panic!("a check ran before the gate opened"),
            None => panic!("the attempts ended with {refused} refused"),
        }
    }
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    let mut correct = 0;
    let mut wrong = 0;
    while let Some(result) = results.recv().await {
        match result {
            Some(true) => correct += 1,
            Some(false) => wrong += 1,
            None => refused += 1,
        }
    }
    assert_eq!(refused, ATTEMPTS - admitted, "refused beyond the queue");
    assert_eq!(correct + wrong, admitted, "every admitted check answered");
    assert!(correct > 0 && wrong > 0, "{correct} right, {wrong} wrong");

    let grown_mib = peak_rss_kib().saturating_sub(before) / 1024;
    println!("peak RSS grew by {grown_mib} MiB for {ATTEMPTS} attempts ({admitted} checked)");
    assert!(
        grown_mib < BOUND_MIB,
        "the flood added {grown_mib} MiB to the peak RSS (bound {BOUND_MIB} MiB)"
    );
}
