//! pinbridge as the phones meet it: `serve` answering SIP on loopback with its own RTP
//! port range, a tenant with Alice enabled (name recording off to keep calls short), a
//! meeting, and `meeting show --json` read back into the report the CLI serialises
//! ([`MeetingReport`]: an unknown or a missing key is an error).

use std::time::Duration;

use pinbridge_app::report::{MeetingReport, NewMeetingReport};
use pinbridge_domain::meeting::Placement;

use super::super::directory::{ALICE, TOLL};
use super::super::{Serve, TestStore};
use super::{Capture, free_port_block, wait_for};

/// How many RTP ports a test gives pinbridge.
pub const RTP_PORTS: u16 = 64;

pub struct Bridge {
    pub store: TestStore,
    pub serve: Serve,
    /// pinbridge's SIP UDP address, `127.0.0.1:PORT`.
    pub sip_udp: String,
    pub sip_tcp: String,
    pub rtp_low: u16,
    pub rtp_high: u16,
    /// Alice's organiser PIN.
    pub pin: String,
    /// The number callers dial.
    pub number: &'static str,
    /// The flags `serve` runs with, for [`Bridge::restart`].
    flags: Vec<String>,
}

/// A store with Alice enabled and name recording off, and `serve` on it with `extra`
/// flags (e.g. `--trunk-allow`; loopback is allowed unless a test says otherwise).
pub fn start(extra: &[&str]) -> Bridge {
    start_with_rtp_ports(extra, RTP_PORTS)
}

/// [`start`] with `rtp_ports` RTP ports (an even number: `rtp_ports / 2` calls at once).
pub fn start_with_rtp_ports(extra: &[&str], rtp_ports: u16) -> Bridge {
    start_with(extra, rtp_ports, None)
}

/// [`start_with_rtp_ports`], with `serve`'s log (standard error) written to `log`.
pub fn start_with(extra: &[&str], rtp_ports: u16, log: Option<&std::path::Path>) -> Bridge {
    let store = super::super::sqlite();
    store.with_alice();
    let pin = store.enable(ALICE);
    store.ok(&["tenant", "set", "--enable-name-recording", "false"]);
    let rtp_low = free_port_block(rtp_ports);
    let rtp_high = rtp_low + rtp_ports - 1;
    let range = format!("{rtp_low}-{rtp_high}");
    let mut args = vec![
        "--sip-udp",
        "127.0.0.1:0",
        "--sip-tcp",
        "127.0.0.1:0",
        "--rtp-ports",
        &range,
        "--rtp-timeout",
        "120",
    ];
    if !extra.contains(&"--trunk-allow") {
        args.extend(["--trunk-allow", "127.0.0.1/32"]);
    }
    args.extend_from_slice(extra);
    let flags: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let serve = store.serve_logged(&args, log);
    let sip_udp = serve.sip_udp.to_string();
    let sip_tcp = serve.sip_tcp.to_string();
    Bridge {
        store,
        serve,
        sip_udp,
        sip_tcp,
        rtp_low,
        rtp_high,
        pin,
        number: TOLL,
        flags,
    }
}

impl Bridge {
    /// Stops `serve` (SIGTERM, waiting for it to exit) and starts it again on the same
    /// store with the same flags; its log goes to `log` (a new file). The SIP addresses
    /// change.
    pub fn restart(&mut self, log: Option<&std::path::Path>) {
        let flags: Vec<&str> = self.flags.iter().map(String::as_str).collect();
        let status = self.serve.restart(self.store.command(), &flags, log);
        assert!(status.success(), "serve did not stop cleanly: {status}");
        self.sip_udp = self.serve.sip_udp.to_string();
        self.sip_tcp = self.serve.sip_tcp.to_string();
    }

    /// A new meeting organised by Alice with `options` (e.g.
    /// `["--allow-anonymous-start", "true"]`); its conference ID.
    pub fn meeting(&self, options: &[&str]) -> String {
        let mut args = vec!["--json", "meeting", "new", "--organizer", ALICE];
        args.extend_from_slice(options);
        let out = self.store.ok(&args);
        let report: NewMeetingReport = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("meeting new --json is not a meeting report ({e}): {out}"));
        report.conference_id
    }

    /// `meeting show --json`, read into the report the CLI serialises.
    pub fn state(&self, conference_id: &str) -> MeetingReport {
        read_report(&self.store.ok(&["--json", "meeting", "show", conference_id]))
    }

    /// Waits until the meeting's state satisfies `check`.
    pub fn wait_state(
        &self,
        conference_id: &str,
        what: &str,
        check: impl Fn(&MeetingReport) -> bool,
    ) -> MeetingReport {
        let mut last = None;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let state = self.state(conference_id);
            if check(&state) {
                return state;
            }
            if std::time::Instant::now() >= deadline {
                panic!("meeting {conference_id}: {what} never happened; last state {last:?}");
            }
            last = Some(state);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// tcpdump of every datagram to or from pinbridge's RTP ports.
    pub fn capture(&self, dir: &std::path::Path) -> Capture {
        Capture::start(
            dir,
            &format!("udp portrange {}-{}", self.rtp_low, self.rtp_high),
        )
    }

    /// Waits until `what` holds of what `capture` has seen so far.
    pub fn wait_capture<T>(
        capture: &Capture,
        what: &str,
        check: impl Fn(&[super::Datagram]) -> Option<T>,
    ) -> T {
        wait_for(what, Duration::from_secs(60), || {
            check(&capture.datagrams())
        })
    }
}

