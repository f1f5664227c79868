//! `pinbridge serve`: opens and migrates the store, serves HTTP, stops cleanly on
//! Ctrl-C or SIGTERM.

use std::net::SocketAddr;

use clap::Args;
use tracing_subscriber::EnvFilter;

use crate::Globals;

#[derive(Args)]
pub struct ServeArgs {
    /// Address of the web server [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Log filter [default: info].
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,
    /// Seed a demo tenant on a fresh store and print how to use it.
    #[arg(long)]
    demo: bool,
    #[command(flatten)]
    sip: SipArgs,
    #[command(flatten)]
    web: WebArgs,
    #[command(flatten)]
    tls: TlsArgs,
}

/// The certificate HTTPS and SIP over TLS present.
#[derive(Args)]
pub struct TlsArgs {
    /// The certificate chain for HTTPS and SIP over TLS, PEM.
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<std::path::PathBuf>,
    /// The private key for HTTPS and SIP over TLS, PEM.
    #[arg(long, value_name = "FILE")]
    tls_key: Option<std::path::PathBuf>,
}

/// The certificate and key files, when both are set.
struct TlsFiles {
    cert: Option<std::path::PathBuf>,
    key: Option<std::path::PathBuf>,
}

impl TlsFiles {
    fn read(g: &Globals, args: TlsArgs) -> Result<Self, String> {
        Ok(Self {
            cert: g.sources.get("tls_cert", args.tls_cert)?,
            key: g.sources.get("tls_key", args.tls_key)?,
        })
    }

    /// Both files, or an error naming the `setting` that needs them.
    fn both(&self, setting: &str) -> Result<(&std::path::Path, &std::path::Path), String> {
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Ok((cert, key)),
            _ => Err(format!(
                "{setting} needs --tls-cert FILE and --tls-key FILE"
            )),
        }
    }
}

/// HTTPS and reverse-proxy settings of the web server.
#[derive(Args)]
pub struct WebArgs {
    /// Also serve HTTPS on this address (needs --tls-cert and --tls-key).
    #[arg(long, value_name = "ADDR")]
    https: Option<SocketAddr>,
    /// A reverse proxy (CIDR) whose X-Forwarded-For and X-Forwarded-Proto are
    /// believed; repeat for more [default: none].
    #[arg(long, value_name = "CIDR")]
    trusted_proxy: Vec<pinbridge_domain::Cidr>,
}

/// The dial-in bridge's settings.
#[derive(Args)]
pub struct SipArgs {
    /// Address SIP over UDP listens on [default: 127.0.0.1:5060].
    #[arg(long, value_name = "ADDR")]
    sip_udp: Option<SocketAddr>,
    /// Address SIP over TCP listens on [default: 127.0.0.1:5060].
    #[arg(long, value_name = "ADDR")]
    sip_tcp: Option<SocketAddr>,
    /// UDP ports for call media, LOW-HIGH [default: 20000-29999].
    #[arg(long, value_name = "LOW-HIGH")]
    rtp_ports: Option<pinbridge_dialin::PortRange>,
    /// A trunk peer (CIDR) whose calls are accepted; repeat for more [default: loopback].
    #[arg(long, value_name = "CIDR")]
    trunk_allow: Vec<pinbridge_domain::Cidr>,
    /// IP address put in SDP, Contact and Via instead of the bound one.
    #[arg(long, value_name = "IP")]
    public_address: Option<std::net::IpAddr>,
    /// Hang up a call with no RTP for this many seconds [default: 60].
    #[arg(long, value_name = "SECONDS")]
    rtp_timeout: Option<u64>,
    /// Remind callers in the lobby every this many seconds that they are still waiting;
    /// 0: never [default: 60].
    #[arg(long, value_name = "SECONDS")]
    lobby_reminder: Option<u64>,
    /// Also take SIP over TLS on this address, its calls with SRTP (needs --tls-cert and
    /// --tls-key).
    #[arg(long, value_name = "ADDR")]
    sip_tls: Option<SocketAddr>,
    /// Trunks connecting over TLS must present a certificate issued by a CA in this PEM
    /// file [default: no client certificate asked for].
    #[arg(long, value_name = "FILE")]
    sip_tls_client_ca: Option<std::path::PathBuf>,
    /// Calls over TLS may have plain RTP when they offer no SRTP [default: refused with 488].
    #[arg(long)]
    sip_tls_plain_rtp: bool,
    /// What SIP requests from outside the trunk allow-list get: 403, or drop (nothing,
    /// not even parsed) [default: 403].
    #[arg(long, value_name = "403|drop")]
    sip_untrusted: Option<pinbridge_dialin::Untrusted>,
    /// INVITEs per second one source may send, in bursts of twice that; 0: no limit
    /// [default: 10]. Trunks are exempt unless --sip-rate-limit-trunks.
    #[arg(long, value_name = "N")]
    sip_rate_invite: Option<u32>,
    /// OPTIONS per second one source may send, in bursts of twice that; 0: no limit
    /// [default: 5].
    #[arg(long, value_name = "N")]
    sip_rate_options: Option<u32>,
    /// REGISTERs per second one source may send, in bursts of twice that; 0: no limit
    /// [default: 2].
    #[arg(long, value_name = "N")]
    sip_rate_register: Option<u32>,
    /// Other SIP messages (and datagrams that are not SIP) per second one source may
    /// send, in bursts of twice that; 0: no limit [default: 10].
    #[arg(long, value_name = "N")]
    sip_rate_other: Option<u32>,
    /// Apply the per-source rate limits to trunks too [default: trunks are exempt].
    #[arg(long)]
    sip_rate_limit_trunks: bool,
}

