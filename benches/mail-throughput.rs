//! The delivery throughput measurement of BENCHMARKS.md ("Email delivery throughput"):
//! 10,000 queued emails, `pinbridge mail flush` to the test SMTP server on loopback,
//! wall time and emails per second. A measurement, not a test (`cargo test` does not
//! run it):
//!
//!   cargo bench --bench mail-throughput

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/mail.rs"]
mod mail;

use std::time::Instant;

use mail::SmtpServer;
use pinbridge_domain::audit::Actor;
use pinbridge_domain::ops::SetOptions;

const EMAILS: usize = 10_000;

fn main() {
    let store = common::sqlite();
    let smtp = SmtpServer::start(store.dir.path(), 0, &["--light"]);
    let config = mail::config_file(&store, smtp.port, &[]);
    mail::setup_tenant(&store);
    for n in 0..10 {
        let upn = format!("user{n}@contoso.example");
        mail::add_user(&store, &upn, &format!("User {n}"));
        store.ok(&["user", "enable", &upn]);
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let app = store.app().await;
        let actor = Actor::cli("benchmark");
        let options = SetOptions {
            send_email: true,
            ..SetOptions::default()
        };
        for i in 0..EMAILS - 10 {
            let upn =
                pinbridge_domain::Upn::parse(&format!("user{}@contoso.example", i % 10)).unwrap();
            app.set_user(&actor, &upn, &options, false, None)
                .await
                .unwrap();
        }
        app.close().await;
    });
    let started = Instant::now();
    let report = mail::flush(&store, &config);
    let seconds = started.elapsed().as_secs_f64();
    let cpu = |pid: u32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks: u64 = fields
            .get(11..13)
            .map_or(0, |f| f.iter().filter_map(|t| t.parse::<u64>().ok()).sum());
        ticks as f64 / 100.0
    };
    println!("SMTP server CPU: {:.1} s", cpu(smtp.pid()));
    assert_eq!(report["delivered"], EMAILS as u64, "{report}");
    assert_eq!(smtp.count("delivered"), EMAILS);
    println!(
        "delivered {EMAILS} emails in {seconds:.2} s: {:.0} emails/s",
        EMAILS as f64 / seconds
    );
}
