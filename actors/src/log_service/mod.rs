//! The ship's event log as a service: one writer, many followers (decision 0037).
//!
//! * **One writer.** [`LogService`] owns the ship's [`EventLog`]; only its writer (a
//!   supervised actor with a dedicated thread, [`writer`]) appends. Everything that
//!   writes goes through one bounded queue: ingest batches from the listeners
//!   ([`crate::ingest::pipeline::IngestSender`]) and records from inside the ship
//!   (incident events, [`LogService::append`]) alike, so a full queue slows every
//!   producer down and nothing appends around it.
//! * **A durable watermark.** After each append and fsync the writer publishes the log's
//!   durable end on a `watch` channel ([`LogReader::watermark`]). Readers only ever see
//!   events below it.
//! * **Readers.** [`LogReader`] is a read view (sync, the ClickHouse exporter, the
//!   correlator's replay, tools) that reads from any seq up to the watermark, directly
//!   or through a [`Cursor`]. It implements [`EventSource`].
//! * **Followers.** Routing stored observations to the roster is a follower
//!   ([`router`]), off the writer's thread: the writer hands each stored batch to a
//!   bounded queue and goes on appending; the router delivers a batch once the watermark
//!   covers it. A slow roster (a new device's start) delays routing, never durability;
//!   when the router's queue is full the writer first makes everything it wrote durable
//!   and then waits for room, so the listeners slow down (backpressure from the socket to
//!   the detectors) instead of anything being dropped. Events not handed to the router
//!   (its queue full while the writer stops, or an incarnation killed with a batch in
//!   hand) are counted, never silent.

pub mod router;
pub mod writer;

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use seawatch_runtime::event_log::{Event, EventLog, EventLogError, LogStats, NewEvent};
use tokio::sync::{mpsc, oneshot, watch};

use crate::ingest::metrics::IngestMetrics;
use crate::ingest::pipeline::{IngestSender, PipelineConfig};
use crate::ingest::record::IngestBatch;

pub use router::{router_child, RouterArgs, Tail};
pub use writer::{writer_child, WriterActor, WriterArgs, WriterMsg, RETENTION_EVERY};

/// One request to the writer.
pub enum WriteRequest {
    /// Observations from a listener (or the simulator): stored, then routed.
    Ingest(IngestBatch),
    /// Records from inside the ship (incident events): stored, not routed; the reply
    /// carries the seqs assigned.
    Append {
        /// The records, appended in order.
        events: Vec<NewEvent>,
        /// Answered once the records are written (durable by the fsync policy).
        reply: oneshot::Sender<Result<Range<u64>, String>>,
    },
}

/// Why [`LogService::append`] failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AppendError {
    /// The writer is not running and did not come back within the wait.
    #[error("event log writer not running")]
    Closed,
    /// The writer could not store the records.
    #[error("event log append failed: {0}")]
    Failed(String),
}

/// Queue ends handed from one incarnation of a child to the next.
pub(crate) type Slot<T> = Arc<Mutex<Option<mpsc::Receiver<T>>>>;

/// How long a new incarnation waits for the previous one to hand its queue back.
const SLOT_WAIT: Duration = Duration::from_secs(2);

