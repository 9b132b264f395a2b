//! The log's one writer: a supervised actor that owns a dedicated thread (file I/O and
//! fsync never run on the async workers). It takes requests from the bounded queue,
//! appends them as one frame, publishes the durable watermark and hands stored ingest
//! batches to the router follower.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use seawatch_runtime::event_log::{EventLog, EventLogError, NewEvent};
use seawatch_runtime::supervision::{Addr, ChildSpec};
use tokio::sync::mpsc;

use super::{LogService, Tail, WriteRequest};
use crate::ingest::metrics::IngestMetrics;
use crate::ingest::pipeline::PipelineConfig;
use crate::ingest::record::Observation;
use crate::ingest::record::ObservationExt;

/// Messages of the event-log writer actor.
pub enum WriterMsg {
    /// The writer thread ended; an error fails the actor (and its supervisor restarts it).
    ThreadExited(Result<(), String>),
}

/// Start arguments of the writer actor.
#[derive(Clone)]
pub struct WriterArgs {
    /// The log service whose log this writer appends to.
    pub service: LogService,
    /// Metrics.
    pub metrics: IngestMetrics,
    /// Sizes.
    pub config: PipelineConfig,
    /// Time, for retention by age.
    pub clock: seawatch_runtime::Clock,
}

/// How often the writer applies the event log's retention policy.
pub const RETENTION_EVERY: Duration = Duration::from_secs(10);

