//! The metric sample shared by remote write, NDJSON and the simulators.

use crate::vocab::KnownMetric;

/// One metric sample, attributed to a device (contracts §2).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSample {
    /// Device id: the `device` label, else `instance` without `:port`.
    /// Empty when neither label exists (remote write only; NDJSON rejects it).
    pub device: String,
    /// Metric name (`__name__`).
    pub name: String,
    /// All labels except `__name__`, in the order received.
    pub labels: Vec<(String, String)>,
    /// Sample value.
    pub value: f64,
    /// Sample time, unix ms.
    pub ts_ms: i64,
}

impl MetricSample {
    /// The contracts §2 vocabulary entry for this sample's name, if known.
    pub fn known(&self) -> Option<KnownMetric> {
        KnownMetric::from_name(&self.name)
    }

    /// Value of label `name`, if present.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The key of one metric series: its name, then its labels other than `device`,
/// `instance` and `job`, sorted, as ` k=v` pairs (`ifOperStatus ifName=ge-0/0/1`).
/// Device and detector actors key their per-series state by it.
pub fn series_key(name: &str, labels: &[(String, String)]) -> String {
    let mut key = name.to_string();
    let mut sorted: Vec<&(String, String)> = labels
        .iter()
        .filter(|(k, _)| k != "device" && k != "instance" && k != "job")
        .collect();
    sorted.sort();
    for (k, v) in sorted {
        key.push(' ');
        key.push_str(k);
        key.push('=');
        key.push_str(v);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_key_sorts_labels_and_drops_the_device_ones() {
        let labels = vec![
            ("instance".to_string(), "sw1:9100".to_string()),
            ("ifName".to_string(), "ge-0/0/1".to_string()),
            ("device".to_string(), "sw1".to_string()),
            ("dir".to_string(), "in".to_string()),
        ];
        assert_eq!(
            series_key("ifHCInOctets", &labels),
            "ifHCInOctets dir=in ifName=ge-0/0/1"
        );
        assert_eq!(series_key("probe_success", &[]), "probe_success");
    }
}
