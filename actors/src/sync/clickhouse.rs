//! The shore's fleet log in ClickHouse: a [`FleetStore`] that keeps every ship's events
//! in one ClickHouse table, exactly once by (ship, seq).
//!
//! It reuses the ship-side exporter's [`ClickHouseSink`] (same table layout, `RowBinary`
//! inserts without schema validation, which ClickHouse 18.16 lacks) and its way to
//! exactly-once: **ask before insert, and a replacing table as the backstop.**
//!
//! * Before inserting a batch the store asks ClickHouse which of its seqs it already holds
//!   ([`ClickHouseSink::existing_seqs`]) and inserts only the rest. A batch re-applied
//!   after a shore restart (events inserted, position not yet moved) thus inserts nothing.
//! * The lane positions go to a second table, `<table>_positions`, *after* the events; a
//!   crash between the two leaves shore behind (the batch comes again and is filtered by
//!   the check above), never ahead.
//! * The events table is a `ReplacingMergeTree` keyed by `(ship, ts, seq)`, so a row that
//!   slips in twice anyway (two nodes briefly serving one ship during a failover, each
//!   checking before the other inserted) is merged away and never counts in
//!   `uniqExact(seq)` or `SELECT ... FINAL`. [`FleetStore::duplicates`] reports rows
//!   stored twice before such merges (an audit figure; it stays 0 in the tests).
//!
//! The [`FleetStore`] trait is synchronous (the embedded shore calls it inline); this
//! store runs its requests on a runtime of its own, on its own thread, and waits for the
//! answer, so it works from any caller (async or not) without nesting runtimes. The
//! NATS shore node calls the async methods directly.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use parking_lot::Mutex;
use seawatch_runtime::event_log::Event;

use super::wire::Lane;
use crate::store::clickhouse::{ClickHouseConfig, ClickHouseSink, SinkError};

use super::shore::FleetStore;

/// A [`FleetStore`] in ClickHouse. See the [module docs](self).
pub struct ClickHouseFleetStore {
    sink: ClickHouseSink,
    positions_table: String,
    /// Distinct events per ship, read from ClickHouse on first use, then kept up to date.
    counts: Mutex<HashMap<String, u64>>,
    rt: tokio::runtime::Handle,
    /// Dropping this ends the store's runtime thread.
    _stop: std::sync::mpsc::Sender<()>,
}

impl std::fmt::Debug for ClickHouseFleetStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseFleetStore")
            .field("sink", &self.sink)
            .finish_non_exhaustive()
    }
}

#[derive(clickhouse::Row, serde::Serialize)]
struct PositionRow<'a> {
    ship: &'a str,
    lane: u8,
    next: u64,
}

impl ClickHouseFleetStore {
    /// Connects to ClickHouse per `config` and creates the database and both tables if
    /// they are missing.
    pub async fn open(config: ClickHouseConfig) -> Result<Arc<Self>, SinkError> {
        let sink = ClickHouseSink::new(config)?;
        let positions_table = format!("{}_positions", sink.config().table);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (htx, hrx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("shore-clickhouse".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = htx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = htx.send(Ok(rt.handle().clone()));
                // Runs the spawned requests until the store is dropped.
                rt.block_on(async move {
                    let _ = tokio::task::spawn_blocking(move || rx.recv()).await;
                });
            })
            .map_err(|e| SinkError::InvalidConfig(format!("cannot start its thread: {e}")))?;
        let rt = hrx
            .recv()
            .map_err(|e| SinkError::InvalidConfig(e.to_string()))?
            .map_err(SinkError::InvalidConfig)?;
        let store = Arc::new(Self {
            sink,
            positions_table,
            counts: Mutex::new(HashMap::new()),
            rt,
            _stop: tx,
        });
        store.ensure_schema().await?;
        Ok(store)
    }

    /// The sink underneath (for ad-hoc queries, e.g. audits).
    pub fn sink(&self) -> &ClickHouseSink {
        &self.sink
    }