/// The event-log writer actor.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriterActor;

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
        let slot = args.service.shared.queue.clone();
        let rx = super::take_slot(&slot, "event log writer").await?;
        let stop = Arc::new(AtomicBool::new(false));
        let handle = tokio::runtime::Handle::current();
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("eventlog-writer".into())
            .spawn(move || {
                let mut rx = rx;
                let result = write_loop(&args, &mut rx, &stop2, &handle);
                *slot.lock() = Some(rx);
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

/// The writer thread's view of the service.
struct Writer<'a> {
    args: &'a WriterArgs,
    last_durable: u64,
}

impl Writer<'_> {
    /// Publishes the durable end: the watermark and the `eventlog_events` counter.
    fn publish(&mut self, log: &EventLog) {
        let durable = log.durable_next_seq();
        if durable > self.last_durable {
            self.args.metrics.durable(durable - self.last_durable);
            self.last_durable = durable;
            self.args.service.shared.watermark.send_replace(durable);
        }
    }

    /// Forces everything written to disk and publishes it.
    fn sync(&mut self) -> Result<(), EventLogError> {
        let mut log = self.args.service.shared.log.write();
        log.sync()?;
        self.publish(&log);
        Ok(())
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
    rx: &mut mpsc::Receiver<WriteRequest>,
    stop: &AtomicBool,
    rt: &tokio::runtime::Handle,
) -> Result<(), EventLogError> {
    let shared = &args.service.shared;
    let mut w = Writer {
        args,
        last_durable: shared.log.read().durable_next_seq(),
    };
    // A previous incarnation may have made events durable without publishing them
    // (it failed in between): a follower waiting for them must not wait for the next
    // append.
    shared.watermark.send_if_modified(|v| {
        let changed = *v != w.last_durable;
        *v = w.last_durable;
        changed
    });
    let mut last_retention = Instant::now();
    let mut events: Vec<NewEvent> = Vec::with_capacity(args.config.max_append_events);
    // Set once stopping: how many more queued requests to store before the final sync.
    let mut drain: Option<usize> = None;
    loop {
        let first = if stop.load(Ordering::Acquire) {
            // Stopping (shutdown or a restart): store what is already queued, since its
            // events were counted accepted. Bounded by the queue's length now, so that
            // steady ingest cannot hold the stop up; later requests stay queued for the
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
                    let mut log = shared.log.write();
                    log.flush_if_due()?;
                    w.publish(&log);
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
        let mut requests = vec![first];
        let mut n = request_len(&requests[0]);
        while n < args.config.max_append_events {
            if let Some(left) = drain.as_mut() {
                if *left == 0 {
                    break;
                }
                *left -= 1;
            }
            match rx.try_recv() {
                Ok(r) => {
                    n += request_len(&r);
                    requests.push(r);
                }
                Err(_) => break,
            }
        }
        // One frame for all of them, in queue order.
        events.clear();
        for r in &requests {
            match r {
                WriteRequest::Ingest(b) => events.extend(b.items.iter().map(Observation::to_event)),
                WriteRequest::Append { events: e, .. } => events.extend(e.iter().cloned()),
            }
        }
        let barrier = requests.iter().any(
            |r| matches!(r, WriteRequest::Ingest(b) if b.done.is_some() || b.stored.is_some()),
        );
        let appended = {
            let mut log = shared.log.write();
            let r = log.append_batch(std::mem::take(&mut events));
            let r = r.and_then(|range| {
                // A barrier answers once what came before it is routed, and the router
                // delivers only what is durable; a sender waiting for durability is
                // answered after this round: make it durable now (one fsync for all).
                if barrier {
                    log.sync()?;
                } else {
                    log.flush_if_due()?;
                }
                Ok(range)
            });
            w.publish(&log);
            args.metrics.eventlog_bytes(log.stats().bytes);
            r
        };
        let range = match appended {
            Ok(range) => range,
            Err(e) => {
                for r in requests {
                    if let WriteRequest::Append { reply, .. } = r {
                        let _ = reply.send(Err(e.to_string()));
                    }
                }
                return Err(e);
            }
        };
        // Answer the records' senders and gather the ingest batches for the router.
        let mut seq = range.start;
        let mut tail = Tail {
            end: range.end,
            batches: Vec::new(),
            done: Vec::new(),
        };
        for r in requests {
            match r {
                WriteRequest::Append { events, reply } => {
                    let n = events.len() as u64;
                    let _ = reply.send(Ok(seq..seq + n));
                    seq += n;
                }
                WriteRequest::Ingest(mut b) => {
                    seq += b.items.len() as u64;
                    if let Some(stored) = b.stored.take() {
                        let _ = stored.send(());
                    }
                    if !b.items.is_empty() {
                        tail.batches.push((b.received, b.items));
                    }
                    tail.done.extend(b.done);
                }
            }
        }
        hand_to_router(&mut w, tail, drain.is_some(), stop, rt)?;
    }
    w.sync()
}

fn request_len(r: &WriteRequest) -> usize {
    match r {
        WriteRequest::Ingest(b) => b.items.len(),
        WriteRequest::Append { events, .. } => events.len(),
    }
}

/// Hands a stored batch to the router follower. A full router queue makes the writer
/// wait (after making what it wrote durable, so that the router can go on and no reader
/// waits for a follower); a stopping writer does not wait and counts what it could not
/// hand on.
fn hand_to_router(
    w: &mut Writer<'_>,
    tail: Tail,
    stopping: bool,
    stop: &AtomicBool,
    rt: &tokio::runtime::Handle,
) -> Result<(), EventLogError> {
    let shared = &w.args.service.shared;
    if !shared.routed.load(Ordering::Acquire) {
        // Nobody follows (tests, tools): a barrier answers once stored.
        for d in tail.done {
            let _ = d.send(());
        }
        return Ok(());
    }
    if tail.batches.is_empty() && tail.done.is_empty() {
        return Ok(());
    }
    let tail = match shared.tail_tx.try_send(tail) {
        Ok(()) => return Ok(()),
        Err(mpsc::error::TrySendError::Full(t)) => t,
        Err(mpsc::error::TrySendError::Closed(t)) => {
            w.args.metrics.route_shed(t.events());
            return Ok(());
        }
    };
    if stopping || stop.load(Ordering::Acquire) {
        w.args.metrics.route_shed(tail.events());
        return Ok(());
    }
    w.sync()?;
    let events = tail.events();
    let sent = rt.block_on(async {
        tokio::select! {
            r = shared.tail_tx.send(tail) => r.is_ok(),
            // Waiting for a router that is restarting ends when this writer is told to
            // stop (on shutdown the router stops first, for good).
            _ = until_stopped(stop) => false,
        }
    });
    if !sent {
        w.args.metrics.route_shed(events);
    }
    Ok(())
}

/// Builds the child spec of the writer actor.
pub fn writer_child(args: WriterArgs) -> (ChildSpec, Addr<WriterMsg>) {
    ChildSpec::actor("eventlog-writer", "eventlog", move || {
        (WriterActor, args.clone())
    })
}

#[cfg(test)]
pub(super) fn run_until_drained(
    args: &WriterArgs,
    stop_first: bool,
    rt: &tokio::runtime::Handle,
) -> Result<(), EventLogError> {
    let mut rx = args.service.shared.queue.lock().take().expect("queue free");
    let stop = AtomicBool::new(stop_first);
    let r = write_loop(args, &mut rx, &stop, rt);
    *args.service.shared.queue.lock() = Some(rx);
    r
}
