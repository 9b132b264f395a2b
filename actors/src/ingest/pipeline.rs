//! The ship's ingest pipeline: listeners → a bounded queue → the event-log writer, which
//! appends each batch durably and hands its observations to the ship's roster
//! ([`crate::roster`]), which routes them to device and link actors.
//!
//! Backpressure: the queue is bounded. TCP and HTTP readers `await` a free slot, so a
//! pipeline that falls behind slows its senders down; UDP cannot wait, so a full queue
//! drops the datagram's events and counts them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use seawatch_runtime::event_log::{EventLog, EventLogError, NewEvent};
use seawatch_runtime::supervision::{Addr, ChildSpec};
use tokio::sync::mpsc;

use super::metrics::IngestMetrics;
use super::record::{IngestBatch, Observation, ObservationExt, Source};
use crate::roster::Roster;

/// Queue and batch sizes.
#[derive(Debug, Clone, Copy)]
pub struct PipelineConfig {
    /// Batches the queue holds before senders wait (or UDP drops).
    pub queue_batches: usize,
    /// Most events appended as one event-log batch.
    pub max_append_events: usize,
    /// How often an idle writer checks for a due fsync.
    pub idle_tick: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            queue_batches: 64,
            max_append_events: 8192,
            idle_tick: Duration::from_millis(20),
        }
    }
}

/// Why a batch was not taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// The queue is full (only from [`IngestSender::try_send`]).
    #[error("ingest queue full")]
    Full,
    /// The pipeline is shut down.
    #[error("ingest pipeline closed")]
    Closed,
}

/// The listeners' side of the queue. Cheap to clone.
#[derive(Clone, Debug)]
pub struct IngestSender {
    tx: mpsc::Sender<IngestBatch>,
    metrics: IngestMetrics,
}

impl IngestSender {
    /// Queues a batch, waiting for room (backpressure).
    pub async fn send(&self, batch: IngestBatch) -> Result<(), SendError> {
        let (source, n) = (batch.source, batch.items.len() as u64);
        if n == 0 {
            return Ok(());
        }
        self.tx.send(batch).await.map_err(|_| SendError::Closed)?;
        self.metrics.accepted(source, n);
        Ok(())
    }

    /// Queues a batch if there is room now; a full queue counts the events as dropped.
    pub fn try_send(&self, batch: IngestBatch) -> Result<(), SendError> {
        let (source, n) = (batch.source, batch.items.len() as u64);
        if n == 0 {
            return Ok(());
        }
        match self.tx.try_send(batch) {
            Ok(()) => {
                self.metrics.accepted(source, n);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.dropped(source, n);
                Err(SendError::Full)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::Closed),
        }
    }

    /// Waits until every batch queued before this call is stored and routed to its
    /// actors.
    pub async fn barrier(&self) -> Result<(), SendError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let b = IngestBatch {
            source: Source::Simulator,
            received: Instant::now(),
            items: Vec::new(),
            done: Some(tx),
        };
        self.tx.send(b).await.map_err(|_| SendError::Closed)?;
        rx.await.map_err(|_| SendError::Closed)
    }

    /// The ship's ingest metrics.
    pub fn metrics(&self) -> &IngestMetrics {
        &self.metrics
    }
}

/// The writer's side of the queue, handed from one writer incarnation to the next.
pub type QueueSlot = Arc<Mutex<Option<mpsc::Receiver<IngestBatch>>>>;

/// Creates the bounded queue.
pub fn queue(cfg: &PipelineConfig, metrics: IngestMetrics) -> (IngestSender, QueueSlot) {
    let (tx, rx) = mpsc::channel(cfg.queue_batches.max(1));
    (IngestSender { tx, metrics }, Arc::new(Mutex::new(Some(rx))))
}

/// Messages of the event-log writer actor.
pub enum WriterMsg {
    /// The writer thread ended; an error fails the actor (and its supervisor restarts it).
    ThreadExited(Result<(), String>),
}

/// Start arguments of the writer actor.
#[derive(Clone)]
pub struct WriterArgs {
    /// The ship's event log, shared with readers (sync, store).
    pub log: Arc<RwLock<EventLog>>,
    /// The queue's receiving end.
    pub slot: QueueSlot,
    /// Where observations go after they are stored.
    pub roster: Roster,
    /// Metrics.
    pub metrics: IngestMetrics,
    /// Sizes.
    pub config: PipelineConfig,
    /// Time, for retention by age.
    pub clock: seawatch_runtime::Clock,
}

/// How often the writer applies the event log's retention policy.
pub const RETENTION_EVERY: Duration = Duration::from_secs(10);