/// A comma-separated list of CIDRs, as the config file and environment give it.
struct CidrList(Vec<pinbridge_domain::Cidr>);

impl std::str::FromStr for CidrList {
    type Err = pinbridge_domain::CidrError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map(CidrList)
    }
}

/// The per-source rate limits from flags, the config file and the environment.
fn source_limits(
    g: &Globals,
    args: &SipArgs,
    defaults: pinbridge_dialin::SourceLimits,
) -> Result<pinbridge_dialin::SourceLimits, String> {
    let rate = |key: &str, flag: Option<u32>, default: Option<pinbridge_dialin::Rate>| {
        Ok::<_, String>(match g.sources.get(key, flag)? {
            Some(0) => None,
            Some(n) => Some(pinbridge_dialin::Rate::per_second(n)),
            None => default,
        })
    };
    let table_size = g
        .sources
        .get::<usize>("sip_rate_sources", None)?
        .unwrap_or(defaults.table_size);
    if table_size < 2 {
        return Err("sip_rate_sources must be at least 2".into());
    }
    Ok(pinbridge_dialin::SourceLimits {
        invite: rate("sip_rate_invite", args.sip_rate_invite, defaults.invite)?,
        options: rate("sip_rate_options", args.sip_rate_options, defaults.options)?,
        register: rate(
            "sip_rate_register",
            args.sip_rate_register,
            defaults.register,
        )?,
        other: rate("sip_rate_other", args.sip_rate_other, defaults.other)?,
        table_size,
        limit_trunks: g
            .sources
            .get(
                "sip_rate_limit_trunks",
                args.sip_rate_limit_trunks.then_some(true),
            )?
            .unwrap_or(defaults.limit_trunks),
    })
}

