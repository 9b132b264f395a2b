//! Mail that survives the outage (issue 22, first slice; decision 0042): `[email]` routes,
//! a durable outbox under `DATA/outbox/` (every notification fsynced before any send,
//! stable Message-IDs, one thread per incident, durable sent marks), sending with lettre
//! in passes with exponential backoff, criticals first and the rest of an outage as
//! digests, and `GET /api/notifications`.

pub mod actor;
pub mod api;
pub mod config;
pub mod message;
pub mod send;
pub mod store;

pub use actor::{outbox_child, OutboxArgs, OutboxMetrics};
pub use config::EmailConfig;
pub use message::Notification;
pub use store::Outbox;
