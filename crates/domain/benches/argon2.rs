//! Argon2id hash and verify time at pinbridge's parameters (19 MiB, 2 passes, 1 lane).
//! Run: `cargo bench -p pinbridge-domain --bench argon2`.

use std::time::{Duration, Instant};

use pinbridge_domain::pin::{ARGON2_MEMORY_KIB, ARGON2_PASSES};
use pinbridge_domain::{Pin, PinLength, SecretHasher};
use rand_core::OsRng;

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p95 = samples[(samples.len() * 95).div_ceil(100) - 1];
    format!(
        "median {:.1} ms, p95 {:.1} ms, min {:.1} ms, max {:.1} ms (n = {})",
        ms(samples[samples.len() / 2]),
        ms(p95),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
        samples.len()
    )
}

fn main() {
    const RUNS: usize = 40;
    let hasher = SecretHasher::new([42; 32]);
    let pin = Pin::generate(PinLength::default(), &mut OsRng);
    // Warm up the allocator and caches.
    let hash = hasher.hash_pin(&pin, &mut OsRng).expect("hash");
    let hashes: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(hasher.hash_pin(&pin, &mut OsRng).expect("hash"));
            start.elapsed()
        })
        .collect();
    let verifies: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            assert!(std::hint::black_box(hasher.verify_pin(&pin, &hash)));
            start.elapsed()
        })
        .collect();
    println!("argon2id m={ARGON2_MEMORY_KIB} KiB t={ARGON2_PASSES} p=1, one thread");
    println!("hash:   {}", summary(hashes));
    println!("verify: {}", summary(verifies));
}
