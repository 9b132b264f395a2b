//! ClickHouse sink and exporter for the ship's event log.
//!
//! * [`ClickHouseSink`] talks to one ClickHouse server over HTTP with the `clickhouse`
//!   crate: [`ensure_schema`](ClickHouseSink::ensure_schema) creates the database and a
//!   `ReplacingMergeTree` table, [`insert`](ClickHouseSink::insert) writes events as
//!   `RowBinary` (lz4-compressed request bodies when configured), with the crate's schema
//!   validation off: validation needs `RowBinaryWithNamesAndTypes`, which ClickHouse 18.16
//!   (Debian's) does not have.
//! * [`ClickHouseExporter`] follows the event log from its acknowledged position, ships
//!   batches and persists the position in a small cursor file (write, fsync, rename) only
//!   after ClickHouse confirmed the insert. While ClickHouse is unreachable it retries with
//!   exponential backoff and jitter; the event log is the buffer, so nothing is lost as long
//!   as the log's retention keeps the unshipped events.
//!
//! **Delivery is at-least-once, deduplicated.** An insert that ClickHouse applied but whose
//! reply was lost, or a crash between the insert and the cursor write, leaves rows in
//! ClickHouse that the exporter will send again. Two defences: on start and after any failed
//! attempt, the exporter first asks ClickHouse which seqs of the batch it already holds and
//! sends only the rest (and keeps asking for the following batches until one finds none of
//! its events stored); and the table is a `ReplacingMergeTree` whose sorting key
//! `(ship, ts, seq)` identifies an event, so a duplicate that still slips through (e.g. the
//! server applying an insert after the check timed out) is removed by background merges and
//! never shows in `SELECT ... FINAL` or `uniqExact(ship, seq)`.
//!
//! Schema and the limits of ClickHouse 18.16 are in `docs/clickhouse.md`.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clickhouse::{Client, Compression};
use rand::Rng;
use seawatch_runtime::event_log::{Event, EventKind, EventLogError};
use serde::Serialize;
use tokio::sync::watch;

/// Where and how to write events into ClickHouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickHouseConfig {
    /// HTTP endpoint, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Database (created by [`ClickHouseSink::ensure_schema`]). Letters, digits, `_`.
    pub database: String,
    /// Table (created by [`ClickHouseSink::ensure_schema`]). Letters, digits, `_`.
    pub table: String,
    /// User name; `None` for the server's `default` user.
    pub user: Option<String>,
    /// Password of `user`.
    pub password: Option<String>,
    /// Most events in one `INSERT`.
    pub batch_max_events: usize,
    /// lz4-compress insert bodies (ClickHouse's native framing, `decompress=1`).
    pub compression: bool,
    /// Upper bound on each request (insert, schema, check).
    pub request_timeout: Duration,
}

