//! What the CLI and the node assemblies it starts share about the process: exit
//! statuses and the shutdown signal (a node uses them without importing the CLI).

/// Exit status for "this part is not built yet" and for bad arguments or config.
pub const EXIT_USAGE: i32 = 2;

/// Waits for SIGINT or SIGTERM.
pub async fn wait_for_shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
