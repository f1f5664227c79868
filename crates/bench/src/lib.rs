//! The dial-in bridge's load harness, `pinbridge-load`.
//!
//! One run ([`run::run`]) prepares a fresh data directory with the `pinbridge` CLI
//! (tenant, service number, organiser, meetings), starts `pinbridge serve` pinned to one
//! core, drives callers through the real caller flow from the other core (SIPp with the
//! committed scenarios of `sipp/`, or the [`native`] generator), measures pinbridge over
//! a steady-state window (CPU from `/proc/PID/stat`, memory from `/proc/PID/status`,
//! counters from `/metrics`), checks that the callers hear audio, hangs up, stops
//! `serve` by its PID and returns a [`run::Record`] with every raw figure.
//!
//! BENCHMARKS.md ("Bridge load harness") has the method and the commands.
//!
//! The same crate has `pinbridge-floor` ([`floor`]): the media engine's socket work
//! alone, without pinbridge, to measure the I/O floor beneath its per-caller CPU.

pub mod audio;
pub mod directory;
pub mod floor;
pub mod native;
pub mod process;
pub mod report;
pub mod run;
pub mod serve;
pub mod sipp;

pub use run::{Config, GeneratorKind, Record, SetupRate, run};

/// Why a run could not be made or measured: one sentence.
pub use pinbridge_testkit::Error;