impl ClickHouseConfig {
    /// Defaults for a server at `url`: database `seawatch`, table `events`, default user,
    /// 10,000 events per insert, lz4 on, 30 s per request.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            database: "seawatch".into(),
            table: "events".into(),
            user: None,
            password: None,
            batch_max_events: 10_000,
            compression: true,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Errors of the ClickHouse sink and exporter.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The configuration is unusable.
    #[error("invalid clickhouse config: {0}")]
    InvalidConfig(String),
    /// ClickHouse (or the network) refused the request.
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    /// A request took longer than [`ClickHouseConfig::request_timeout`].
    #[error("clickhouse request timed out after {0:?}")]
    Timeout(Duration),
    /// Reading the event log failed.
    #[error(transparent)]
    Log(#[from] EventLogError),
    /// Reading or writing the cursor file failed.
    #[error("cursor file {path}: {source}")]
    Cursor {
        /// The cursor file.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
}

/// One row of the events table, serialised as `RowBinary` in column order.
#[derive(clickhouse::Row, Serialize)]
struct EventRow<'a> {
    ship: &'a str,
    seq: u64,
    /// `DateTime`: unix seconds, clamped to its `UInt32` range.
    ts: u32,
    /// Exact event time, unix ms.
    ts_ms: i64,
    /// `Enum8`, i.e. `Int8` on the wire.
    kind: i8,
    source: &'a str,
    severity: u8,
    body: &'a str,
}

fn kind_code(k: EventKind) -> i8 {
    match k {
        EventKind::Log => 0,
        EventKind::Metric => 1,
        EventKind::Incident => 2,
        EventKind::State => 3,
        EventKind::Control => 4,
        EventKind::Other => 5,
    }
}

fn ts_seconds(ts_ms: i64) -> u32 {
    ts_ms.div_euclid(1000).clamp(0, i64::from(u32::MAX)) as u32
}

fn valid_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

/// Writes events into one ClickHouse table. See the [module docs](self).
#[derive(Clone)]
pub struct ClickHouseSink {
    config: ClickHouseConfig,
    /// Client bound to `config.database`.
    client: Client,
    /// Client without a database, for `CREATE DATABASE`.
    server: Client,
}

impl std::fmt::Debug for ClickHouseSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseSink")
            .field("url", &self.config.url)
            .field("database", &self.config.database)
            .field("table", &self.config.table)
            .finish_non_exhaustive()
    }
}

