//! `seawatch ship` configuration (TOML). Unknown keys are rejected; errors name the file,
//! the key and what was expected. Command-line flags win over the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use seawatch_runtime::event_log::{EventLogConfig, FsyncPolicy, RetentionPolicy};
use serde::Deserialize;

/// The ship node's configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShipConfig {
    /// Ship id.
    #[serde(default = "default_ship")]
    pub ship: String,
    /// Data directory (event log, cursors, credentials).
    #[serde(default = "default_data")]
    pub data: PathBuf,
    /// HTTP address (console, API, ingest routes, `/metrics`, `/healthz`).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Syslog TCP and UDP address.
    #[serde(default = "default_syslog")]
    pub syslog: SocketAddr,
    /// A scenario file whose one `[[ship]]` table is the inventory.
    #[serde(default)]
    pub inventory: Option<PathBuf>,
    /// Event log settings.
    #[serde(default)]
    pub eventlog: EventLogSection,
    /// Ship the event log to ClickHouse (optional; the event log is the buffer).
    #[serde(default)]
    pub clickhouse: Option<ClickHouseSection>,
    /// Users, tokens, login rate limit, optional OIDC.
    #[serde(default)]
    pub auth: seawatch_console::AuthConfig,
    /// Ship-to-shore sync settings.
    #[serde(default)]
    pub sync: SyncSection,
    /// NATS JetStream transport (the ship's local leaf server); `--nats` overrides the URL.
    #[serde(default)]
    pub nats: Option<NatsSection>,
    /// Mail notifications through a durable outbox (contracts §9).
    #[serde(default)]
    pub email: Option<seawatch_actors::mail::EmailConfig>,
    /// Write every device sample to VictoriaMetrics (contracts §11; optional).
    #[serde(default)]
    pub victoriametrics: Option<VictoriaMetricsSection>,
    /// The operator's assistant (contracts §8).
    #[serde(default)]
    pub assistant: AssistantSection,
    /// `[runbooks] dir`: the runbook folder (default `DATA/runbooks`, contracts §7).
    #[serde(default)]
    pub runbooks: DirSection,
    /// `[policy] dir`: the Rego policy folder (default `DATA/policies`, contracts §7).
    #[serde(default)]
    pub policy: DirSection,
    /// Export traces by OTLP/HTTP (contracts §11; optional, decision 0057).
    #[serde(default)]
    pub otel: Option<OtelSection>,
}

/// `[assistant]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AssistantSection {
    /// Folder of the sentence-embedding model (all-MiniLM-L6-v2 as installed by
    /// deploy/scripts/models.sh); default `$HOME/.cache/seawatch-models/all-MiniLM-L6-v2`.
    #[serde(default)]
    pub embedding_model: Option<PathBuf>,
    /// A GGUF model that writes the answers (seawatch built with `--features llm`; SmolLM2
    /// as installed by `deploy/scripts/models.sh llm`); unset: extractive answers.
    #[serde(default)]
    pub llm_model: Option<PathBuf>,
    /// Folder of device configuration files (`*.cfg`, `*.conf`, named by device) the
    /// assistant's indexer adds to the index (decision 0061); default `DATA/configs`.
    #[serde(default)]
    pub configs: Option<PathBuf>,
}

/// A section that names a folder (`[runbooks]`, `[policy]`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DirSection {
    /// The folder; `None`: the default under the data directory.
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

/// `[sync]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyncSection {
    /// Capacity of the link that carries sync (the primary link), Mbit/s.
    #[serde(default = "default_capacity_mbps")]
    pub capacity_mbps: f64,
    /// Share of that capacity sync may use, (0, 1].
    #[serde(default = "default_link_share")]
    pub link_share: f64,
    /// `[sync.downsample]`: 1-minute aggregates first while the link is poor (decision
    /// 0058); absent: full resolution only.
    #[serde(default)]
    pub downsample: Option<DownsampleSection>,
}

