//! Ingest: everything between raw telemetry bytes and the ship's actors.
//!
//! - [`decode`]: pure decoders (syslog, RFC 6587 framing, NDJSON, remote write).
//! - [`listen`]: syslog TCP/UDP listeners and the HTTP ingest routes.
//! - [`pipeline`]: the bounded queue, the event-log writer and the router to device and
//!   link actors.

pub mod decode;
pub mod listen;
pub mod metrics;
pub mod pipeline;
pub mod record;
