//! The ship's log store.
//!
//! The durable [`EventLog`](seawatch_runtime::event_log::EventLog) is the store of record.
//! On top of it:
//!
//! * [`index::LogIndex`] — the embedded default: a small, bounded in-memory index
//!   (time, device, severity, and per-block word filters from [`text`]) that answers the
//!   console's log search (`GET /api/logs`, language in [`search`]), falling back to
//!   scanning the log for anything older than what it keeps in memory.
//! * [`clickhouse::ClickHouseSink`] and [`clickhouse::ClickHouseExporter`] — when a
//!   ClickHouse server is configured: the exporter follows the log with a
//!   [`LogCursor`](seawatch_runtime::event_log::LogCursor), ships batches with RowBinary
//!   inserts and records its acknowledged position in a cursor file, so nothing is lost
//!   while ClickHouse is down (the event log is the buffer). See `docs/clickhouse.md`.
//! * [`clickhouse_search`] — at shore, the same log search over the ClickHouse events
//!   table (decision 0077).
//! * [`victoriametrics::VmExporter`] — when a VictoriaMetrics server is configured: the
//!   log's device samples by remote write, each once, behind a cursor file the same way
//!   (decision 0043); [`vm_actor`] is its supervised actor.

pub mod actor;
pub mod clickhouse;
pub mod clickhouse_search;
pub mod index;
pub mod search;
pub mod text;
pub mod victoriametrics;
pub mod vm_actor;

pub use self::clickhouse::{
    ClickHouseConfig, ClickHouseExporter, ClickHouseSink, EventSource, ExporterConfig,
    ExporterStats, SinkError,
};
pub use self::index::{IndexConfig, IndexError, IndexStats, LogIndex, LogSource, Query};