impl Default for SyncSection {
    fn default() -> Self {
        Self {
            capacity_mbps: default_capacity_mbps(),
            link_share: default_link_share(),
            downsample: None,
        }
    }
}

/// `[sync.downsample]` (decision 0058).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DownsampleSection {
    /// Metric families (`__name__`) sent as 1-minute aggregates first while the link is
    /// poor; a name ending in `*` is a prefix.
    pub families: Vec<String>,
    /// The aggregation window, seconds: 60 (the only value; the aggregate series are
    /// named `NAME:1m_*`).
    #[serde(default = "default_window_s")]
    pub window_s: u64,
    /// The link is poor while the sync backlog would take longer than this to cross it,
    /// seconds (or while a link actor reports the link degraded).
    #[serde(default = "default_poor_backlog_s")]
    pub poor_backlog_s: f64,
}

fn default_window_s() -> u64 {
    60
}
fn default_poor_backlog_s() -> f64 {
    60.0
}

fn default_capacity_mbps() -> f64 {
    50.0
}
fn default_link_share() -> f64 {
    0.25
}

/// `[nats]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NatsSection {
    /// URL of the ship's leaf server, with credentials: `nats://user:password@host:port`.
    pub url: String,
    /// The rollouts' share of the link: bundle chunks are fetched at most this many bytes
    /// a second on average (none: as fast as the link goes).
    #[serde(default)]
    pub bulk_bytes_per_s: Option<u64>,
}

/// `seawatch shore` configuration (TOML).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShoreConfig {
    /// This node's name, unique in the shore cluster.
    #[serde(default = "default_node")]
    pub node: String,
    /// HTTP address (`/api/fleet`, `/metrics`, `/healthz`).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// NATS URL of a shore cluster node, with credentials; `--nats` overrides it.
    #[serde(default)]
    pub nats: Option<String>,
    /// Replicas of the shore streams and buckets (3 for a 3-node cluster).
    #[serde(default = "default_replicas")]
    pub replicas: usize,
    /// A dead node's ships move to another node after this many seconds.
    #[serde(default = "default_lease_s")]
    pub lease_s: f64,
    /// The ships the cluster sources.
    #[serde(default, rename = "ship")]
    pub ships: Vec<ShoreShip>,
    /// Store the fleet's events in ClickHouse (exactly once by (ship, seq)); without it
    /// they go to the cluster's own `SW_EVENTS` stream.
    #[serde(default)]
    pub clickhouse: Option<ClickHouseSection>,
    /// Apply the fleet's synced samples to VictoriaMetrics, with their original
    /// timestamps, exactly once by (ship, seq) (contracts §11; optional).
    #[serde(default)]
    pub victoriametrics: Option<VictoriaMetricsSection>,
    /// Export traces by OTLP/HTTP (contracts §11; optional, decision 0057).
    #[serde(default)]
    pub otel: Option<OtelSection>,
}

/// `[otel]` of a ship or shore config (contracts §11, decision 0057).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OtelSection {
    /// The OTLP/HTTP receiver's base URL, e.g. `http://127.0.0.1:4318` (spans go to
    /// `/v1/traces`, protobuf).
    pub endpoint: String,
}

impl OtelSection {
    /// Checks the endpoint (`http://HOST:PORT`).
    fn check(section: &Option<Self>, origin: &str) -> Result<(), ConfigError> {
        match section {
            Some(o) => seawatch_actors::otel::check_endpoint(&o.endpoint)
                .map(|_| ())
                .map_err(|e| ConfigError(format!("{origin}: {e}"))),
            None => Ok(()),
        }
    }

    /// The node's traces: exported to `[otel] endpoint` as `service` of `node`, or off
    /// without the section.
    pub fn traces(
        section: &Option<Self>,
        service: &str,
        node: &str,
    ) -> Result<seawatch_actors::otel::Traces, String> {
        match section {
            None => Ok(seawatch_actors::otel::Traces::off()),
            Some(o) => seawatch_actors::otel::Traces::start(&o.endpoint, service, node)
                .map_err(|e| e.to_string()),
        }
    }
}

