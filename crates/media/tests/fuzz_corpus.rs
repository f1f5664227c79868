//! Replays every seed of the fuzz corpora through the fuzz entry points, so plain
//! `cargo test` on the stable toolchain exercises them.

use std::fs;
use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{} panicked", path.display());
        count += 1;
    }
    assert!(count > 0, "empty corpus for {target}");
}

#[test]
fn rtp_corpus() {
    replay("rtp", pinbridge_media::fuzz::rtp);
}

#[test]
fn rtcp_corpus() {
    replay("rtcp", pinbridge_media::fuzz::rtcp);
}

#[test]
fn rfc4733_corpus() {
    replay("rfc4733", pinbridge_media::fuzz::rfc4733);
}
