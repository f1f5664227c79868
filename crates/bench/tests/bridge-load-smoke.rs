//! The load harness in CI: 20 callers in rooms of 5 for 10 s, once with SIPp and once
//! with the native generator, against the `pinbridge` binary of this build. A run fails
//! if any call fails (no answer, hung up early, not in its meeting) or if any caller
//! checked hears nothing. No core pinning (a CI machine may have one core); no timing
//! assertions (figures belong in BENCHMARKS.md).

use std::path::{Path, PathBuf};
use std::time::Duration;

use pinbridge_bench::{Config, GeneratorKind, Record, report};

/// The `pinbridge` binary: `PINBRIDGE_BIN`, else the one next to this test's build
/// (`cargo test --workspace` builds it, for the root package's own tests).
fn pinbridge() -> PathBuf {
    if let Some(path) = std::env::var_os("PINBRIDGE_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("the test's path");
    // target/<profile>/deps/<this test> → target/<profile>/pinbridge
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|profile| profile.join("pinbridge"))
        .expect("a target directory");
    assert!(
        bin.is_file(),
        "no pinbridge binary at {}: `cargo test --workspace` builds it; for this crate \
         alone run `cargo build -p pinbridge` first, or set PINBRIDGE_BIN",
        bin.display()
    );
    bin
}

fn smoke(generator: GeneratorKind) -> Record {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut config = Config::new(&pinbridge(), &repo);
    config.generator = generator;
    config.callers = 20;
    config.room_size = 5;
    config.duration = Duration::from_secs(10);
    config.warmup = Duration::from_secs(2);
    config.ramp_rate = 20.0;
    config.pin = false;
    config.audio_sample = 20;
    let record = pinbridge_bench::run(&config)
        .unwrap_or_else(|e| panic!("{}: the run failed: {e}", config.label()));
    println!("{}", report::line(&record));
    assert_eq!(
        record.failed_calls, 0,
        "{}: calls failed: {:#}",
        record.label, record.json
    );
    assert!(
        record.audio_checked > 0 && record.audio_ok == record.audio_checked,
        "{}: callers heard nothing: {:#}",
        record.label,
        record.json["audio"]
    );
    assert_eq!(
        record.json["placement"]["not_placed"], 0,
        "{:#}",
        record.json
    );
    record
}

#[test]
fn sipp_callers_in_rooms_of_five_hear_each_other() {
    let record = smoke(GeneratorKind::Sipp);
    assert_eq!(record.json["generator_report"]["successful"], 20);
}

#[test]
fn native_callers_in_rooms_of_five_hear_each_other() {
    let record = smoke(GeneratorKind::Native);
    // Every caller was checked, not a sample.
    assert_eq!(record.audio_checked, 20);
}