impl ClickHouseSink {
    /// A sink for `config`. Does not connect; see [`ensure_schema`](Self::ensure_schema).
    pub fn new(config: ClickHouseConfig) -> Result<Self, SinkError> {
        for (what, v) in [("database", &config.database), ("table", &config.table)] {
            if !valid_ident(v) {
                return Err(SinkError::InvalidConfig(format!(
                    "{what} {v:?}: expected letters, digits and '_' (not starting with a digit)"
                )));
            }
        }
        if !(config.url.starts_with("http://") || config.url.starts_with("https://")) {
            return Err(SinkError::InvalidConfig(format!(
                "url {:?}: expected http://HOST:PORT",
                config.url
            )));
        }
        if config.url.starts_with("https://") {
            return Err(SinkError::InvalidConfig(
                "https is not built in; reach ClickHouse over http (e.g. through a local TLS tunnel)"
                    .into(),
            ));
        }
        if config.batch_max_events == 0 {
            return Err(SinkError::InvalidConfig(
                "batch_max_events must be > 0".into(),
            ));
        }
        let mut server = Client::default()
            .with_url(&config.url)
            // Validation needs RowBinaryWithNamesAndTypes (absent in ClickHouse 18.16).
            .with_validation(false)
            .with_compression(if config.compression {
                Compression::Lz4
            } else {
                Compression::None
            });
        if let Some(u) = &config.user {
            server = server.with_user(u);
        }
        if let Some(p) = &config.password {
            server = server.with_password(p);
        }
        let client = server.clone().with_database(&config.database);
        Ok(Self {
            config,
            client,
            server,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClickHouseConfig {
        &self.config
    }

    /// The underlying client, bound to the configured database (for ad-hoc queries).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The DDL [`ensure_schema`](Self::ensure_schema) runs: `CREATE DATABASE` and
    /// `CREATE TABLE`, both `IF NOT EXISTS`.
    pub fn schema_sql(&self) -> [String; 2] {
        let (db, t) = (&self.config.database, &self.config.table);
        [
            format!("CREATE DATABASE IF NOT EXISTS `{db}`"),
            format!(
                "CREATE TABLE IF NOT EXISTS `{db}`.`{t}` (\n    \
                 ship String,\n    \
                 seq UInt64,\n    \
                 ts DateTime,\n    \
                 ts_ms Int64,\n    \
                 kind Enum8('log' = 0, 'metric' = 1, 'incident' = 2, 'state' = 3, \
                 'control' = 4, 'other' = 5),\n    \
                 source String,\n    \
                 severity UInt8,\n    \
                 body String\n\
                 ) ENGINE = ReplacingMergeTree()\n\
                 PARTITION BY toYYYYMMDD(ts)\n\
                 ORDER BY (ship, ts, seq)"
            ),
        ]
    }

    async fn timed<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, clickhouse::error::Error>>,
    ) -> Result<T, SinkError> {
        match tokio::time::timeout(self.config.request_timeout, f).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(SinkError::Timeout(self.config.request_timeout)),
        }
    }

    /// Answers when the server does (`SELECT 1`).
    pub async fn ping(&self) -> Result<(), SinkError> {
        self.timed(self.server.query("SELECT 1").execute()).await
    }

    /// Create the database and the events table if they do not exist.
    pub async fn ensure_schema(&self) -> Result<(), SinkError> {
        let [db, table] = self.schema_sql();
        self.timed(self.server.query(&db).execute()).await?;
        self.timed(self.server.query(&table).execute()).await
    }

    /// Insert `events` of `ship`, one `INSERT ... FORMAT RowBinary` per
    /// `batch_max_events`. Returns once ClickHouse confirmed every insert.
    pub async fn insert(&self, events: &[Event], ship: &str) -> Result<(), SinkError> {
        for chunk in events.chunks(self.config.batch_max_events) {
            self.timed(async {
                let mut ins = self
                    .client
                    .insert::<EventRow<'_>>(&self.config.table)
                    .await?
                    .with_timeouts(
                        Some(self.config.request_timeout),
                        Some(self.config.request_timeout),
                    );
                for e in chunk {
                    ins.write(&EventRow {
                        ship,
                        seq: e.seq,
                        ts: ts_seconds(e.ts_ms),
                        ts_ms: e.ts_ms,
                        kind: kind_code(e.kind),
                        source: &e.source,
                        severity: e.severity,
                        body: &e.body,
                    })
                    .await?;
                }
                ins.end().await
            })
            .await?;
        }
        Ok(())
    }

    /// Which of `events` (of `ship`) the table already holds, as sorted seqs.
    ///
    /// Looks only at the batch's time range, so the primary key `(ship, ts, seq)` narrows
    /// the read.
    pub async fn existing_seqs(&self, events: &[Event], ship: &str) -> Result<Vec<u64>, SinkError> {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(Vec::new());
        };
        let (lo_ts, hi_ts) = events.iter().fold((u32::MAX, 0u32), |(lo, hi), e| {
            let t = ts_seconds(e.ts_ms);
            (lo.min(t), hi.max(t))
        });
        let sql = format!(
            "SELECT seq FROM `{}` WHERE ship = ? AND ts >= toDateTime(?) AND ts <= toDateTime(?) \
             AND seq >= ? AND seq <= ? ORDER BY seq",
            self.config.table
        );
        let mut seqs: Vec<u64> = self
            .timed(
                self.client
                    .query(&sql)
                    .bind(ship)
                    .bind(lo_ts)
                    .bind(hi_ts)
                    .bind(first.seq.min(last.seq))
                    .bind(first.seq.max(last.seq))
                    .fetch_all::<u64>(),
            )
            .await?;
        seqs.dedup();
        Ok(seqs)
    }
}

pub use crate::log_service::EventSource;

/// How the exporter runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExporterConfig {
    /// File holding the acknowledged position (`SHIP SEQ`): the next seq to ship.
    pub cursor_path: PathBuf,
    /// Wait between polls of the log when there is nothing new.
    pub poll_interval: Duration,
    /// First retry delay after a failure (doubled per failure, with jitter).
    pub backoff_initial: Duration,
    /// Largest retry delay.
    pub backoff_max: Duration,
}

