//! The metric vocabulary of contracts §2.
//!
//! Detectors match on [`KnownMetric`] instead of strings, so a simulator's
//! samples and a real exporter's samples are treated the same. A few vendor
//! aliases seen on real ships (domain.md §3: Cisco CPU / ENVMON OIDs via
//! snmp_exporter) map onto the same variants.

/// Which exporter family a metric comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricFamily {
    /// blackbox_exporter probes.
    Blackbox,
    /// node_exporter.
    Node,
    /// snmp_exporter IF-MIB.
    IfMib,
    /// Device CPU and temperature.
    Device,
    /// Satellite modem KPIs (one series per link).
    Modem,
    /// Ship navigation state.
    Ship,
    /// Weather at the ship.
    Weather,
}

/// Prometheus metric type, as far as detectors care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// A value that goes up and down.
    Gauge,
    /// Monotonic counter: detectors should look at its rate.
    Counter,
}

macro_rules! known_metrics {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $family:ident, $kind:ident $(, aliases: [$($alias:literal),*])? ;)*) => {
        /// A metric name from contracts §2 (plus documented aliases).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum KnownMetric {
            $( $(#[$doc])* $variant, )*
        }

        impl KnownMetric {
            /// Every known metric.
            pub const ALL: &'static [KnownMetric] = &[$(KnownMetric::$variant),*];

            /// Classifies a metric name (exact, case-sensitive, as exporters send it).
            pub fn from_name(name: &str) -> Option<KnownMetric> {
                Some(match name {
                    $( $name $($(| $alias)*)? => KnownMetric::$variant, )*
                    _ => return None,
                })
            }

            /// The canonical name (the one in contracts §2).
            pub const fn name(self) -> &'static str {
                match self { $( KnownMetric::$variant => $name, )* }
            }

            /// Exporter family.
            pub const fn family(self) -> MetricFamily {
                match self { $( KnownMetric::$variant => MetricFamily::$family, )* }
            }

            /// Gauge or counter.
            pub const fn kind(self) -> MetricKind {
                match self { $( KnownMetric::$variant => MetricKind::$kind, )* }
            }
        }
    };
}

known_metrics! {
    /// blackbox `probe_success` (1/0).
    ProbeSuccess = "probe_success", Blackbox, Gauge;
    /// blackbox `probe_duration_seconds`.
    ProbeDurationSeconds = "probe_duration_seconds", Blackbox, Gauge;
    /// node_exporter `node_cpu_seconds_total` (per cpu, mode).
    NodeCpuSecondsTotal = "node_cpu_seconds_total", Node, Counter;
    /// node_exporter `node_memory_MemAvailable_bytes`.
    NodeMemAvailableBytes = "node_memory_MemAvailable_bytes", Node, Gauge;
    /// node_exporter `node_memory_MemTotal_bytes`.
    NodeMemTotalBytes = "node_memory_MemTotal_bytes", Node, Gauge;
    /// node_exporter `node_filesystem_avail_bytes`.
    NodeFilesystemAvailBytes = "node_filesystem_avail_bytes", Node, Gauge;
    /// node_exporter `node_filesystem_size_bytes`.
    NodeFilesystemSizeBytes = "node_filesystem_size_bytes", Node, Gauge;
    /// node_exporter `node_vmstat_oom_kill` (domain.md §3; alias-level extra).
    NodeVmstatOomKill = "node_vmstat_oom_kill", Node, Counter;
    /// IF-MIB `ifOperStatus` (1 up, 2 down, ...).
    IfOperStatus = "ifOperStatus", IfMib, Gauge;
    /// IF-MIB `ifHCInOctets`.
    IfHcInOctets = "ifHCInOctets", IfMib, Counter;
    /// IF-MIB `ifHCOutOctets`.
    IfHcOutOctets = "ifHCOutOctets", IfMib, Counter;
    /// IF-MIB `ifInErrors`.
    IfInErrors = "ifInErrors", IfMib, Counter;
    /// IF-MIB `ifOutErrors`.
    IfOutErrors = "ifOutErrors", IfMib, Counter;
    /// IF-MIB `ifInDiscards`.
    IfInDiscards = "ifInDiscards", IfMib, Counter;
    /// IF-MIB `ifOutDiscards` (domain.md §3).
    IfOutDiscards = "ifOutDiscards", IfMib, Counter;
    /// `device_cpu_percent`; aliases: Cisco CISCO-PROCESS-MIB `cpmCPUTotal*Rev`.
    DeviceCpuPercent = "device_cpu_percent", Device, Gauge,
        aliases: ["cpmCPUTotal5secRev", "cpmCPUTotal1minRev", "cpmCPUTotal5minRev"];
    /// `device_temperature_celsius`; alias: CISCO-ENVMON-MIB temperature value.
    DeviceTemperatureCelsius = "device_temperature_celsius", Device, Gauge,
        aliases: ["ciscoEnvMonTemperatureStatusValue"];
    /// `modem_esno_db`.
    ModemEsnoDb = "modem_esno_db", Modem, Gauge;
    /// `modem_snr_db`.
    ModemSnrDb = "modem_snr_db", Modem, Gauge;
    /// `modem_ber`.
    ModemBer = "modem_ber", Modem, Gauge;
    /// `modem_rx_power_dbm`.
    ModemRxPowerDbm = "modem_rx_power_dbm", Modem, Gauge;
    /// `modem_lock` (1/0).
    ModemLock = "modem_lock", Modem, Gauge;
    /// `ship_heading_deg`.
    ShipHeadingDeg = "ship_heading_deg", Ship, Gauge;
    /// `ship_lat`.
    ShipLat = "ship_lat", Ship, Gauge;
    /// `ship_lon`.
    ShipLon = "ship_lon", Ship, Gauge;
    /// `weather_rain_mm_h`.
    WeatherRainMmH = "weather_rain_mm_h", Weather, Gauge;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_names_round_trip() {
        let contract = [
            "probe_success",
            "probe_duration_seconds",
            "node_cpu_seconds_total",
            "node_memory_MemAvailable_bytes",
            "node_memory_MemTotal_bytes",
            "node_filesystem_avail_bytes",
            "node_filesystem_size_bytes",
            "ifOperStatus",
            "ifHCInOctets",
            "ifHCOutOctets",
            "ifInErrors",
            "ifOutErrors",
            "ifInDiscards",
            "device_cpu_percent",
            "device_temperature_celsius",
            "modem_esno_db",
            "modem_snr_db",
            "modem_ber",
            "modem_rx_power_dbm",
            "modem_lock",
            "ship_heading_deg",
            "ship_lat",
            "ship_lon",
            "weather_rain_mm_h",
        ];
        for n in contract {
            let k = KnownMetric::from_name(n).unwrap_or_else(|| panic!("{n} unknown"));
            assert_eq!(k.name(), n);
        }
        for k in KnownMetric::ALL {
            assert_eq!(KnownMetric::from_name(k.name()), Some(*k));
        }
        assert_eq!(
            KnownMetric::from_name("cpmCPUTotal5minRev"),
            Some(KnownMetric::DeviceCpuPercent)
        );
        assert_eq!(KnownMetric::from_name("IfOperStatus"), None);
        assert_eq!(KnownMetric::from_name("my_custom_metric"), None);
        assert_eq!(KnownMetric::IfHcInOctets.kind(), MetricKind::Counter);
        assert_eq!(KnownMetric::ModemLock.family(), MetricFamily::Modem);
    }
}
