//! Long-lived work that is not an actor (an accept loop, a ticker, a server) as a
//! supervised child: [`ChildSpec::task`](super::ChildSpec::task) runs an async task
//! inside a small actor, so its supervisor restarts it when it ends with an error or
//! panics (per the child's restart type, intensity and backoff) and stops it on shutdown.
//!
//! Each incarnation gets a fresh task from the factory and a [`TaskStop`] that turns true
//! when it is asked to stop. The task is aborted if it has not ended within the child's
//! shutdown timeout, and at once if the actor is killed: no task outlives its child.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A task's stop signal: [`TaskStop::stopped`] completes once the task is asked to stop.
#[derive(Clone, Debug)]
pub struct TaskStop(watch::Receiver<bool>);

impl TaskStop {
    /// Completes once the task is asked to stop (at once if it already was).
    pub async fn stopped(&mut self) {
        // An error means the sender is gone: the owning actor is gone, so stop too.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Whether the task was asked to stop.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }
}

/// Builds one incarnation's task.
pub(crate) type TaskFactory =
    Arc<dyn Fn(TaskStop) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Messages of a task child.
pub enum TaskMsg {
    /// The task ended: `Ok` stops the child normally, `Err` (or a panic) fails it.
    Ended(Result<(), String>),
}

/// The actor a task child runs in.
pub(crate) struct TaskActor;

/// State of a task child: the running task and its stop signal.
pub(crate) struct TaskState {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Drop for TaskState {
    fn drop(&mut self) {
        // Killed (no post_stop): the task must not outlive the child.
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Actor for TaskActor {
    type Msg = TaskMsg;
    type State = TaskState;
    type Arguments = TaskFactory;

    async fn pre_start(
        &self,
        myself: ActorRef<TaskMsg>,
        factory: TaskFactory,
    ) -> Result<TaskState, ActorProcessingErr> {
        let (stop, rx) = watch::channel(false);
        let fut = factory(TaskStop(rx));
        let task = tokio::spawn(async move {
            // A panic in the task fails the child like an error does.
            let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(fut))
                .await
                .unwrap_or_else(|p| Err(panic_text(&*p)));
            let _ = myself.cast(TaskMsg::Ended(result));
        });
        Ok(TaskState {
            stop,
            task: Some(task),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<TaskMsg>,
        state: &mut TaskState,
    ) -> Result<(), ActorProcessingErr> {
        let _ = state.stop.send(true);
        if let Some(t) = state.task.take() {
            // The supervisor bounds the stop with the child's shutdown timeout and then
            // kills the actor, whose state's drop aborts the task.
            let abort = t.abort_handle();
            struct AbortOnDrop(tokio::task::AbortHandle);
            impl Drop for AbortOnDrop {
                fn drop(&mut self) {
                    self.0.abort();
                }
            }
            let _guard = AbortOnDrop(abort);
            let _ = t.await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<TaskMsg>,
        msg: TaskMsg,
        state: &mut TaskState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            TaskMsg::Ended(result) => {
                state.task = None;
                match result {
                    Ok(()) => {
                        myself.stop(Some("task ended".into()));
                        Ok(())
                    }
                    Err(e) => Err(format!("task failed: {e}").into()),
                }
            }
        }
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_string()
    }
}

/// Wraps `body` into a [`TaskFactory`].
pub(crate) fn factory<F, Fut>(body: F) -> TaskFactory
where
    F: Fn(TaskStop) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    Arc::new(move |stop| Box::pin(body(stop)))
}