    /// Creates the database, the events table and the positions table if missing.
    pub async fn ensure_schema(&self) -> Result<(), SinkError> {
        let sink = self.sink.clone();
        let db = self.sink.config().database.clone();
        let t = self.positions_table.clone();
        self.run(async move {
            sink.ensure_schema().await?;
            // One row per (ship, lane) write; the highest `next` wins (readers take max).
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS `{db}`.`{t}` (ship String, lane UInt8, next UInt64) \
                 ENGINE = ReplacingMergeTree(next) ORDER BY (ship, lane)"
            );
            sink.client().query(&sql).execute().await?;
            Ok(())
        })
        .await
    }

    /// Runs `f` on the store's runtime (the `clickhouse` client's I/O lives there).
    async fn run<T: Send + 'static>(
        &self,
        f: impl Future<Output = Result<T, SinkError>> + Send + 'static,
    ) -> Result<T, SinkError> {
        match self.rt.spawn(f).await {
            Ok(r) => r,
            Err(e) => Err(SinkError::InvalidConfig(format!("store task: {e}"))),
        }
    }

    /// Waits for `f` from synchronous code (any thread, inside a runtime or not).
    fn block<T: Send + 'static>(
        &self,
        f: impl Future<Output = Result<T, SinkError>> + Send + 'static,
    ) -> Result<T, SinkError> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.rt.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv()
            .map_err(|_| SinkError::InvalidConfig("store runtime stopped".into()))?
    }

    /// Stores the events of `ship` not already in ClickHouse; returns (newly stored,
    /// already present). Does not touch positions (the NATS shore keeps them in its KV
    /// bucket).
    pub async fn store_events(
        &self,
        ship: &str,
        events: &[Event],
    ) -> Result<(u64, u64), SinkError> {
        let base = self.count_async(ship).await?;
        let (new, present) = self
            .run(insert_fresh(
                self.sink.clone(),
                ship.to_owned(),
                events.to_vec(),
            ))
            .await?;
        self.counts.lock().insert(ship.to_owned(), base + new);
        Ok((new, present))
    }

    /// Distinct events stored for `ship` (`uniqExact(seq)`, cached after the first read).
    pub async fn count_async(&self, ship: &str) -> Result<u64, SinkError> {
        if let Some(c) = self.counts.lock().get(ship) {
            return Ok(*c);
        }
        let c = self
            .run(distinct(self.sink.clone(), ship.to_owned()))
            .await?;
        Ok(*self.counts.lock().entry(ship.to_owned()).or_insert(c))
    }

    /// Rows of `ship` stored more than once and not merged away yet.
    pub async fn duplicate_rows(&self, ship: &str) -> Result<u64, SinkError> {
        self.run(self.duplicates_query(ship)).await
    }

    /// The query behind [`Self::duplicate_rows`], as a task for the store's runtime.
    fn duplicates_query(
        &self,
        ship: &str,
    ) -> impl Future<Output = Result<u64, SinkError>> + Send + 'static {
        let sink = self.sink.clone();
        let table = sink.config().table.clone();
        let ship = ship.to_owned();
        async move {
            let sql = format!("SELECT count() - uniqExact(seq) FROM `{table}` WHERE ship = ?");
            Ok(sink
                .client()
                .query(&sql)
                .bind(ship)
                .fetch_one::<u64>()
                .await?)
        }
    }

    /// The log search of `GET /api/logs` over the stored events of `ships` (blocking;
    /// call it from a blocking thread): see
    /// [`clickhouse_search`](crate::store::clickhouse_search).
    pub fn search_logs(
        &self,
        ships: Vec<String>,
        query: crate::store::Query,
    ) -> Result<Vec<(String, Event)>, SinkError> {
        let sink = self.sink.clone();
        self.block(
            async move { crate::store::clickhouse_search::search(&sink, &ships, &query).await },
        )
    }

    fn try_positions_inner(&self, ship: &str) -> Result<[u64; 4], SinkError> {
        let sink = self.sink.clone();
        let t = self.positions_table.clone();
        let ship = ship.to_owned();
        self.block(async move {
            let sql = format!("SELECT lane, max(next) FROM `{t}` WHERE ship = ? GROUP BY lane");
            let rows: Vec<(u8, u64)> = sink.client().query(&sql).bind(ship).fetch_all().await?;
            let mut p = [0u64; 4];
            for (lane, next) in rows {
                if let Some(slot) = p.get_mut(lane as usize) {
                    *slot = next;
                }
            }
            Ok(p)
        })
    }

    fn try_store_inner(
        &self,
        ship: &str,
        lane: Lane,
        events: &[Event],
        next: u64,
    ) -> Result<(u64, u64), SinkError> {
        let base = self.block({
            let (sink, s) = (self.sink.clone(), ship.to_owned());
            let cached = self.counts.lock().get(ship).copied();
            async move {
                match cached {
                    Some(c) => Ok(c),
                    None => distinct(sink, s).await,
                }
            }
        })?;
        let sink = self.sink.clone();
        let t = self.positions_table.clone();
        let (s, evs) = (ship.to_owned(), events.to_vec());
        let lane_ix = lane.index() as u8;
        let (new, present) = self.block(async move {
            let r = insert_fresh(sink.clone(), s.clone(), evs).await?;
            // Positions only after the events: a crash in between leaves shore behind.
            let mut ins = sink.client().insert::<PositionRow<'_>>(&t).await?;
            ins.write(&PositionRow {
                ship: &s,
                lane: lane_ix,
                next,
            })
            .await?;
            ins.end().await?;
            Ok(r)
        })?;
        self.counts.lock().insert(ship.to_owned(), base + new);
        Ok((new, present))
    }
}