/// `[victoriametrics]` of a ship or shore config (contracts §11).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VictoriaMetricsSection {
    /// The server's base URL, e.g. `http://127.0.0.1:8428`.
    pub url: String,
}

impl VictoriaMetricsSection {
    /// Checks the URL (`http://HOST:PORT`).
    fn check(section: &Option<Self>, origin: &str) -> Result<(), ConfigError> {
        match section {
            Some(vm)
                if seawatch_actors::store::victoriametrics::VmClient::new(
                    &vm.url,
                    Duration::from_secs(1),
                )
                .is_err() =>
            {
                Err(ConfigError(format!(
                    "{origin}: victoriametrics.url: expected http://HOST:PORT, got {:?}",
                    vm.url
                )))
            }
            _ => Ok(()),
        }
    }
}

/// `[[ship]]` of a shore config.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShoreShip {
    /// Ship id.
    pub id: String,
    /// JetStream domain of the ship's leaf server (default: the ship id).
    #[serde(default)]
    pub domain: Option<String>,
}

fn default_node() -> String {
    "shore-1".into()
}
fn default_replicas() -> usize {
    1
}
fn default_lease_s() -> f64 {
    3.0
}

impl ShoreConfig {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg: ShoreConfig = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                    format!(":{line}")
                })
                .unwrap_or_default();
            ConfigError(format!("{origin}{at}: {}", e.message()))
        })?;
        if !(1..=5).contains(&cfg.replicas) {
            return Err(ConfigError(format!("{origin}: replicas: expected 1 to 5")));
        }
        if !(cfg.lease_s >= 1.0 && cfg.lease_s <= 600.0) {
            return Err(ConfigError(format!(
                "{origin}: lease_s: expected 1 to 600 seconds"
            )));
        }
        if let Some(ch) = &cfg.clickhouse {
            if !ch.url.starts_with("http://") {
                return Err(ConfigError(format!(
                    "{origin}: clickhouse.url: expected http://HOST:PORT, got {:?}",
                    ch.url
                )));
            }
        }
        VictoriaMetricsSection::check(&cfg.victoriametrics, origin)?;
        OtelSection::check(&cfg.otel, origin)?;
        Ok(cfg)
    }
}

/// `[clickhouse]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClickHouseSection {
    /// HTTP endpoint, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// Database.
    #[serde(default = "default_ch_database")]
    pub database: String,
    /// Table.
    #[serde(default = "default_ch_table")]
    pub table: String,
    /// User.
    #[serde(default)]
    pub user: Option<String>,
    /// Password.
    #[serde(default)]
    pub password: Option<String>,
}

fn default_ch_database() -> String {
    "seawatch".into()
}
fn default_ch_table() -> String {
    "events".into()
}

/// `[eventlog]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventLogSection {
    /// `every_batch`, `interval` or `never`.
    #[serde(default = "default_fsync")]
    pub fsync: String,
    /// Interval between fsyncs for `interval`, milliseconds.
    #[serde(default = "default_fsync_ms")]
    pub fsync_interval_ms: u64,
    /// Segment size, MiB.
    #[serde(default = "default_segment_mib")]
    pub segment_mib: u64,
    /// Keep at most this many GiB (oldest segments go first).
    #[serde(default)]
    pub retention_gib: Option<f64>,
    /// Keep at most this many hours.
    #[serde(default)]
    pub retention_hours: Option<f64>,
}

impl Default for EventLogSection {
    fn default() -> Self {
        Self {
            fsync: default_fsync(),
            fsync_interval_ms: default_fsync_ms(),
            segment_mib: default_segment_mib(),
            retention_gib: None,
            retention_hours: None,
        }
    }
}

fn default_ship() -> String {
    "ship-1".into()
}
fn default_data() -> PathBuf {
    PathBuf::from("./seawatch-data")
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_syslog() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 6514))
}
fn default_fsync() -> String {
    "interval".into()
}
fn default_fsync_ms() -> u64 {
    100
}
fn default_segment_mib() -> u64 {
    64
}

