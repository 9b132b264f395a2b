//! The console's own small runtime: one OS thread running a current-thread tokio runtime
//! for the HTTP server, the WebSocket sockets and the push fan-out.
//!
//! On a 2-core ship node the ingest pipeline keeps the main runtime's workers busy; a
//! push woken on those workers waits behind every queued ingest task. On its own thread
//! the console is scheduled by the kernel next to them (a thread waking from sleep gets
//! the CPU promptly), so push latency does not depend on the depth of the ingest queues.
//! The session actors themselves stay in the supervision tree on the main runtime: they
//! only see client messages and closes, never the push stream.

use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

struct Guard {
    handle: Handle,
    _stop: oneshot::Sender<()>,
}

/// A handle to the console runtime; the runtime and its thread stop when the last clone
/// is dropped (tasks still on it are cancelled). Cheap to clone.
#[derive(Clone)]
pub struct ConsoleRuntime(Arc<Guard>);

impl std::fmt::Debug for ConsoleRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConsoleRuntime")
    }
}

impl ConsoleRuntime {
    /// Starts the runtime on a new thread named `seawatch-console`.
    pub fn start() -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("seawatch-console".into())
            .spawn(move || {
                // Returns when every `ConsoleRuntime` clone is gone; the runtime is then
                // dropped here, outside any async context.
                let _ = rt.block_on(stopped);
            })?;
        Ok(Self(Arc::new(Guard {
            handle,
            _stop: stop,
        })))
    }

    /// The runtime's handle, to spawn tasks on it.
    pub fn handle(&self) -> &Handle {
        &self.0.handle
    }

    /// Serves `app` on `listener` on this runtime (with peer addresses, which the login
    /// rate limit needs). The returned task can be aborted from anywhere.
    pub fn serve(
        &self,
        listener: tokio::net::TcpListener,
        app: axum::Router,
    ) -> tokio::task::JoinHandle<()> {
        let keep = self.clone();
        // A listener is bound to the reactor of the runtime that created it: move its
        // socket to this runtime's.
        let std_listener = listener.into_std();
        self.0.handle.spawn(async move {
            let _keep = keep;
            let listener = match std_listener.and_then(tokio::net::TcpListener::from_std) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "http listener could not move to the console runtime");
                    return;
                }
            };
            let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "http server stopped");
            }
        })
    }
}
