//! `subscriber`: prints one tenant's AgentOS events as they happen and records each in
//! an effect log, resuming after restarts where it left off. See `docs/subscribing.md`.

use subscriber::{Settings, run};

#[tokio::main]
async fn main() -> Result<(), subscriber::Error> {
    let settings = Settings::from_env()?;
    eprintln!(
        "consuming {} from {} as `{}`",
        settings.filter_subject, settings.stream, settings.durable
    );
    let report = run(&settings, stop_signal()).await?;
    eprintln!(
        "stopped: {} handled, {} redeliveries skipped",
        report.handled, report.skipped
    );
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await.ok();
}
