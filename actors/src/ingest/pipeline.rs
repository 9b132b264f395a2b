//! The ship's ingest pipeline: listeners → the event log's bounded queue → its one
//! writer, which appends each batch durably → the router follower, which hands the
//! observations to the ship's roster ([`crate::roster`]) once they are durable (see
//! [`crate::log_service`]).
//!
//! Backpressure: both queues are bounded. TCP and HTTP readers `await` a free slot, so a
//! pipeline that falls behind (the writer, or the router behind it) slows its senders
//! down; UDP cannot wait, so a full queue drops the datagram's events and counts them.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::metrics::IngestMetrics;
use super::record::{IngestBatch, Observation, Source};
use crate::log_service::WriteRequest;

/// Queue and batch sizes.
#[derive(Debug, Clone, Copy)]
pub struct PipelineConfig {
    /// Requests the writer's queue holds before senders wait (or UDP drops).
    pub queue_batches: usize,
    /// Stored frames the router's queue holds before the writer waits for it.
    pub route_batches: usize,
    /// Most events appended as one event-log batch.
    pub max_append_events: usize,
    /// How often an idle writer checks for a due fsync.
    pub idle_tick: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            queue_batches: 64,
            route_batches: 16,
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
    tx: mpsc::Sender<WriteRequest>,
    metrics: IngestMetrics,
}

impl IngestSender {
    /// A sender into the event log's queue (see [`crate::log_service::LogService::ingest_sender`]).
    pub(crate) fn new(tx: mpsc::Sender<WriteRequest>, metrics: IngestMetrics) -> Self {
        Self { tx, metrics }
    }

    /// Queues a batch, waiting for room (backpressure).
    pub async fn send(&self, batch: IngestBatch) -> Result<(), SendError> {
        let (source, n) = (batch.source, batch.items.len() as u64);
        if n == 0 {
            return Ok(());
        }
        self.tx
            .send(WriteRequest::Ingest(batch))
            .await
            .map_err(|_| SendError::Closed)?;
        self.metrics.accepted(source, n);
        Ok(())
    }

    /// Queues a batch if there is room now; a full queue counts the events as dropped.
    pub fn try_send(&self, batch: IngestBatch) -> Result<(), SendError> {
        let (source, n) = (batch.source, batch.items.len() as u64);
        if n == 0 {
            return Ok(());
        }
        match self.tx.try_send(WriteRequest::Ingest(batch)) {
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

    /// Queues a batch (waiting for room) and waits until it is durable in the event log:
    /// group commit, one fsync for whatever the writer stores in the same round. For
    /// senders that acknowledge (HTTP ingest answers 2xx only after this).
    pub async fn send_durable(&self, mut batch: IngestBatch) -> Result<(), SendError> {
        if batch.items.is_empty() {
            return Ok(());
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        batch.stored = Some(tx);
        self.send(batch).await?;
        rx.await.map_err(|_| SendError::Closed)
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
            stored: None,
        };
        self.tx
            .send(WriteRequest::Ingest(b))
            .await
            .map_err(|_| SendError::Closed)?;
        rx.await.map_err(|_| SendError::Closed)
    }

    /// The ship's ingest metrics.
    pub fn metrics(&self) -> &IngestMetrics {
        &self.metrics
    }
}

/// Counts events accepted from `source` in tests and the simulator, bypassing listeners.
pub fn batch(source: Source, items: Vec<Observation>) -> IngestBatch {
    IngestBatch {
        source,
        received: Instant::now(),
        items,
        done: None,
        stored: None,
    }
}
