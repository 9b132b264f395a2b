//! A task owned by an actor: the actor spawns it in `pre_start`, is told when it ends
//! (a normal end stops the actor, an error fails it so its supervisor restarts it with
//! backoff), and stops it in `post_stop` (shutdown signal, then wait for the task).

use std::future::Future;

use ractor::{ActorProcessingErr, ActorRef, Message};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A spawned task and its shutdown signal.
pub struct OwnedTask {
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl OwnedTask {
    /// Spawns `body` with a shutdown receiver; when it ends, `ended(result)` is sent to
    /// `myself`.
    pub fn spawn<M, Fut>(
        myself: ActorRef<M>,
        ended: fn(Result<(), String>) -> M,
        body: impl FnOnce(watch::Receiver<bool>) -> Fut,
    ) -> Self
    where
        M: Message,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let (shutdown, rx) = watch::channel(false);
        let fut = body(rx);
        let task = tokio::spawn(async move {
            let result = fut.await;
            let _ = myself.cast(ended(result));
        });
        Self {
            shutdown,
            task: Some(task),
        }
    }

    /// Signals shutdown and waits for the task to end.
    pub async fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// What an owning actor does when its task ended: stop on success, fail (naming `what`)
/// on error.
pub fn on_task_ended<M: Message>(
    myself: &ActorRef<M>,
    result: Result<(), String>,
    what: &str,
) -> Result<(), ActorProcessingErr> {
    match result {
        Ok(()) => {
            myself.stop(None);
            Ok(())
        }
        Err(e) => Err(format!("{what}: {e}").into()),
    }
}
