//! `pinbridge-floor` in CI: 20 calls for a few seconds, unpinned, once reading every
//! tick and once every 5th. Packets must flow both ways and the JSON record must hold
//! the figures; no timing assertions (figures belong in BENCHMARKS.md).

use std::process::Command;

fn floor(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pinbridge-floor"))
        .args(args)
        .output()
        .expect("pinbridge-floor runs")
}

fn smoke(unheard_read_ticks: &str) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("floor.json");
    let json_arg = json.to_str().unwrap();
    let output = floor(&[
        "--calls",
        "20",
        "--warmup",
        "1",
        "--duration",
        "4",
        "--unheard-read-ticks",
        unheard_read_ticks,
        "--no-pin",
        "--quiet",
        "--json",
        json_arg,
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}{stderr}");
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.starts_with("floor N=20"), "{stdout}");

    let text = std::fs::read_to_string(&json).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let record: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(record["calls"], 20);
    assert_eq!(
        record["unheard_read_ticks"],
        unheard_read_ticks.parse::<u64>().unwrap()
    );
    for side in ["bridge", "load"] {
        let pct = record[side]["received_pct"].as_f64().unwrap();
        assert!(pct >= 98.0, "{side} received {pct}%: {record:#}");
    }
    let expected = record["expected_packets"].as_f64().unwrap();
    assert!(expected > 0.0, "{record:#}");
    assert!(
        record["bridge"]["sent"].as_u64().unwrap() as f64 >= 0.98 * expected,
        "{record:#}"
    );
    assert!(record["cpu_pct"].as_f64().is_some(), "{record:#}");
    assert!(record["bridge_cpu_ticks"]["user"].as_u64().is_some());
    assert_eq!(record["bridge_core"], serde_json::Value::Null);
}

#[test]
fn packets_flow_both_ways_reading_every_tick() {
    smoke("1");
}

#[test]
fn packets_flow_both_ways_reading_every_fifth_tick() {
    smoke("5");
}

#[test]
fn bad_arguments_are_refused_with_a_reason() {
    for args in [
        &["--calls", "0"][..],
        &["--duration", "-1"],
        &["--unheard-read-ticks", "0"],
        &["--bridge-core", "4096", "--duration", "1"],
    ] {
        let output = floor(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
    }
}
