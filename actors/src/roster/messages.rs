//! Messages of the roster actor.

use std::sync::Arc;
use std::time::Instant;

use ractor::RpcReplyPort;

use crate::detect::actor::DetectorConfig;
use crate::device::DeviceAddr;
use crate::ingest::record::Observation;
use crate::inventory::Inventory;
use crate::link::settings::LinkRiskSettings;

/// What the roster is asked.
pub enum RosterMsg {
    /// One stored batch's observations, to be sent to their device and link actors
    /// (a device not seen before gets actors, as a discovered device if not inventoried).
    Route {
        /// When ingest received the batch.
        received: Instant,
        /// The observations.
        items: Vec<Observation>,
    },
    /// Answered once every message sent to the roster before it has been handled, so
    /// that everything routed before is in the device and link actors' mailboxes.
    Flush(RpcReplyPort<()>),
    /// The device actor of `id`, started first (as a discovered device if it is not
    /// inventoried) when it has none.
    Device {
        /// Device id.
        id: String,
        /// The device actor's address, `None` if it could not be started.
        reply: RpcReplyPort<Option<DeviceAddr>>,
    },
    /// Event time moved on to `now_ms`: every device actor gets a tick (silence
    /// detection).
    Tick {
        /// Current event time, unix ms.
        now_ms: i64,
    },
    /// Replaces the inventory and reconciles the actors without a restart: new devices
    /// and links get actors, links that left are stopped, and devices that left stop
    /// unless they still send telemetry (then they come back as discovered devices).
    Reload {
        /// The new inventory.
        inventory: Inventory,
        /// `Err` names what could not be started or stopped.
        reply: RpcReplyPort<Result<(), String>>,
    },
    /// New detector settings: kept for detectors started later and sent to every
    /// running detector actor.
    DetectorSettings {
        /// The settings.
        config: Arc<DetectorConfig>,
        /// The detectors they were sent to (`None`: the ship runs no detectors).
        reply: RpcReplyPort<Option<Vec<String>>>,
    },
    /// New link-risk settings: kept for link actors started later and sent to every
    /// running link actor.
    LinkRisk {
        /// The settings.
        settings: Arc<LinkRiskSettings>,
        /// The links they were sent to.
        reply: RpcReplyPort<Vec<String>>,
    },
}