/// Inserts the events of `ship` ClickHouse does not hold yet.
async fn insert_fresh(
    sink: ClickHouseSink,
    ship: String,
    events: Vec<Event>,
) -> Result<(u64, u64), SinkError> {
    if events.is_empty() {
        return Ok((0, 0));
    }
    let existing = sink.existing_seqs(&events, &ship).await?;
    let fresh: Vec<Event> = events
        .into_iter()
        .filter(|e| existing.binary_search(&e.seq).is_err())
        .collect();
    sink.insert(&fresh, &ship).await?;
    Ok((fresh.len() as u64, existing.len() as u64))
}

async fn distinct(sink: ClickHouseSink, ship: String) -> Result<u64, SinkError> {
    let sql = format!(
        "SELECT uniqExact(seq) FROM `{}` WHERE ship = ?",
        sink.config().table
    );
    Ok(sink
        .client()
        .query(&sql)
        .bind(ship)
        .fetch_one::<u64>()
        .await?)
}

impl FleetStore for ClickHouseFleetStore {
    fn store(&self, ship: &str, lane: Lane, events: &[Event], next: u64) -> (u64, u64) {
        self.try_store(ship, lane, events, next).unwrap_or((0, 0))
    }

    fn try_store(
        &self,
        ship: &str,
        lane: Lane,
        events: &[Event],
        next: u64,
    ) -> Result<(u64, u64), String> {
        self.try_store_inner(ship, lane, events, next)
            .map_err(|e| e.to_string())
    }

    fn positions(&self, ship: &str) -> [u64; 4] {
        self.try_positions(ship).unwrap_or([0; 4])
    }

    fn try_positions(&self, ship: &str) -> Result<[u64; 4], String> {
        self.try_positions_inner(ship).map_err(|e| e.to_string())
    }

    fn count(&self, ship: &str) -> u64 {
        if let Some(c) = self.counts.lock().get(ship) {
            return *c;
        }
        let c = self.block(distinct(self.sink.clone(), ship.to_owned()));
        match c {
            Ok(c) => *self.counts.lock().entry(ship.to_owned()).or_insert(c),
            Err(_) => 0,
        }
    }

    fn contains(&self, ship: &str, seq: u64) -> bool {
        let sink = self.sink.clone();
        let ship = ship.to_owned();
        self.block(async move {
            let sql = format!(
                "SELECT count() FROM `{}` WHERE ship = ? AND seq = ?",
                sink.config().table
            );
            Ok(sink
                .client()
                .query(&sql)
                .bind(ship)
                .bind(seq)
                .fetch_one::<u64>()
                .await?)
        })
        .is_ok_and(|n| n > 0)
    }

    fn duplicates(&self, ship: &str) -> u64 {
        self.block(self.duplicates_query(ship)).unwrap_or(0)
    }
}
