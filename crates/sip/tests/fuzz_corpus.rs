//! Replays the committed fuzz corpora through the fuzz entry points, so plain
//! `cargo test` exercises them on the stable toolchain.

use std::fs;
use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, fs::read(&path).expect("read"))
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 12,
        "corpus {target} has {} seeds",
        files.len()
    );
    files
}

#[test]
fn sip_message_corpus() {
    for (name, data) in corpus("sip_message") {
        println!("{name}");
        pinbridge_sip::fuzz::parse_message(&data);
    }
}

#[test]
fn realistic_sip_seeds_parse() {
    for (name, data) in corpus("sip_message") {
        let parsed = pinbridge_sip::Message::parse(&data);
        assert!(parsed.is_ok(), "{name}: {parsed:?}");
    }
}

#[test]
fn stream_framer_corpus() {
    for (name, data) in corpus("stream_framer") {
        println!("{name}");
        pinbridge_sip::fuzz::frame_stream(&data);
    }
}

#[test]
fn sdp_corpus() {
    for (name, data) in corpus("sdp") {
        println!("{name}");
        pinbridge_sip::fuzz::parse_sdp(&data);
        if name != "truncated.sdp" {
            let parsed = pinbridge_sip::SessionDescription::parse(&data);
            assert!(parsed.is_ok(), "{name}: {parsed:?}");
        }
    }
}