impl ExporterConfig {
    /// Defaults: poll every 200 ms, back off from 200 ms to 30 s.
    pub fn new(cursor_path: impl Into<PathBuf>) -> Self {
        Self {
            cursor_path: cursor_path.into(),
            poll_interval: Duration::from_millis(200),
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// Counters of a [`ClickHouseExporter`], shared with whoever publishes them as metrics.
#[derive(Debug, Default)]
pub struct ExporterStats {
    inserted_events: AtomicU64,
    inserted_batches: AtomicU64,
    failed_attempts: AtomicU64,
    skipped_existing: AtomicU64,
    evicted_unshipped: AtomicU64,
    acked_next_seq: AtomicU64,
    log_next_seq: AtomicU64,
}

impl ExporterStats {
    /// Events ClickHouse confirmed.
    pub fn inserted_events(&self) -> u64 {
        self.inserted_events.load(Ordering::Relaxed)
    }
    /// Inserts ClickHouse confirmed.
    pub fn inserted_batches(&self) -> u64 {
        self.inserted_batches.load(Ordering::Relaxed)
    }
    /// Failed attempts (schema, check or insert), each followed by a backoff.
    pub fn failed_attempts(&self) -> u64 {
        self.failed_attempts.load(Ordering::Relaxed)
    }
    /// Events not sent again because ClickHouse already held them (after a retry or
    /// restart).
    pub fn skipped_existing(&self) -> u64 {
        self.skipped_existing.load(Ordering::Relaxed)
    }
    /// Events the log's retention removed before they were shipped (lost to ClickHouse).
    pub fn evicted_unshipped(&self) -> u64 {
        self.evicted_unshipped.load(Ordering::Relaxed)
    }
    /// Next seq to ship: everything before it is confirmed by ClickHouse.
    pub fn acked_next_seq(&self) -> u64 {
        self.acked_next_seq.load(Ordering::Relaxed)
    }
    /// Durable events in the log not yet confirmed by ClickHouse (as of the last poll).
    pub fn lag(&self) -> u64 {
        self.log_next_seq
            .load(Ordering::Relaxed)
            .saturating_sub(self.acked_next_seq())
    }
}

/// Follows an event log and ships it to ClickHouse. See the [module docs](self).
pub struct ClickHouseExporter<S: EventSource> {
    sink: ClickHouseSink,
    source: Arc<S>,
    config: ExporterConfig,
    ship: String,
    stats: Arc<ExporterStats>,
}

impl<S: EventSource> std::fmt::Debug for ClickHouseExporter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseExporter")
            .field("sink", &self.sink)
            .field("ship", &self.ship)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S: EventSource> ClickHouseExporter<S> {
    /// An exporter of `source` into `sink`, resuming from the cursor file if there is one
    /// (else from the oldest event in the log). Fails if the cursor file is unreadable or
    /// belongs to another ship.
    pub fn new(
        sink: ClickHouseSink,
        source: Arc<S>,
        config: ExporterConfig,
    ) -> Result<Self, SinkError> {
        let ship = source.ship_id();
        let start = match read_cursor(&config.cursor_path, &ship)? {
            Some(seq) => seq,
            None => source.first_seq(),
        };
        let stats = Arc::new(ExporterStats::default());
        stats.acked_next_seq.store(start, Ordering::Relaxed);
        stats
            .log_next_seq
            .store(source.durable_next_seq(), Ordering::Relaxed);
        Ok(Self {
            sink,
            source,
            config,
            ship,
            stats,
        })
    }

    /// The counters, to publish as metrics.
    pub fn stats(&self) -> Arc<ExporterStats> {
        self.stats.clone()
    }

    /// Ship until `shutdown` turns `true` (or its sender is dropped). Returns `Err` only
    /// for what retrying cannot fix: a cursor file that cannot be written, or a log that
    /// cannot be read.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), SinkError> {
        let stop = |rx: &watch::Receiver<bool>| *rx.borrow() || rx.has_changed().is_err();
        let mut schema_ready = false;
        // After a start or a failed attempt ClickHouse may already hold (part of) the
        // next batch: check before sending.
        let mut verify = true;
        let mut backoff = self.config.backoff_initial;
        let mut pending: Option<Vec<Event>> = None;
        loop {
            if stop(&shutdown) {
                return Ok(());
            }
            let attempt: Result<bool, SinkError> = async {
                if !schema_ready {
                    self.sink.ensure_schema().await?;
                    schema_ready = true;
                }
                let batch = match pending.take() {
                    Some(b) => b,
                    None => self.read_batch().await?,
                };
                if batch.is_empty() {
                    return Ok(false);
                }
                pending = Some(batch);
                let batch = pending.as_deref().expect("just set");
                let mut to_send: Vec<Event>;
                // Rows beyond the cursor can only be a contiguous run right after it, so
                // keep checking until a batch finds none of its events already stored.
                let mut still_verify = false;
                let send: &[Event] = if verify {
                    let have = self.sink.existing_seqs(batch, &self.ship).await?;
                    still_verify = !have.is_empty();
                    if have.is_empty() {
                        batch
                    } else {
                        to_send = batch.to_vec();
                        to_send.retain(|e| have.binary_search(&e.seq).is_err());
                        self.stats
                            .skipped_existing
                            .fetch_add((batch.len() - to_send.len()) as u64, Ordering::Relaxed);
                        &to_send
                    }
                } else {
                    batch
                };
                if !send.is_empty() {
                    self.sink.insert(send, &self.ship).await?;
                    self.stats
                        .inserted_events
                        .fetch_add(send.len() as u64, Ordering::Relaxed);
                    self.stats.inserted_batches.fetch_add(1, Ordering::Relaxed);
                }
                verify = still_verify;
                let next = batch.last().expect("non-empty").seq + 1;
                pending = None;
                self.save_cursor(next).await?;
                self.stats.acked_next_seq.store(next, Ordering::Relaxed);
                Ok(true)
            }
            .await;
            match attempt {
                Ok(true) => backoff = self.config.backoff_initial,
                Ok(false) => {
                    backoff = self.config.backoff_initial;
                    let _ =
                        tokio::time::timeout(self.config.poll_interval, shutdown.changed()).await;
                }
                Err(
                    e
                    @ (SinkError::Cursor { .. } | SinkError::Log(_) | SinkError::InvalidConfig(_)),
                ) => {
                    tracing::error!(error = %e, "clickhouse exporter stopped");
                    return Err(e);
                }
                Err(e) => {
                    self.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    verify = true;
                    let delay = jittered(backoff);
                    tracing::warn!(error = %e, retry_in = ?delay, "clickhouse export failed");
                    backoff = (backoff * 2).min(self.config.backoff_max);
                    let _ = tokio::time::timeout(delay, shutdown.changed()).await;
                }
            }
        }
    }

    /// The next batch from the acknowledged position; skips (and counts) events the log's
    /// retention removed before they were shipped.
    async fn read_batch(&self) -> Result<Vec<Event>, SinkError> {
        let source = self.source.clone();
        let from = self.stats.acked_next_seq();
        let max = self.sink.config.batch_max_events;
        let (res, log_next, first) = tokio::task::spawn_blocking(move || {
            (
                source.read_from(from, max),
                source.durable_next_seq(),
                source.first_seq(),
            )
        })
        .await
        .map_err(|e| SinkError::Log(EventLogError::Encode(format!("reader task: {e}"))))?;
        self.stats.log_next_seq.store(log_next, Ordering::Relaxed);
        match res {
            Ok(events) => Ok(events),
            Err(EventLogError::Evicted { .. }) => {
                tracing::error!(
                    from,
                    first,
                    "event log retention removed events before they reached clickhouse"
                );
                self.stats
                    .evicted_unshipped
                    .fetch_add(first.saturating_sub(from), Ordering::Relaxed);
                self.stats.acked_next_seq.store(first, Ordering::Relaxed);
                Ok(Vec::new())
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn save_cursor(&self, next: u64) -> Result<(), SinkError> {
        let path = self.config.cursor_path.clone();
        let ship = self.ship.clone();
        tokio::task::spawn_blocking(move || write_cursor(&path, &ship, next))
            .await
            .map_err(|e| SinkError::Cursor {
                path: self.config.cursor_path.clone(),
                source: io::Error::other(e.to_string()),
            })?
    }
}

/// `d` scaled by a random factor in [0.5, 1.0] (the exporters' retry delays).
pub(crate) fn jittered(d: Duration) -> Duration {
    d.mul_f64(rand::rng().random_range(0.5..=1.0))
}

/// Read the cursor file: `None` if it does not exist.
pub fn read_cursor(path: &Path, ship: &str) -> Result<Option<u64>, SinkError> {
    let err = |source| SinkError::Cursor {
        path: path.to_owned(),
        source,
    };
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(e)),
    };
    let bad = |m: String| err(io::Error::new(io::ErrorKind::InvalidData, m));
    let mut it = text.split_whitespace();
    match (it.next(), it.next().map(str::parse::<u64>), it.next()) {
        (Some(s), Some(Ok(seq)), None) if s == ship => Ok(Some(seq)),
        (Some(s), Some(Ok(_)), None) => Err(bad(format!(
            "cursor belongs to ship {s:?}, this log is {ship:?}"
        ))),
        _ => Err(bad(format!("expected \"SHIP SEQ\", found {text:?}"))),
    }
}

/// Atomically replace the cursor file with `SHIP SEQ` (temp file, fsync, rename, fsync
/// of the directory).
pub fn write_cursor(path: &Path, ship: &str, next_seq: u64) -> Result<(), SinkError> {
    let err = |source| SinkError::Cursor {
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = fs::File::create(&tmp).map_err(err)?;
    f.write_all(format!("{ship} {next_seq}\n").as_bytes())
        .map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    fs::rename(&tmp, path).map_err(err)?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ch.cursor");
        assert_eq!(read_cursor(&p, "aurora").unwrap(), None);
        write_cursor(&p, "aurora", 42).unwrap();
        assert_eq!(read_cursor(&p, "aurora").unwrap(), Some(42));
        write_cursor(&p, "aurora", 43).unwrap();
        assert_eq!(read_cursor(&p, "aurora").unwrap(), Some(43));
        assert!(read_cursor(&p, "other").is_err());
        fs::write(&p, "garbage").unwrap();
        assert!(read_cursor(&p, "aurora").is_err());
    }

    #[test]
    fn config_is_checked() {
        let ok = ClickHouseConfig::new("http://127.0.0.1:8123");
        assert!(ClickHouseSink::new(ok.clone()).is_ok());
        for bad in [
            ClickHouseConfig {
                table: "ev; DROP".into(),
                ..ok.clone()
            },
            ClickHouseConfig {
                database: "".into(),
                ..ok.clone()
            },
            ClickHouseConfig {
                url: "127.0.0.1:8123".into(),
                ..ok.clone()
            },
            ClickHouseConfig {
                batch_max_events: 0,
                ..ok.clone()
            },
        ] {
            assert!(ClickHouseSink::new(bad).is_err());
        }
    }

    #[test]
    fn row_encoding_helpers() {
        assert_eq!(ts_seconds(1_700_000_000_999), 1_700_000_000);
        assert_eq!(ts_seconds(-1), 0);
        assert_eq!(ts_seconds(i64::MAX), u32::MAX);
        assert_eq!(kind_code(EventKind::Other), 5);
        let s = ClickHouseSink::new(ClickHouseConfig::new("http://x:1")).unwrap();
        let [db, t] = s.schema_sql();
        assert!(db.contains("`seawatch`"));
        assert!(t.contains("ReplacingMergeTree") && t.contains("ORDER BY (ship, ts, seq)"));
        assert!(!t.contains("DateTime64") && !t.contains("LowCardinality"));
    }

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..100 {
            let d = jittered(Duration::from_millis(1000));
            assert!(d >= Duration::from_millis(500) && d <= Duration::from_millis(1000));
        }
    }
}
