//! The human summary (one line per run, then median and spread per configuration) and
//! the JSON records (one line per run, appended).

use std::io::Write;
use std::path::Path;

use crate::Error;
use crate::run::Record;

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// One line for one run.
pub fn line(r: &Record) -> String {
    let mut out = format!("{}: cpu {:.2}%", r.label, r.cpu_pct);
    match r.setups {
        Some((set_up, per_setup_ms)) => out.push_str(&format!(
            " over the run, {set_up} set up, {per_setup_ms:.2} ms CPU per set-up"
        )),
        None => out.push_str(&format!(
            " ({:.4}%/participant), rss {:.1} -> {:.1} MiB ({:+.1} KiB/participant)",
            r.cpu_per_participant_pct,
            mib(r.rss_base_kib),
            mib(r.rss_window_kib),
            r.rss_per_participant_kib
        )),
    }
    out.push_str(&format!(
        ", late mixes {}/{:.0}, rtp lost {} late {} send failures {}, failed calls {}/{}",
        r.late_mixes,
        r.mix_ticks,
        r.rtp_lost,
        r.rtp_late,
        r.send_failures,
        r.failed_calls,
        r.callers
    ));
    if let Some((placed, checked)) = r.placement {
        out.push_str(&format!(", in place {placed}/{checked}"));
    }
    if r.setups.is_none() {
        out.push_str(&format!(
            ", audio {}/{} ok ({:.1} pkt/s, rms {:.0})",
            r.audio_ok, r.audio_checked, r.audio_pps_median, r.audio_rms_median
        ));
    }
    out.push_str(&format!(", generator cpu {:.1}%", r.generator_cpu_pct));
    if let Some(delivered) = r.load_delivered_pct {
        out.push_str(&format!(", load delivered {delivered:.1}%"));
        if delivered < 98.0 {
            out.push_str(" (SHORT: the generator fell behind; figures are lower bounds)");
        }
    }
    if let Some(others) = r.others_on_serve_core_pct {
        out.push_str(&format!(", others on pinbridge's core {others:.1}%"));
        if others > 5.0 {
            out.push_str(" (BUSY: figures are upper bounds)");
        }
    }
    out
}

/// Median and spread (min–max) over the runs of each configuration.
pub fn summary(records: &[Record]) -> Vec<String> {
    let mut labels: Vec<&str> = Vec::new();
    for r in records {
        if !labels.contains(&r.label.as_str()) {
            labels.push(&r.label);
        }
    }
    labels
        .into_iter()
        .map(|label| {
            let runs: Vec<&Record> = records.iter().filter(|r| r.label == label).collect();
            let stat = |f: &dyn Fn(&Record) -> f64| {
                let mut v: Vec<f64> = runs.iter().map(|r| f(r)).collect();
                v.sort_by(f64::total_cmp);
                let n = v.len();
                let median = if n % 2 == 1 {
                    v[n / 2]
                } else {
                    (v[n / 2 - 1] + v[n / 2]) / 2.0
                };
                (median, v[0], v[n - 1])
            };
            let failed: usize = runs.iter().map(|r| r.failed_calls).sum();
            let cpu = stat(&|r| r.cpu_pct);
            match runs[0].setups {
                Some(_) => {
                    let per = stat(&|r| r.setups.map_or(0.0, |s| s.1));
                    format!(
                        "{label} x{}: cpu per set-up median {:.2} ms (min {:.2}, max {:.2}); \
                         cpu {:.2}% ({:.2}-{:.2}); failed calls {failed} in all",
                        runs.len(),
                        per.0,
                        per.1,
                        per.2,
                        cpu.0,
                        cpu.1,
                        cpu.2
                    )
                }
                None => {
                    let per = stat(&|r| r.cpu_per_participant_pct);
                    let mem = stat(&|r| r.rss_per_participant_kib);
                    let base = stat(&|r| mib(r.rss_base_kib));
                    format!(
                        "{label} x{}: cpu/participant median {:.4}% (min {:.4}, max {:.4}); \
                         cpu {:.2}% ({:.2}-{:.2}); memory {:.1} MiB + {:.1} KiB/participant \
                         ({:.1}-{:.1}); failed calls {failed} in all",
                        runs.len(),
                        per.0,
                        per.1,
                        per.2,
                        cpu.0,
                        cpu.1,
                        cpu.2,
                        base.0,
                        mem.0,
                        mem.1,
                        mem.2
                    )
                }
            }
        })
        .collect()
}

/// Appends one record's JSON as one line to `path` (the harness's and the floor tool's).
pub fn append_json(path: &Path, json: &serde_json::Value) -> Result<(), Error> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::new(format!("open {}: {e}", path.display())))?;
    writeln!(file, "{json}").map_err(|e| Error::new(format!("write {}: {e}", path.display())))
}
