//! Pure, allocation-light decoders that turn ingest bytes into typed records.
//!
//! Nothing in here owns a socket or an actor: listeners hand bytes in and get
//! records (or a [`DecodeError`] with a stable metrics label) back. None of the
//! decoders panic on any input; the fuzz crate in `actors/fuzz/` and the seeded
//! `no_panic` tests hold them to that.
//!
//! | source (contracts §2) | entry point |
//! |---|---|
//! | syslog UDP datagram / one TCP frame | [`parse_syslog`] → [`SyslogRecord`] |
//! | syslog TCP byte stream (RFC 6587) | [`SyslogFramer`] |
//! | `POST /ingest/ndjson` | [`decode_ndjson`] / [`NdjsonLines`] |
//! | `POST /api/v1/write` | [`decode_remote_write`] |
//! | metric names | [`KnownMetric`] |

mod error;
mod framing;
mod metric;
mod ndjson;
mod remote_write;
mod syslog;
mod time;

pub use error::DecodeError;
pub use framing::{FramerStats, SyslogFramer, DEFAULT_MAX_FRAME};
pub use metric::{device_from_labels, MetricSample};
pub use ndjson::{
    decode_ndjson, LogRecord, NdjsonBatch, NdjsonLineError, NdjsonLines, NdjsonRecord,
    MAX_NDJSON_LINE,
};
pub use remote_write::{
    decode_remote_write, encode_write_request, is_stale_nan, Label, RemoteWriteBatch, Sample,
    TimeSeries, WriteRequest, DEFAULT_MAX_DECOMPRESSED,
};
pub use seawatch_model::severity::Severity;
pub use syslog::{
    fortinet_kv, parse_syslog, sd_params, SyslogFormat, SyslogOptions, SyslogRecord, VendorHint,
    DEFAULT_MAX_LINE,
};
pub use time::{days_from_civil, parse_rfc3339_ms};
// The vocabulary lives in `seawatch-model`; re-exported here for the decoders' callers.
pub use seawatch_model::vocab::{KnownMetric, MetricFamily, MetricKind};

#[cfg(test)]
mod framing_tests;
#[cfg(test)]
mod ndjson_tests;
#[cfg(test)]
mod no_panic_tests;
#[cfg(test)]
mod syslog_tests;
