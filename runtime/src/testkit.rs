//! Test helpers (feature `testkit`): a scriptable worker actor that journals its
//! lifecycle, and helpers to let a paused-time tree settle.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::supervision::{Addr, ChildSpec};

/// A shared, ordered log of lifecycle events (`start:ID`, `stop:ID`).
#[derive(Debug, Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an entry.
    pub fn push(&self, entry: String) {
        self.0.lock().push(entry);
    }

    /// Takes every entry so far, leaving the journal empty.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock())
    }

    /// A copy of the entries so far.
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().clone()
    }
}

/// What a [`Worker`] can be told to do.
#[derive(Debug)]
pub enum WorkerMsg {
    /// Counts one message.
    Ping,
    /// Panics in the handler.
    Panic,
    /// Returns an error from the handler.
    Fail,
    /// Stops normally.
    Stop,
    /// Never finishes the handler (a frozen actor).
    Hang,
    /// Replies with the number of pings this incarnation handled.
    Count(RpcReplyPort<u64>),
}

/// A scriptable test actor.
#[derive(Debug, Clone)]
pub struct Worker {
    id: String,
    journal: Journal,
}

impl Actor for Worker {
    type Msg = WorkerMsg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        _args: (),
    ) -> Result<u64, ActorProcessingErr> {
        self.journal.push(format!("start:{}", self.id));
        Ok(0)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        _state: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        self.journal.push(format!("stop:{}", self.id));
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: WorkerMsg,
        count: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            WorkerMsg::Ping => *count += 1,
            WorkerMsg::Panic => panic!("worker {} told to panic", self.id),
            WorkerMsg::Fail => return Err(format!("worker {} told to fail", self.id).into()),
            WorkerMsg::Stop => myself.stop(None),
            WorkerMsg::Hang => futures::future::pending::<()>().await,
            WorkerMsg::Count(reply) => {
                let _ = reply.send(*count);
            }
        }
        Ok(())
    }
}

/// A child spec for a [`Worker`] journaling into `journal`.
pub fn worker(id: &str, kind: &str, journal: &Journal) -> (ChildSpec, Addr<WorkerMsg>) {
    let (id_s, journal) = (id.to_string(), journal.clone());
    ChildSpec::actor(id, kind, move || {
        (
            Worker {
                id: id_s.clone(),
                journal: journal.clone(),
            },
            (),
        )
    })
}

/// Lets queued messages and due timers run: on a paused runtime this advances time by
/// `by` in small steps, yielding in between.
pub async fn settle(by: Duration) {
    let step = Duration::from_millis(1);
    let mut waited = Duration::ZERO;
    while waited < by {
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(step).await;
        waited += step;
    }
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}