/// `meeting show --json` read into [`MeetingReport`]; panics with the output when it
/// is not one.
pub fn read_report(out: &str) -> MeetingReport {
    serde_json::from_str(out)
        .unwrap_or_else(|e| panic!("meeting show --json is not a meeting report ({e}): {out}"))
}

/// Who is where in a meeting, as the dial-in tests count it.
pub trait Attendance {
    /// Participants waiting in the lobby.
    fn in_lobby(&self) -> usize;
    /// Participants in the meeting itself.
    fn in_meeting(&self) -> usize;
    /// Organisers in the meeting itself.
    fn organisers_in_meeting(&self) -> usize;
}

impl Attendance for MeetingReport {
    fn in_lobby(&self) -> usize {
        self.participants
            .iter()
            .filter(|p| p.placement == Placement::Lobby)
            .count()
    }

    fn in_meeting(&self) -> usize {
        self.participants
            .iter()
            .filter(|p| p.placement == Placement::Meeting)
            .count()
    }

    fn organisers_in_meeting(&self) -> usize {
        self.participants
            .iter()
            .filter(|p| p.organizer && p.placement == Placement::Meeting)
            .count()
    }
}

use super::{CallerConfig, KeyMethod, SippCaller, prompt, prompt_score, received_audio};

impl Bridge {
    /// A SIPp caller dialling this bridge's number over UDP, typing `keys` (RFC 4733).
    pub fn call(&self, name: &str, keys: &str) -> SippCaller {
        self.call_with(name, CallerConfig::new(self.number, keys))
    }

    pub fn call_with(&self, name: &str, config: CallerConfig) -> SippCaller {
        SippCaller::start(name, &self.sip_udp, &config)
    }

    /// The keys of the organiser starting a meeting that has not started: the
    /// conference ID and pound, star while "if you are the organiser, press star" plays,
    /// then the PIN and pound.
    pub fn organiser_keys(&self, conference_id: &str) -> String {
        format!("{conference_id}#,,*,{}#", self.pin)
    }

    /// Waits until the call with pinbridge RTP port `rtp_port` has received `name` (a
    /// prompt of `assets/prompts/en-US/`) whole, by correlation above 0.8.
    pub fn wait_prompt(capture: &Capture, rtp_port: u16, name: &str) -> f64 {
        let reference = prompt(name);
        let mut best = 0.0f64;
        let found = std::cell::Cell::new(0.0f64);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let received = received_audio(&capture.datagrams(), rtp_port);
            let score = prompt_score(&reference, &received.samples);
            best = best.max(score);
            if score > 0.8 {
                found.set(score);
                return found.get();
            }
            if std::time::Instant::now() >= deadline {
                panic!(
                    "the call on RTP port {rtp_port} never received {name} (best correlation {best:.3}, {} samples)",
                    received.samples.len()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// `method` as the keys of a caller config.
pub fn with_method(mut config: CallerConfig, method: KeyMethod) -> CallerConfig {
    config.method = method;
    config
}

/// Acceptance 1, with keys sent by `method`: the organiser starts the meeting with the
/// PIN, joins, and hangs up with BYE.
pub fn organiser_starts_the_meeting(method: KeyMethod) {
    let bridge = start(&[]);
    let conference = bridge.meeting(&[]);
    assert!(!bridge.state(&conference).started);
    let dir = super::super::tempdir();
    let capture = bridge.capture(dir.path());
    let config = with_method(
        CallerConfig::new(bridge.number, &bridge.organiser_keys(&conference)),
        method,
    );
    let mut organiser = bridge.call_with("organiser", config);
    let answer = organiser.wait_answered(Duration::from_secs(30));
    let state = bridge.wait_state(&conference, "the organiser joins", |s| {
        s.started && s.organisers_in_meeting() == 1
    });
    assert_eq!(state.participants.len(), 1, "{state:?}");
    assert_eq!(
        state.participants[0].kind,
        pinbridge_domain::meeting::ParticipantKind::Phone,
        "{state:?}"
    );
    Bridge::wait_prompt(&capture, answer.rtp_port, "joining-as-organiser");
    organiser.hang_up();
    assert_eq!(
        organiser.wait_end(Duration::from_secs(30)),
        super::Ending::ByCaller
    );
    bridge.wait_state(&conference, "the organiser leaves", |s| {
        s.participants.is_empty()
    });
    capture.stop();
}

impl Bridge {
    /// A value of `/metrics` (Prometheus text), e.g. `pinbridge_active_calls`.
    pub fn metric(&self, name: &str) -> f64 {
        self.serve.metric(name)
    }
}