/// Takes the queue end out of `slot`, waiting (up to [`SLOT_WAIT`]) for a previous
/// incarnation still draining it to put it back; `who` names the child in the error.
pub(crate) async fn take_slot<T>(slot: &Slot<T>, who: &str) -> Result<mpsc::Receiver<T>, String> {
    let deadline = tokio::time::Instant::now() + SLOT_WAIT;
    loop {
        if let Some(rx) = slot.lock().take() {
            return Ok(rx);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("the {who}'s queue is held by another {who}"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What the service's handles share.
struct Shared {
    /// The log. Only the writer takes it for writing.
    log: RwLock<EventLog>,
    ship: String,
    /// Durable end of the log, published by the writer.
    watermark: watch::Sender<u64>,
    /// The writer's queue (receiving end).
    queue: Slot<WriteRequest>,
    /// The router's queue: sending end (taken by the writer) and receiving end.
    tail_tx: mpsc::Sender<Tail>,
    tail_rx: Slot<Tail>,
    /// Whether a router follows the writer (else stored batches are not handed on).
    routed: std::sync::atomic::AtomicBool,
}

/// The ship's event log service. Cheap to clone. See the [module docs](self).
#[derive(Clone)]
pub struct LogService {
    shared: Arc<Shared>,
    tx: mpsc::Sender<WriteRequest>,
}

impl std::fmt::Debug for LogService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogService")
            .field("ship", &self.shared.ship)
            .field("watermark", &*self.shared.watermark.borrow())
            .finish()
    }
}

/// How long [`LogService::append`] waits for an answer (a writer restart included).
const APPEND_WAIT: Duration = Duration::from_secs(10);

impl LogService {
    /// Wraps an opened log; its queues are sized by `cfg`. Nothing runs until the
    /// writer child ([`LogService::writer_child`]) is started.
    pub fn new(log: EventLog, cfg: &PipelineConfig) -> Self {
        let (tx, rx) = mpsc::channel(cfg.queue_batches.max(1));
        let (tail_tx, tail_rx) = mpsc::channel(cfg.route_batches.max(1));
        let ship = log.ship_id().to_owned();
        let durable = log.durable_next_seq();
        Self {
            shared: Arc::new(Shared {
                log: RwLock::new(log),
                ship,
                watermark: watch::channel(durable).0,
                queue: Arc::new(Mutex::new(Some(rx))),
                tail_tx,
                tail_rx: Arc::new(Mutex::new(Some(tail_rx))),
                routed: std::sync::atomic::AtomicBool::new(false),
            }),
            tx,
        }
    }

    /// The listeners' side of the writer's queue.
    pub fn ingest_sender(&self, metrics: IngestMetrics) -> IngestSender {
        IngestSender::new(self.tx.clone(), metrics)
    }

    /// A read view of the log.
    pub fn reader(&self) -> LogReader {
        LogReader {
            shared: self.shared.clone(),
        }
    }

    /// The ship id of the log.
    pub fn ship_id(&self) -> &str {
        &self.shared.ship
    }

    /// Appends `events` through the writer's queue (waiting for room) and returns the
    /// seqs they were given. Waits up to 10 s for a writer that is restarting.
    pub async fn append(&self, events: Vec<NewEvent>) -> Result<Range<u64>, AppendError> {
        if events.is_empty() {
            let next = self.shared.log.read().next_seq();
            return Ok(next..next);
        }
        let (reply, rx) = oneshot::channel();
        let req = WriteRequest::Append { events, reply };
        let answer = tokio::time::timeout(APPEND_WAIT, async {
            self.tx.send(req).await.map_err(|_| AppendError::Closed)?;
            rx.await.map_err(|_| AppendError::Closed)
        })
        .await
        .map_err(|_| AppendError::Closed)??;
        answer.map_err(AppendError::Failed)
    }

    /// The writer child (see [`writer`]).
    pub fn writer_child(
        &self,
        metrics: IngestMetrics,
        config: PipelineConfig,
        clock: seawatch_runtime::Clock,
    ) -> seawatch_runtime::supervision::ChildSpec {
        writer_child(self.writer_args(metrics, config, clock)).0
    }

    /// The writer's start arguments, for running it outside a supervision tree (tests,
    /// tools): `ractor::Actor::spawn(None, WriterActor, args)`.
    pub fn writer_args(
        &self,
        metrics: IngestMetrics,
        config: PipelineConfig,
        clock: seawatch_runtime::Clock,
    ) -> WriterArgs {
        WriterArgs {
            service: self.clone(),
            metrics,
            config,
            clock,
        }
    }

    /// The router follower (see [`router`]); from now on the writer hands every stored
    /// ingest batch to it. It remembers the batches for `traces` (decision 0057).
    pub fn router_child(
        &self,
        roster: crate::roster::Roster,
        metrics: IngestMetrics,
        traces: crate::otel::Traces,
    ) -> seawatch_runtime::supervision::ChildSpec {
        self.shared
            .routed
            .store(true, std::sync::atomic::Ordering::Release);
        router_child(RouterArgs {
            slot: self.shared.tail_rx.clone(),
            reader: self.reader(),
            roster,
            metrics,
            traces,
        })
    }
}

/// A read view of the ship's event log: events from any seq up to the durable
/// watermark. Cheap to clone.
#[derive(Clone)]
pub struct LogReader {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader")
            .field("ship", &self.shared.ship)
            .finish()
    }
}

impl LogReader {
    /// Ship id of the log.
    pub fn ship_id(&self) -> &str {
        &self.shared.ship
    }

    /// Oldest stored seq.
    pub fn first_seq(&self) -> u64 {
        self.shared.log.read().first_seq()
    }

    /// The seq the next appended event gets (events at and above the watermark are
    /// written but not yet durable, and not readable).
    pub fn next_seq(&self) -> u64 {
        self.shared.log.read().next_seq()
    }

    /// Seq after the last durable event: what readers can read.
    pub fn durable_next_seq(&self) -> u64 {
        self.shared.log.read().durable_next_seq()
    }

    /// Up to `max` durable events from `seq` on (see [`EventLog::read_from`]).
    pub fn read_from(&self, seq: u64, max: usize) -> Result<Vec<Event>, EventLogError> {
        self.shared.log.read().read_from(seq, max)
    }

    /// Visits the durable events of `ranges` without copying them (see
    /// [`EventLog::visit`]); holds the log's read lock meanwhile.
    pub fn visit(
        &self,
        ranges: &[std::ops::Range<u64>],
        f: &mut dyn FnMut(seawatch_runtime::event_log::EventRef<'_>),
    ) -> Result<u64, EventLogError> {
        self.shared.log.read().visit(ranges, f)
    }

    /// Counters and sizes of the log.
    pub fn stats(&self) -> LogStats {
        self.shared.log.read().stats()
    }

    /// The durable watermark as the writer publishes it (seq after the last durable
    /// event): `changed().await` to wait for new events.
    pub fn watermark(&self) -> watch::Receiver<u64> {
        self.shared.watermark.subscribe()
    }

    /// A cursor reading from `seq` on.
    pub fn cursor(&self, seq: u64) -> Cursor {
        Cursor {
            reader: self.clone(),
            next: seq,
            watermark: self.watermark(),
        }
    }
}

/// A reader's position in the log (see [`LogReader::cursor`]).
#[derive(Debug)]
pub struct Cursor {
    reader: LogReader,
    next: u64,
    watermark: watch::Receiver<u64>,
}

impl Cursor {
    /// The next seq this cursor reads.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Up to `max` durable events from the cursor on, advancing it; empty when the
    /// cursor is at the watermark.
    pub fn poll(&mut self, max: usize) -> Result<Vec<Event>, EventLogError> {
        let from = self.next.max(self.reader.first_seq());
        if from >= self.reader.durable_next_seq() {
            return Ok(Vec::new());
        }
        let v = self.reader.read_from(from, max)?;
        if let Some(last) = v.last() {
            self.next = last.seq + 1;
        }
        Ok(v)
    }

    /// Like [`Cursor::poll`], waiting for the watermark to pass the cursor first.
    /// `None` once the log service is gone.
    pub async fn next(&mut self, max: usize) -> Option<Result<Vec<Event>, EventLogError>> {
        loop {
            let got = self.poll(max);
            if !matches!(&got, Ok(v) if v.is_empty()) {
                return Some(got);
            }
            self.watermark.changed().await.ok()?;
        }
    }
}

/// Read access to a ship's event log (the sync engine and the ClickHouse exporter read
/// through it; [`LogReader`] is the ship's). Calls may block briefly: run them where
/// that is fine (a blocking thread, or small reads).
pub trait EventSource: Send + Sync + 'static {
    /// Ship id of the log.
    fn ship_id(&self) -> String;
    /// Oldest stored seq.
    fn first_seq(&self) -> u64;
    /// Seq after the last durable event.
    fn durable_next_seq(&self) -> u64;
    /// Up to `max` durable events from `seq` on (see [`EventLog::read_from`]).
    fn read_from(&self, seq: u64, max: usize) -> Result<Vec<Event>, EventLogError>;
}

impl EventSource for LogReader {
    fn ship_id(&self) -> String {
        self.shared.ship.clone()
    }
    fn first_seq(&self) -> u64 {
        LogReader::first_seq(self)
    }
    fn durable_next_seq(&self) -> u64 {
        LogReader::durable_next_seq(self)
    }
    fn read_from(&self, seq: u64, max: usize) -> Result<Vec<Event>, EventLogError> {
        LogReader::read_from(self, seq, max)
    }
}

#[cfg(test)]
mod tests;
