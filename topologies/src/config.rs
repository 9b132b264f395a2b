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
    }
}
