//! The actor families of a seawatch ship and shore: ingest (decoders, listeners, the
//! event-log writer), device and link actors, and the log store.

pub mod alert;
pub mod detect;
pub mod device;
pub mod incident;
pub mod ingest;
pub mod inventory;
pub mod link;
pub mod log_service;
pub mod mail;
pub mod models;
pub mod otel;
pub mod owned_task;
pub mod push;
pub mod rollout;
pub mod roster;
pub mod runbook;
pub mod store;
pub mod sync;
