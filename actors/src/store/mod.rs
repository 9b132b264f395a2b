//! The ship's log store.
//!
//! The durable [`EventLog`](seawatch_runtime::event_log::EventLog) is the store of record.
//! On top of it, [`index::LogIndex`] — the embedded default: a small, bounded in-memory
//! index (time, device, severity) that answers the console's queries, falling back to
//! scanning the log for anything older than what it keeps in memory.

pub mod index;

pub use self::index::{IndexConfig, IndexError, IndexStats, LogIndex, Query};