/// The event-log writer: a supervised actor that owns a dedicated thread (file I/O and
/// fsync never run on the async workers).
#[derive(Debug, Clone, Copy, Default)]
pub struct WriterActor;

/// How long a new writer incarnation waits for the previous one's thread to hand the
/// queue back.
const SLOT_WAIT: Duration = Duration::from_secs(2);

/// State of the writer actor.
pub struct WriterState {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for WriterState {
    fn drop(&mut self) {
        // A killed writer gets no `post_stop`: its thread must still stop (storing what
        // it already took) and hand the queue to the next incarnation.
        self.stop.store(true, Ordering::Release);
    }
}

impl Actor for WriterActor {
    type Msg = WriterMsg;
    type State = WriterState;
    type Arguments = WriterArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<WriterMsg>,
        args: WriterArgs,
    ) -> Result<WriterState, ActorProcessingErr> {
        // A killed incarnation's thread hands the queue back once it has drained what
        // it took (see `Drop for WriterState`): wait a moment for it.
        let deadline = Instant::now() + SLOT_WAIT;
        let rx = loop {
            if let Some(rx) = args.slot.lock().take() {
                break rx;
            }
            if Instant::now() > deadline {
                return Err("the ingest queue is held by another writer".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let stop = Arc::new(AtomicBool::new(false));
        let handle = tokio::runtime::Handle::current();
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("eventlog-writer".into())
            .spawn(move || {
                let mut rx = rx;
                let result = write_loop(&args, &mut rx, &stop2, &handle);
                *args.slot.lock() = Some(rx);
                let _ = myself.cast(WriterMsg::ThreadExited(result.map_err(|e| e.to_string())));
            })?;
        Ok(WriterState {
            stop,
            thread: Some(thread),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<WriterMsg>,
        state: &mut WriterState,
    ) -> Result<(), ActorProcessingErr> {
        state.stop.store(true, Ordering::Release);
        if let Some(t) = state.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<WriterMsg>,
        msg: WriterMsg,
        _state: &mut WriterState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            WriterMsg::ThreadExited(Ok(())) => {
                myself.stop(Some("queue closed".into()));
                Ok(())
            }
            WriterMsg::ThreadExited(Err(e)) => Err(format!("event-log writer failed: {e}").into()),
        }
    }
}

fn publish_durable(log: &EventLog, metrics: &IngestMetrics, last: &mut u64) {
    let durable = log.durable_next_seq();
    if durable > *last {
        metrics.durable(durable - *last);
        *last = durable;
    }
}

/// Resolves once `stop` is set (polled: the flag is set from another thread).
async fn until_stopped(stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn write_loop(
    args: &WriterArgs,
    rx: &mut mpsc::Receiver<IngestBatch>,
    stop: &AtomicBool,
    rt: &tokio::runtime::Handle,
) -> Result<(), EventLogError> {
    let mut last_durable = args.log.read().durable_next_seq();
    let mut last_retention = Instant::now();
    let mut events: Vec<NewEvent> = Vec::with_capacity(args.config.max_append_events);
    // Set once stopping: how many more queued batches to store before the final sync.
    let mut drain: Option<usize> = None;
    loop {
        let first = if stop.load(Ordering::Acquire) {
            // Stopping (shutdown or a restart): store what is already queued, since its
            // events were counted accepted. Bounded by the queue's length now, so that
            // steady ingest cannot hold the stop up; later batches stay queued for the
            // next writer incarnation.
            let left = drain.get_or_insert_with(|| rx.len());
            if *left == 0 {
                break;
            }
            *left -= 1;
            match rx.try_recv() {
                Ok(b) => b,
                Err(_) => break,
            }
        } else {
            let first =
                rt.block_on(async { tokio::time::timeout(args.config.idle_tick, rx.recv()).await });
            match first {
                Ok(Some(b)) => b,
                Ok(None) => break,
                Err(_) => {
                    let mut log = args.log.write();
                    log.flush_if_due()?;
                    publish_durable(&log, &args.metrics, &mut last_durable);
                    if last_retention.elapsed() >= RETENTION_EVERY {
                        last_retention = Instant::now();
                        let report = log.apply_retention(args.clock.now_ms())?;
                        if report.segments_removed > 0 {
                            tracing::info!(
                                segments = report.segments_removed,
                                events = report.events_removed,
                                "event log retention removed old segments"
                            );
                        }
                        args.metrics.eventlog_bytes(log.stats().bytes);
                    }
                    continue;
                }
            }
        };
        let mut batches = vec![first];
        let mut n = batches[0].items.len();
        while n < args.config.max_append_events {
            if let Some(left) = drain.as_mut() {
                if *left == 0 {
                    break;
                }
                *left -= 1;
            }
            match rx.try_recv() {
                Ok(b) => {
                    n += b.items.len();
                    batches.push(b);
                }
                Err(_) => break,
            }
        }
        events.clear();
        events.extend(
            batches
                .iter()
                .flat_map(|b| b.items.iter().map(Observation::to_event)),
        );
        {
            let mut log = args.log.write();
            log.append_batch(std::mem::take(&mut events))?;
            log.flush_if_due()?;
            publish_durable(&log, &args.metrics, &mut last_durable);
            args.metrics.eventlog_bytes(log.stats().bytes);
        }
        // Stopping, the roster may be gone for good (it stops before the writer): route
        // without waiting for it.
        let stopping = drain.is_some();
        rt.block_on(async {
            let mut done = Vec::new();
            for b in batches {
                if !b.items.is_empty() {
                    if stopping || stop.load(Ordering::Acquire) {
                        args.roster.try_route(b.received, b.items);
                    } else {
                        // Waiting for a restarting roster ends when this writer is told
                        // to stop (on shutdown the roster stops first, for good): the
                        // queue must still be drained into the log.
                        tokio::select! {
                            _ = args.roster.route(b.received, b.items) => {}
                            _ = until_stopped(stop) => {}
                        }
                    }
                }
                done.extend(b.done);
            }
            // What was routed is in the actors' mailboxes before the next append (the
            // roster never falls more than one append behind) and before a barrier
            // answers.
            if !stopping {
                tokio::select! {
                    r = args.roster.flush() => {
                        if let Err(e) = r {
                            tracing::warn!(error = %e, "roster did not answer a flush");
                        }
                    }
                    _ = until_stopped(stop) => {}
                }
            }
            for d in done {
                let _ = d.send(());
            }
        });
    }
    let mut log = args.log.write();
    log.sync()?;
    publish_durable(&log, &args.metrics, &mut last_durable);
    Ok(())
}

/// Builds the child spec of the writer actor.
pub fn writer_child(args: WriterArgs) -> (ChildSpec, Addr<WriterMsg>) {
    ChildSpec::actor("eventlog-writer", "eventlog", move || {
        (WriterActor, args.clone())
    })
}

/// Counts events accepted from `source` in tests and the simulator, bypassing listeners.
pub fn batch(source: Source, items: Vec<Observation>) -> IngestBatch {
    IngestBatch {
        source,
        received: Instant::now(),
        items,
        done: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Inventory;
    use seawatch_runtime::event_log::EventLogConfig;
    use seawatch_runtime::Metrics;

    #[test]
    fn a_stopping_writer_stores_what_is_already_queued() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path(), EventLogConfig::new("t")).unwrap();
        let registry = Metrics::new();
        let metrics = IngestMetrics::register(&registry, "t");
        let cfg = PipelineConfig::default();
        let (sender, slot) = queue(&cfg, metrics.clone());
        let (_spec, roster) = crate::roster::roster_child(crate::roster::RosterArgs {
            ship: "t".into(),
            runtime: seawatch_runtime::Runtime::new(seawatch_runtime::Clock::system()),
            inventory: Arc::new(RwLock::new(Inventory::empty("t"))),
            discovered: crate::roster::Discovered::in_memory(),
            alerts: crate::alert::AlertSink::none(),
            push: None,
            ingest_metrics: metrics.clone(),
            link_metrics: crate::link::LinkMetrics::register(&registry),
            detectors: None,
            metrics: crate::roster::RosterMetrics::register(&registry),
            view: crate::roster::RosterView::default(),
        });
        let args = WriterArgs {
            log: Arc::new(RwLock::new(log)),
            slot: slot.clone(),
            roster,
            metrics: metrics.clone(),
            config: cfg,
            clock: seawatch_runtime::Clock::system(),
        };
        // Events without a device: stored, not routed (no actors needed).
        for i in 0..3 {
            let obs = Observation::log("", 1, None, "app", &format!("queued {i}"));
            sender.try_send(batch(Source::Ndjson, vec![obs])).unwrap();
        }
        let mut rx = slot.lock().take().unwrap();
        // Stop was requested before the writer got to the queue (a shutdown racing
        // with ingest): the queued, already-accepted events must still be stored.
        let stop = AtomicBool::new(true);
        write_loop(&args, &mut rx, &stop, rt.handle()).unwrap();
        let log = args.log.read();
        assert_eq!(log.next_seq(), 4, "all 3 queued events stored");
        assert_eq!(log.durable_next_seq(), 4);
        assert_eq!(metrics.durable_total(), 3);
    }
}