/// Starts the dial-in bridge and prints where it listens. An address that cannot be
/// bound (another instance on 5060, say) stops `serve` with the reason.
async fn start_bridge(
    g: &Globals,
    app: &pinbridge_app::App,
    args: SipArgs,
    tls: &TlsFiles,
) -> Result<pinbridge_dialin::DialIn, String> {
    let config = bridge_config(g, args, tls)?;
    // Once the settings are known to be good (a bad one is a one-line error): every
    // call holds two sockets and every SIP connection one descriptor.
    match pinbridge_udp::raise_open_files_limit() {
        Ok((soft, _)) => tracing::info!(open_files = soft, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
    let bridge = pinbridge_dialin::DialIn::start(app.clone(), config)
        .await
        .map_err(|e| e.to_string())?;
    let tls = bridge
        .tls_address()
        .map(|a| format!(" tls:{a}"))
        .unwrap_or_default();
    println!(
        "sip listening on udp:{} tcp:{}{tls}",
        bridge.udp_address(),
        bridge.tcp_address()
    );
    Ok(bridge)
}

/// The bridge's settings from flags, the config file and the environment.
fn bridge_config(
    g: &Globals,
    args: SipArgs,
    files: &TlsFiles,
) -> Result<pinbridge_dialin::DialInConfig, String> {
    let defaults = pinbridge_dialin::DialInConfig::default();
    let limits = source_limits(g, &args, defaults.limits)?;
    let sip_udp = g.sources.get("sip_udp", args.sip_udp)?;
    let sip_tcp = g.sources.get("sip_tcp", args.sip_tcp)?;
    let trunk_allow = if args.trunk_allow.is_empty() {
        g.sources
            .get::<CidrList>("trunk_allow", None)?
            .map_or(defaults.trunk_allow, |l| l.0)
    } else {
        args.trunk_allow
    };
    let rtp_timeout = g
        .sources
        .get("rtp_timeout_seconds", args.rtp_timeout)?
        .map_or(defaults.rtp_timeout, std::time::Duration::from_secs);
    if rtp_timeout.is_zero() {
        return Err("rtp_timeout_seconds must be at least 1".into());
    }
    let lobby_reminder = match g
        .sources
        .get("lobby_reminder_seconds", args.lobby_reminder)?
    {
        None => defaults.lobby_reminder,
        Some(0) => None,
        Some(seconds) => Some(std::time::Duration::from_secs(seconds)),
    };
    let client_ca = g.sources.get("sip_tls_client_ca", args.sip_tls_client_ca)?;
    let plain_rtp = g
        .sources
        .get("sip_tls_plain_rtp", args.sip_tls_plain_rtp.then_some(true))?
        .unwrap_or(false);
    let tls = match g.sources.get("sip_tls", args.sip_tls)? {
        Some(address) => {
            let (cert, key) = files.both("--sip-tls")?;
            let server = pinbridge_web::tls::tls_server_config(cert, key, client_ca.as_deref())?;
            Some(pinbridge_dialin::SipTlsConfig {
                address,
                server: std::sync::Arc::new(server),
                plain_rtp,
            })
        }
        None if client_ca.is_some() || plain_rtp => {
            return Err("sip_tls_client_ca and sip_tls_plain_rtp need --sip-tls ADDR".into());
        }
        None => None,
    };
    let config = pinbridge_dialin::DialInConfig {
        untrusted: g
            .sources
            .get("sip_untrusted", args.sip_untrusted)?
            .unwrap_or(defaults.untrusted),
        limits,
        sip_udp: sip_udp.unwrap_or(defaults.sip_udp),
        sip_tcp: sip_tcp.unwrap_or(defaults.sip_tcp),
        rtp_ports: g
            .sources
            .get("rtp_ports", args.rtp_ports)?
            .unwrap_or(defaults.rtp_ports),
        trunk_allow,
        public_address: g.sources.get("public_address", args.public_address)?,
        rtp_timeout,
        lobby_reminder,
        tcp: defaults.tcp,
        tls,
    };
    Ok(config)
}

pub async fn run(g: &Globals, args: ServeArgs) -> Result<(), String> {
    let filter = g
        .sources
        .get("log", args.log)?
        .unwrap_or_else(|| "info".to_owned());
    let filter =
        EnvFilter::try_new(&filter).map_err(|e| format!("bad log filter {filter:?}: {e}"))?;
    // Colours only on a terminal: a log file (read by fail2ban, say) gets plain lines.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let signals = StopSignals::install()?;

    let http: SocketAddr = g
        .sources
        .get("http", args.http)?
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let config = g.store_config()?;
    let app = g.open().await?;
    match &config.database_url {
        Some(url) => {
            tracing::info!(database = %pinbridge_store::redact_url(url), "store opened (PostgreSQL)")
        }
        None => {
            tracing::info!(data_dir = %config.data_dir.display(), "store opened (embedded SQLite)")
        }
    }
    if args.demo {
        crate::demo::seed(&app, http).await?;
    }

    let listener = tokio::net::TcpListener::bind(http)
        .await
        .map_err(|e| format!("cannot listen on {http}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(address = %local, "web server listening");
    // A machine-readable line for scripts and tests that start serve on port 0.
    println!("listening on http://{local}");
    // The dial-in bridge answers calls next to the web server.
    let tls = TlsFiles::read(g, args.tls)?;
    let bridge = start_bridge(g, &app, args.sip, &tls).await?;
    pinbridge_web::set_metrics_renderer(pinbridge_dialin::metrics::render);
    // The mail worker delivers the outbox next to the web server.
    let (transport, mail_config) = crate::mail_cli::worker_settings(g, &config.data_dir)?;
    let worker = app.mail_worker(transport, mail_config);
    let mail_destination = worker.transport().describe();
    tracing::info!(to = %mail_destination, "mail goes to {mail_destination}");
    println!("mail goes to {mail_destination}");
    let (stop_mail, mail_stopped) = tokio::sync::watch::channel(false);
    let mail_task = tokio::spawn(async move { worker.run(mail_stopped).await });
    let served = serve_web(g, args.web, &tls, &app, listener, signals).await;
    bridge.shutdown().await;
    // Sends in flight finish (each SMTP command is time-limited); the rest stays queued.
    let _ = stop_mail.send(true);
    if tokio::time::timeout(std::time::Duration::from_secs(120), mail_task)
        .await
        .is_err()
    {
        tracing::warn!("the mail worker did not stop in time; its emails are sent again later");
    }
    served?;
    app.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Ctrl-C and SIGTERM, registered as `serve` starts, so that a signal arriving while it
/// is still starting up stops it cleanly too instead of killing it.
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> Result<Self, String> {
        use tokio::signal::unix::{SignalKind, signal};
        let watch =
            |kind, name: &str| signal(kind).map_err(|e| format!("cannot watch {name}: {e}"));
        Ok(Self {
            interrupt: watch(SignalKind::interrupt(), "SIGINT")?,
            terminate: watch(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    /// Returns once either signal has arrived since `install`.
    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => tracing::info!("Ctrl-C: stopping"),
            _ = self.terminate.recv() => tracing::info!("SIGTERM: stopping"),
        }
    }
}

/// Serves the web application on the HTTP listener and, when configured, on HTTPS too,
/// until Ctrl-C or SIGTERM.
async fn serve_web(
    g: &Globals,
    args: WebArgs,
    tls_files: &TlsFiles,
    app: &pinbridge_app::App,
    http: tokio::net::TcpListener,
    signals: StopSignals,
) -> Result<(), String> {
    let trusted_proxies = if args.trusted_proxy.is_empty() {
        g.sources
            .get::<CidrList>("trusted_proxies", None)?
            .map_or_else(Vec::new, |l| l.0)
    } else {
        args.trusted_proxy
    };
    let web = pinbridge_web::WebConfig {
        trusted_proxies,
        public_url: crate::mail_cli::public_url(g)?,
        ..pinbridge_web::WebConfig::default()
    };
    let mut state = pinbridge_web::AppState::new(app.clone());
    state.web = std::sync::Arc::new(web);
    let router = pinbridge_web::app(state);
    let https = g.sources.get("https", args.https)?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        signals.wait().await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let plain = axum::serve(
        http,
        router
            .clone()
            .into_make_service_with_connect_info::<pinbridge_web::Peer>(),
    )
    .with_graceful_shutdown(until_stopped(stopped.clone()));
    let Some(https) = https else {
        return plain.await.map_err(|e| format!("web server failed: {e}"));
    };
    let (cert, key) = tls_files.both("--https")?;
    let listener = tokio::net::TcpListener::bind(https)
        .await
        .map_err(|e| format!("cannot listen on {https}: {e}"))?;
    let tls = pinbridge_web::TlsListener::new(listener, cert, key)?;
    let local = axum::serve::Listener::local_addr(&tls).map_err(|e| e.to_string())?;
    tracing::info!(address = %local, "HTTPS server listening");
    println!("listening on https://{local}");
    let secure = axum::serve(
        tls,
        router.into_make_service_with_connect_info::<pinbridge_web::Peer>(),
    )
    .with_graceful_shutdown(until_stopped(stopped));
    let (a, b) = tokio::join!(plain, secure);
    a.and(b).map_err(|e| format!("web server failed: {e}"))
}
