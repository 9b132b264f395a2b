//! Sync metrics (contracts §6). Labels are bounded: ship and lane (four values).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use seawatch_runtime::Metrics;

use super::wire::Lane;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShipLabels {
    ship: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LaneLabels {
    ship: String,
    lane: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    ship: String,
    kind: String,
}

/// Kinds of `seawatch_sync_downsample_total{ship,kind}` (decision 0058): rollups shore
/// acknowledged, aggregate rows in them (five aggregate samples each), raw samples the
/// rows aggregate.
pub const DOWNSAMPLE_KINDS: [&str; 3] = ["rollups", "rows", "covered_samples"];

/// The sync metrics of a node (ship or shore). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct SyncMetrics {
    backlog: Family<ShipLabels, Gauge>,
    bytes: Family<LaneLabels, Counter>,
    shore_events: Family<ShipLabels, Counter>,
    shore_duplicates: Family<ShipLabels, Counter>,
    shore_store_failures: Family<ShipLabels, Counter>,
    lag: Family<ShipLabels, Gauge>,
    downsample: Family<KindLabels, Counter>,
    link_poor: Family<ShipLabels, Gauge>,
}

impl SyncMetrics {
    /// Registers the sync metrics into `metrics`.
    pub fn register(metrics: &Metrics) -> Self {
        let s = Self::default();
        metrics.register(
            "seawatch_sync_backlog_events",
            "Events in the ship's log not yet acknowledged by shore.",
            s.backlog.clone(),
        );
        metrics.register(
            "seawatch_sync_bytes_sent",
            "Bytes of event batches sent to shore, by lane.",
            s.bytes.clone(),
        );
        metrics.register(
            "seawatch_shore_events",
            "Distinct events stored at shore, by ship.",
            s.shore_events.clone(),
        );
        metrics.register(
            "seawatch_shore_duplicates_dropped",
            "Events received again at shore and not applied (already stored).",
            s.shore_duplicates.clone(),
        );
        metrics.register(
            "seawatch_shore_store_failures",
            "Batches the shore store could not take (not acknowledged; the ship resends).",
            s.shore_store_failures.clone(),
        );
        metrics.register(
            "seawatch_sync_lag_seconds",
            "Age of the newest event stored at shore for the ship, at its arrival.",
            s.lag.clone(),
        );
        metrics.register(
            "seawatch_sync_downsample",
            "Downsampling for a poor link (ship): rollups of 1-minute aggregates shore \
             acknowledged (kind=rollups), their aggregate rows (kind=rows) and the raw \
             samples they aggregate (kind=covered_samples).",
            s.downsample.clone(),
        );
        metrics.register(
            "seawatch_sync_link_poor",
            "1 while the ship's sync treats its link as poor and sends aggregates first.",
            s.link_poor.clone(),
        );
        s
    }

    /// Creates the downsampling series of a ship that downsamples, at 0.
    pub fn downsampling(&self, ship: &str) {
        for kind in DOWNSAMPLE_KINDS {
            let _ = self.downsample.get_or_create(&KindLabels {
                ship: ship.to_owned(),
                kind: kind.to_owned(),
            });
        }
        let _ = self.link_poor.get_or_create(&Self::ship(ship));
    }

    /// Adds `n` to the downsampling counter of `kind` (one of [`DOWNSAMPLE_KINDS`]).
    pub fn downsample_add(&self, ship: &str, kind: &str, n: u64) {
        if n > 0 {
            self.downsample
                .get_or_create(&KindLabels {
                    ship: ship.to_owned(),
                    kind: kind.to_owned(),
                })
                .inc_by(n);
        }
    }

    /// Sets whether the ship's link counts as poor.
    pub fn set_link_poor(&self, ship: &str, poor: bool) {
        self.link_poor
            .get_or_create(&Self::ship(ship))
            .set(i64::from(poor));
    }

    /// Counts bytes of rollups sent (label `lane="rollup"`).
    pub fn rollup_bytes_sent(&self, ship: &str, bytes: u64) {
        self.bytes
            .get_or_create(&LaneLabels {
                ship: ship.to_owned(),
                lane: "rollup".to_owned(),
            })
            .inc_by(bytes);
    }

    fn ship(ship: &str) -> ShipLabels {
        ShipLabels {
            ship: ship.to_owned(),
        }
    }

    /// Sets the ship's backlog.
    pub fn set_backlog(&self, ship: &str, events: u64) {
        self.backlog
            .get_or_create(&Self::ship(ship))
            .set(events.min(i64::MAX as u64) as i64);
    }

    /// Counts bytes sent in a lane.
    pub fn bytes_sent(&self, ship: &str, lane: Lane, bytes: u64) {
        self.bytes
            .get_or_create(&LaneLabels {
                ship: ship.to_owned(),
                lane: lane.as_str().to_owned(),
            })
            .inc_by(bytes);
    }

    /// Bytes sent in a lane so far.
    pub fn bytes_sent_total(&self, ship: &str, lane: Lane) -> u64 {
        self.bytes
            .get_or_create(&LaneLabels {
                ship: ship.to_owned(),
                lane: lane.as_str().to_owned(),
            })
            .get()
    }

    /// Counts events newly stored at shore, and resent ones dropped.
    pub fn shore_applied(&self, ship: &str, new: u64, dropped: u64) {
        self.shore_events
            .get_or_create(&Self::ship(ship))
            .inc_by(new);
        if dropped > 0 {
            self.shore_duplicates
                .get_or_create(&Self::ship(ship))
                .inc_by(dropped);
        }
    }

    /// Raises the ship's stored-events counter to `stored` (the store's distinct count,
    /// read when a node starts serving the ship), so the counter reads the distinct events
    /// stored at shore even after a restart or a takeover.
    pub fn shore_stored_at_least(&self, ship: &str, stored: u64) {
        let c = self.shore_events.get_or_create(&Self::ship(ship));
        let now = c.get();
        if stored > now {
            c.inc_by(stored - now);
        }
    }

    /// Exports the shore counters of a ship this node sources (its stored events,
    /// duplicates dropped, store failures) from the node's start, at 0 until the ship's
    /// mirror reads the store or applies its first batch.
    pub fn shore_sources(&self, ship: &str) {
        let labels = Self::ship(ship);
        let _ = self.shore_events.get_or_create(&labels);
        let _ = self.shore_duplicates.get_or_create(&labels);
        let _ = self.shore_store_failures.get_or_create(&labels);
    }

    /// Counts a batch the shore store could not take (not acknowledged, sent again).
    pub fn shore_store_failed(&self, ship: &str) {
        self.shore_store_failures
            .get_or_create(&Self::ship(ship))
            .inc();
    }

    /// Sets the sync lag in seconds.
    pub fn set_lag(&self, ship: &str, seconds: f64) {
        self.lag
            .get_or_create(&Self::ship(ship))
            .set(seconds.max(0.0).round() as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sourced_ship_has_its_shore_counters_at_0_before_any_event() {
        let registry = Metrics::new();
        let m = SyncMetrics::register(&registry);
        m.shore_sources("aurora");
        let text = registry.encode();
        for name in [
            "seawatch_shore_events_total",
            "seawatch_shore_duplicates_dropped_total",
            "seawatch_shore_store_failures_total",
        ] {
            let series = format!("{name}{{ship=\"aurora\"}} 0\n");
            assert!(text.contains(&series), "{series} missing in:\n{text}");
        }
        // Raising to the store's count afterwards still works.
        m.shore_stored_at_least("aurora", 7);
        assert!(registry
            .encode()
            .contains("seawatch_shore_events_total{ship=\"aurora\"} 7\n"));
    }
}
