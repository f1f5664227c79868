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
}

pub async fn run(g: &Globals, args: ServeArgs) -> Result<(), String> {
    let filter = g
        .sources
        .get("log", args.log)?
        .unwrap_or_else(|| "info".to_owned());
    let filter =
        EnvFilter::try_new(&filter).map_err(|e| format!("bad log filter {filter:?}: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

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
    // The mail worker delivers the outbox next to the web server.
    let (transport, mail_config) = crate::mail_cli::worker_settings(g, &config.data_dir)?;
    let worker = pinbridge_mail::Worker::new(app.store().clone(), transport, mail_config);
    let mail_destination = worker.transport().describe();
    tracing::info!(to = %mail_destination, "mail goes to {mail_destination}");
    println!("mail goes to {mail_destination}");
    let (stop_mail, mail_stopped) = tokio::sync::watch::channel(false);
    let mail_task = tokio::spawn(async move { worker.run(mail_stopped).await });
    let router = pinbridge_web::app(pinbridge_web::AppState { app: app.clone() });
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("web server failed: {e}"));
    // Sends in flight finish (each SMTP command is time-limited); the rest stays queued.
    let _ = stop_mail.send(true);
    if tokio::time::timeout(std::time::Duration::from_secs(120), mail_task)
        .await
        .is_err()
    {
        tracing::warn!("the mail worker did not stop in time; its emails are sent again later");
    }
    served?;
    app.store().close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot watch SIGTERM; stop with Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: stopping"),
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
    }
}
