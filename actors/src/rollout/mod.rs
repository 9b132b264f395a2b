//! Fleet rollouts from shore (contracts §2 rollout routes, §10).
//!
//! * [`bundle`]: content-addressed bundles and shore's bundle store (`DATA/bundles/`).
//! * [`state`]: the rollout state machine (waves, thresholds, approval, pause, resume,
//!   abort), event-sourced.
//! * [`controller`]: shore's rollout controller, a supervised actor journaling every event
//!   to `DATA/rollouts/journal.jsonl` before applying it, delivering bundles to ships and
//!   reading their reports.
//! * [`agent`]: the ship's bundle agent, a supervised actor: takes a delivery, checks its
//!   SHA-256, applies it atomically (the previous version kept), runs the health check,
//!   rolls back on failure, reports.
//! * [`nats`]: the transport: JetStream streams `SW_ROLLOUT` (deliveries, subject
//!   `seawatch.rollout.to.<ship>`, read by the ship's durable consumer, so a delivery
//!   waits for the link) and `SW_ROLLOUT_REPORTS` (`seawatch.rollout.report.<ship>`).
//!
//! The HTTP routes (`/api/rollouts…`, `/api/bundles`, admin) are in the console crate
//! (`seawatch_console::rollouts`), behind its authentication.
//!
//! Design and its reasons: `docs/decisions/0051-rollouts-are-journaled-waves-over-jetstream-with-ship-side-rollback.md`.

pub mod agent;
pub mod bundle;
pub mod controller;
pub mod nats;
pub mod state;

use serde::{Deserialize, Serialize};

use bundle::BundleKind;

/// What shore sends a ship: this header line, then the bundle's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Rollout id.
    pub rollout: String,
    /// The ship.
    pub ship: String,
    /// The bundle's SHA-256 (the ship checks the bytes against it).
    pub sha256: String,
    /// Its kind.
    pub kind: BundleKind,
    /// Seconds from receipt to a passed health check.
    pub timeout_s: u64,
    /// 0: the bundle follows the header line. Otherwise it travels apart, in this many
    /// chunks ([`nats`] module docs), and the message is the header line alone.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub chunks: u32,
    /// The bundle's length in bytes when it travels in chunks.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub size: u64,
    /// Seconds after the apply during which a new critical incident on the ship fails the
    /// health check (0: no watch).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub incident_window_s: u64,
    /// The try (0 first; a retry counts up): the ship applies each try once.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
}

fn is_zero<T: Default + PartialEq>(x: &T) -> bool {
    *x == T::default()
}

impl Delivery {
    /// Header line + `\n` + bundle bytes.
    pub fn encode(&self, bundle: &[u8]) -> Vec<u8> {
        let mut out = serde_json::to_vec(self).unwrap_or_default();
        out.push(b'\n');
        out.extend_from_slice(bundle);
        out
    }

    /// The header and the bundle bytes of a message.
    pub fn decode(msg: &[u8]) -> Result<(Delivery, &[u8]), String> {
        let nl = msg
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("delivery without a header line")?;
        let d: Delivery =
            serde_json::from_slice(&msg[..nl]).map_err(|e| format!("delivery header: {e}"))?;
        Ok((d, &msg[nl + 1..]))
    }
}

/// A ship's report on a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportState {
    /// Took it; applying and checking.
    Received,
    /// Applied and healthy.
    Succeeded,
    /// Not applied, or rolled back.
    Failed,
}

/// What a ship says about a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Rollout id.
    pub rollout: String,
    /// The ship.
    pub ship: String,
    /// The bundle.
    pub sha256: String,
    /// What happened.
    pub state: ReportState,
    /// Details (why it failed, what was checked).
    pub detail: String,
    /// Ship time (unix ms).
    pub at_ms: i64,
    /// The delivery's try (0 first).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
}

impl Delivery {
    /// The key the ship records this delivery's outcome under: the rollout id, with
    /// `#<attempt>` for a retry.
    pub fn key(&self) -> String {
        match self.attempt {
            0 => self.rollout.clone(),
            n => format!("{}#{n}", self.rollout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_round_trips_with_its_bytes() {
        let d = Delivery {
            rollout: "r-1".into(),
            ship: "aurora".into(),
            sha256: "ab".into(),
            kind: BundleKind::Runbooks,
            timeout_s: 5,
            chunks: 0,
            size: 0,
            incident_window_s: 0,
            attempt: 0,
        };
        let msg = d.encode(b"SWBUNDLE1\n{}\nxyz\n");
        let (back, bytes) = Delivery::decode(&msg).unwrap();
        assert_eq!((back, bytes), (d, &b"SWBUNDLE1\n{}\nxyz\n"[..]));
        assert!(Delivery::decode(b"no header").is_err());
    }
}