impl Default for ShipConfig {
    fn default() -> Self {
        Self {
            ship: default_ship(),
            data: default_data(),
            listen: default_listen(),
            syslog: default_syslog(),
            inventory: None,
            eventlog: EventLogSection::default(),
            clickhouse: None,
            auth: seawatch_console::AuthConfig::default(),
            sync: SyncSection::default(),
            nats: None,
            email: None,
            victoriametrics: None,
            assistant: AssistantSection::default(),
            runbooks: DirSection::default(),
            policy: DirSection::default(),
            otel: None,
        }
    }
}

/// A configuration error, already phrased for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl ShipConfig {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg: ShipConfig = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                    format!(":{line}")
                })
                .unwrap_or_default();
            ConfigError(format!("{origin}{at}: {}", e.message()))
        })?;
        cfg.event_log_config()
            .map_err(|m| ConfigError(format!("{origin}: {m}")))?;
        if let Some(email) = &cfg.email {
            email
                .validate()
                .map_err(|m| ConfigError(format!("{origin}: {m}")))?;
        }
        VictoriaMetricsSection::check(&cfg.victoriametrics, origin)?;
        OtelSection::check(&cfg.otel, origin)?;
        Ok(cfg)
    }

    /// The event log configuration this config describes.
    pub fn event_log_config(&self) -> Result<EventLogConfig, String> {
        let mut c = EventLogConfig::new(self.ship.clone());
        c.fsync = match self.eventlog.fsync.as_str() {
            "every_batch" => FsyncPolicy::EveryBatch,
            "interval" => FsyncPolicy::Interval(Duration::from_millis(
                self.eventlog.fsync_interval_ms.max(1),
            )),
            "never" => FsyncPolicy::Never,
            other => {
                return Err(format!(
                    "eventlog.fsync: expected \"every_batch\", \"interval\" or \"never\", found \"{other}\""
                ))
            }
        };
        if self.eventlog.segment_mib == 0 {
            return Err("eventlog.segment_mib: expected at least 1".into());
        }
        c.segment_max_bytes = self.eventlog.segment_mib * 1024 * 1024;
        c.retention = RetentionPolicy {
            max_bytes: self
                .eventlog
                .retention_gib
                .map(|g| (g.max(0.0) * 1024.0 * 1024.0 * 1024.0) as u64),
            max_age: self
                .eventlog
                .retention_hours
                .map(|h| Duration::from_secs_f64(h.max(0.0) * 3600.0)),
        };
        if self.ship.is_empty() {
            return Err("ship: expected a non-empty ship id".into());
        }
        if self.sync.link_share.is_nan()
            || self.sync.link_share <= 0.0
            || self.sync.link_share > 1.0
        {
            return Err("sync.link_share: expected a fraction in (0, 1]".into());
        }
        if self.sync.capacity_mbps.is_nan() || self.sync.capacity_mbps <= 0.0 {
            return Err("sync.capacity_mbps: expected a positive number".into());
        }
        if self.nats.as_ref().and_then(|n| n.bulk_bytes_per_s) == Some(0) {
            return Err(
                "nats.bulk_bytes_per_s: expected at least 1 (leave it out for no cap)".into(),
            );
        }
        if let Some(d) = &self.sync.downsample {
            if d.families.is_empty() || d.families.iter().any(|f| f.trim().is_empty()) {
                return Err(
                    "sync.downsample.families: expected one or more metric names (a trailing * is a prefix)"
                        .into(),
                );
            }
            if d.window_s != 60 {
                return Err(format!(
                    "sync.downsample.window_s: only 60 is supported (aggregates are NAME:1m_*), found {}",
                    d.window_s
                ));
            }
            if !(d.poor_backlog_s.is_finite() && d.poor_backlog_s >= 0.0) {
                return Err("sync.downsample.poor_backlog_s: expected seconds >= 0".into());
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_the_documented_default() {
        let c = ShipConfig::parse("", "x.toml").unwrap();
        assert_eq!(c, ShipConfig::default());
        assert_eq!(c.ship, "ship-1");
        assert_eq!(c.syslog.port(), 6514);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = ShipConfig::parse("ship = \"a\"\nlisten = 5\n", "ship.toml").unwrap_err();
        assert!(e.0.starts_with("ship.toml:2:"), "{e}");
        let e = ShipConfig::parse("shipp = \"a\"\n", "ship.toml").unwrap_err();
        assert!(e.0.contains("unknown field `shipp`"), "{e}");
        let e = ShipConfig::parse("[eventlog]\nfsync = \"sometimes\"\n", "s.toml").unwrap_err();
        assert!(e.0.contains("eventlog.fsync: expected"), "{e}");
        let e = ShipConfig::parse("[sync]\nlink_share = 2.0\n", "s.toml").unwrap_err();
        assert!(e.0.contains("sync.link_share"), "{e}");
        let c = ShipConfig::parse(
            "[sync.downsample]\nfamilies = [\"if_*\", \"modem_esno_db\"]\npoor_backlog_s = 30\n",
            "s.toml",
        )
        .unwrap();
        let d = c.sync.downsample.unwrap();
        assert_eq!(
            (d.families.len(), d.window_s, d.poor_backlog_s),
            (2, 60, 30.0)
        );
        let e = ShipConfig::parse("[sync.downsample]\nfamilies = []\n", "s.toml").unwrap_err();
        assert!(e.0.contains("sync.downsample.families"), "{e}");
        let e = ShipConfig::parse(
            "[sync.downsample]\nfamilies = [\"x\"]\nwindow_s = 300\n",
            "s.toml",
        )
        .unwrap_err();
        assert!(e.0.contains("sync.downsample.window_s"), "{e}");
        let e = ShipConfig::parse("[nats]\nurl = 4\n", "s.toml").unwrap_err();
        assert!(e.0.starts_with("s.toml:2:"), "{e}");
        // The rollouts' share of the link.
        let c = ShipConfig::parse(
            "[nats]\nurl = \"nats://x\"\nbulk_bytes_per_s = 65536\n",
            "s.toml",
        )
        .unwrap();
        assert_eq!(c.nats.unwrap().bulk_bytes_per_s, Some(65_536));
        let e = ShipConfig::parse(
            "[nats]\nurl = \"nats://x\"\nbulk_bytes_per_s = 0\n",
            "s.toml",
        )
        .unwrap_err();
        assert!(
            e.0.contains("nats.bulk_bytes_per_s: expected at least 1"),
            "{e}"
        );
    }

    #[test]
    fn email_section_is_read_and_checked() {
        let text = "[email]\nsmtp = \"mail.example:587\"\nfrom = \"sw@ship.example\"\n\
                    [[email.route]]\nmatch = { severity = [\"critical\"] }\nto = [\"b@ship.example\"]\n";
        let c = ShipConfig::parse(text, "s.toml").unwrap();
        let email = c.email.unwrap();
        assert_eq!(email.routes.len(), 1);
        assert_eq!(email.routes[0].matcher.severity, ["critical"]);
        let e = ShipConfig::parse(&text.replace("b@ship.example", "nobody"), "s.toml").unwrap_err();
        assert!(e.0.starts_with("s.toml: email.route[0].to"), "{e}");
        let e = ShipConfig::parse(&text.replace("smtp =", "smpt ="), "s.toml").unwrap_err();
        assert!(e.0.contains("smpt"), "{e}");
    }

    #[test]
    fn shore_config_reads_ships_and_rejects_bad_values() {
        let c = ShoreConfig::parse(
            "node = \"n2\"\nreplicas = 3\n[[ship]]\nid = \"aurora\"\n[[ship]]\nid = \"b\"\ndomain = \"bd\"\n",
            "shore.toml",
        )
        .unwrap();
        assert_eq!(c.node, "n2");
        assert_eq!(c.ships.len(), 2);
        assert_eq!(c.ships[1].domain.as_deref(), Some("bd"));
        assert_eq!(c.clickhouse, None);
        let c = ShoreConfig::parse(
            "[clickhouse]\nurl = \"http://127.0.0.1:8123\"\ntable = \"fleet\"\n",
            "shore.toml",
        )
        .unwrap();
        let ch = c.clickhouse.unwrap();
        assert_eq!(
            (ch.url.as_str(), ch.table.as_str()),
            ("http://127.0.0.1:8123", "fleet")
        );
        let e = ShoreConfig::parse("[clickhouse]\nurl = \"ch:9000\"\n", "shore.toml").unwrap_err();
        assert!(e.0.contains("clickhouse.url: expected http://"), "{e}");
        let e = ShoreConfig::parse("[clickhouse]\nurll = \"x\"\n", "shore.toml").unwrap_err();
        assert!(e.0.starts_with("shore.toml:2:"), "{e}");
        let e = ShoreConfig::parse("replicas = 9\n", "shore.toml").unwrap_err();
        assert!(e.0.contains("replicas"), "{e}");
        let e = ShoreConfig::parse("[[ship]]\nname = \"x\"\n", "shore.toml").unwrap_err();
        assert!(e.0.starts_with("shore.toml:2:"), "{e}");
    }

    #[test]
    fn victoriametrics_section_is_read_and_checked_in_ship_and_shore_configs() {
        let text = "[victoriametrics]\nurl = \"http://127.0.0.1:8428\"\n";
        let c = ShipConfig::parse(text, "s.toml").unwrap();
        assert_eq!(c.victoriametrics.unwrap().url, "http://127.0.0.1:8428");
        let c = ShoreConfig::parse(text, "shore.toml").unwrap();
        assert_eq!(c.victoriametrics.unwrap().url, "http://127.0.0.1:8428");
        assert_eq!(
            ShipConfig::parse("", "s.toml").unwrap().victoriametrics,
            None
        );
        for bad in ["vm:8428", "https://vm:8428"] {
            let t = format!("[victoriametrics]\nurl = \"{bad}\"\n");
            let e = ShipConfig::parse(&t, "s.toml").unwrap_err();
            assert!(
                e.0.starts_with("s.toml: victoriametrics.url: expected http://"),
                "{e}"
            );
            let e = ShoreConfig::parse(&t, "shore.toml").unwrap_err();
            assert!(e.0.contains("victoriametrics.url"), "{e}");
        }
        let e = ShipConfig::parse("[victoriametrics]\nurll = \"x\"\n", "s.toml").unwrap_err();
        assert!(e.0.starts_with("s.toml:2:"), "{e}");
    }

    #[test]
    fn otel_section_is_read_and_checked_in_ship_and_shore_configs() {
        let text = "[otel]\nendpoint = \"http://127.0.0.1:4318\"\n";
        let c = ShipConfig::parse(text, "s.toml").unwrap();
        assert_eq!(c.otel.unwrap().endpoint, "http://127.0.0.1:4318");
        let c = ShoreConfig::parse(text, "shore.toml").unwrap();
        assert_eq!(c.otel.unwrap().endpoint, "http://127.0.0.1:4318");
        assert_eq!(ShipConfig::parse("", "s.toml").unwrap().otel, None);
        for bad in ["otel:4318", "https://otel:4318"] {
            let t = format!("[otel]\nendpoint = \"{bad}\"\n");
            let e = ShipConfig::parse(&t, "s.toml").unwrap_err();
            assert!(
                e.0.starts_with("s.toml: otel.endpoint: expected http://"),
                "{e}"
            );
            let e = ShoreConfig::parse(&t, "shore.toml").unwrap_err();
            assert!(e.0.contains("otel.endpoint"), "{e}");
        }
        let e = ShipConfig::parse("[otel]\nurl = \"x\"\n", "s.toml").unwrap_err();
        assert!(e.0.starts_with("s.toml:2:"), "{e}");
    }
}
