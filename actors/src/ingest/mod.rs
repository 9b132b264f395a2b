//! Ingest: everything between raw telemetry bytes and typed records.
//!
//! Only the pure decoders live here for now ([`decode`]); the socket and
//! HTTP listeners that feed them come later and call into this module.

pub mod decode;
