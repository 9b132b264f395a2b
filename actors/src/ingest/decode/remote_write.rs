//! Prometheus remote write 1.0: snappy (block format) + protobuf `WriteRequest`.
//!
//! The message structs are hand-written `prost` derives of
//! `prometheus/prompb/{remote,types}.proto` (only the fields 1.0 senders fill
//! and we use; unknown fields such as exemplars and native histograms are
//! skipped by prost), so no `protoc` or build script is needed.

use prost::Message;

use super::{device_from_labels, DecodeError, MetricSample};

/// Default cap on the decompressed body (32 MiB); larger → `TooLong`.
pub const DEFAULT_MAX_DECOMPRESSED: usize = 32 * 1024 * 1024;

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series, each with its labels and samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels including `__name__`, sorted by name per the spec.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples in time order.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Label {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// Value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Unix ms.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Result of decoding one remote-write body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteWriteBatch {
    /// Every usable sample, flattened (one entry per series × sample).
    pub samples: Vec<MetricSample>,
    /// Number of series in the request.
    pub series: usize,
    /// Series dropped because they had no `__name__` label.
    pub unnamed_series: usize,
    /// Prometheus staleness markers skipped (see [`is_stale_nan`]).
    pub stale_markers: usize,
}

/// Prometheus' staleness marker: a specific NaN bit pattern sent when a
/// series disappears. It is not a measurement, so decoding drops it.
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == 0x7ff0_0000_0000_0002
}

/// Decodes a `POST /api/v1/write` body.
///
/// The snappy header's announced length is checked against `max_decompressed`
/// *before* allocating, so a hostile body cannot make us allocate more than
/// that. Device attribution follows [`device_from_labels`]; a series with
/// neither `device` nor `instance` gets `device == ""`.
pub fn decode_remote_write(
    body: &[u8],
    max_decompressed: usize,
) -> Result<RemoteWriteBatch, DecodeError> {
    if body.is_empty() {
        return Err(DecodeError::Empty);
    }
    let len = snap::raw::decompress_len(body).map_err(|_| DecodeError::BadSnappy)?;
    if len > max_decompressed {
        return Err(DecodeError::TooLong);
    }
    let mut buf = vec![0u8; len];
    let n = snap::raw::Decoder::new()
        .decompress(body, &mut buf)
        .map_err(|_| DecodeError::BadSnappy)?;
    let req = WriteRequest::decode(&buf[..n]).map_err(|_| DecodeError::BadProtobuf)?;
    drop(buf);
    let mut out = RemoteWriteBatch {
        series: req.timeseries.len(),
        samples: Vec::with_capacity(req.timeseries.iter().map(|t| t.samples.len()).sum()),
        ..Default::default()
    };
    for ts in req.timeseries {
        let Some(name) = ts
            .labels
            .iter()
            .find(|l| l.name == "__name__")
            .map(|l| l.value.clone())
            .filter(|n| !n.is_empty())
        else {
            out.unnamed_series += 1;
            continue;
        };
        let device = device_from_labels(
            ts.labels
                .iter()
                .map(|l| (l.name.as_str(), l.value.as_str())),
        )
        .unwrap_or("")
        .to_owned();
        let labels: Vec<(String, String)> = ts
            .labels
            .into_iter()
            .filter(|l| l.name != "__name__")
            .map(|l| (l.name, l.value))
            .collect();
        let live = ts.samples.iter().filter(|s| !is_stale_nan(s.value)).count();
        out.stale_markers += ts.samples.len() - live;
        let mut remaining = live;
        let mut labels = Some(labels);
        for s in ts.samples.into_iter().filter(|s| !is_stale_nan(s.value)) {
            remaining -= 1;
            // Move the label vector into the last sample instead of cloning it.
            let l = if remaining == 0 {
                labels.take().unwrap_or_default()
            } else {
                labels.clone().unwrap_or_default()
            };
            out.samples.push(MetricSample {
                device: device.clone(),
                name: name.clone(),
                labels: l,
                value: s.value,
                ts_ms: s.timestamp,
            });
        }
    }
    Ok(out)
}

/// Encodes a request the way Prometheus sends it (protobuf + snappy block).
/// For simulators and tests.
pub fn encode_write_request(req: &WriteRequest) -> Vec<u8> {
    let pb = req.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&pb)
        .expect("snappy compression of an in-memory buffer cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(labels: &[(&str, &str)], samples: &[(f64, i64)]) -> TimeSeries {
        TimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| Label {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
            samples: samples
                .iter()
                .map(|&(value, timestamp)| Sample { value, timestamp })
                .collect(),
        }
    }

    #[test]
    fn round_trip() {
        let req = WriteRequest {
            timeseries: vec![
                series(
                    &[
                        ("__name__", "ifOperStatus"),
                        ("ifName", "Te1/1/1"),
                        ("instance", "core-sw-1:161"),
                        ("job", "snmp"),
                    ],
                    &[(1.0, 1_741_921_927_000), (2.0, 1_741_921_987_000)],
                ),
                series(
                    &[
                        ("__name__", "modem_esno_db"),
                        ("device", "modem-1"),
                        ("instance", "10.0.0.5:9100"),
                        ("link", "vsat-1"),
                    ],
                    &[
                        (11.5, 1_741_921_927_000),
                        (f64::from_bits(0x7ff0_0000_0000_0002), 5),
                    ],
                ),
                series(&[("instance", "x:1")], &[(1.0, 1)]),
                series(&[("__name__", "orphan")], &[(3.0, 7)]),
            ],
        };
        let body = encode_write_request(&req);
        let b = decode_remote_write(&body, DEFAULT_MAX_DECOMPRESSED).unwrap();
        assert_eq!(b.series, 4);
        assert_eq!(b.unnamed_series, 1);
        assert_eq!(b.stale_markers, 1);
        assert_eq!(b.samples.len(), 4);
        let s0 = &b.samples[0];
        assert_eq!(s0.device, "core-sw-1");
        assert_eq!(s0.name, "ifOperStatus");
        assert_eq!(s0.value, 1.0);
        assert_eq!(s0.ts_ms, 1_741_921_927_000);
        assert_eq!(s0.label("ifName"), Some("Te1/1/1"));
        assert_eq!(s0.label("__name__"), None);
        assert_eq!(s0.labels.len(), 3);
        assert_eq!(b.samples[1].value, 2.0);
        assert_eq!(b.samples[1].labels, s0.labels);
        assert_eq!(b.samples[2].device, "modem-1");
        assert_eq!(
            b.samples[2].known(),
            Some(crate::ingest::decode::KnownMetric::ModemEsnoDb)
        );
        assert_eq!(b.samples[3].device, "");

        // Compare against the structs themselves.
        let pb = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        // (Debug, because the stale NaN is not == itself.)
        assert_eq!(
            format!("{:?}", WriteRequest::decode(&pb[..]).unwrap()),
            format!("{req:?}")
        );
    }

    #[test]
    fn errors() {
        assert_eq!(decode_remote_write(b"", 1 << 20), Err(DecodeError::Empty));
        assert_eq!(
            decode_remote_write(b"\xff\xff\xff\xff\xff\xff", 1 << 20),
            Err(DecodeError::BadSnappy)
        );
        // Valid snappy, invalid protobuf.
        let junk = snap::raw::Encoder::new()
            .compress_vec(b"\x0a\xff\xff\xff")
            .unwrap();
        assert_eq!(
            decode_remote_write(&junk, 1 << 20),
            Err(DecodeError::BadProtobuf)
        );
        // Announced length over the cap: rejected before allocation.
        let big = snap::raw::Encoder::new()
            .compress_vec(&vec![0u8; 4096])
            .unwrap();
        assert_eq!(decode_remote_write(&big, 1024), Err(DecodeError::TooLong));
        // A header announcing 2 GiB with no payload.
        assert_eq!(
            decode_remote_write(b"\xff\xff\xff\xff\x07", DEFAULT_MAX_DECOMPRESSED),
            Err(DecodeError::TooLong)
        );
        let empty = encode_write_request(&WriteRequest::default());
        assert_eq!(decode_remote_write(&empty, 1024).unwrap().samples.len(), 0);
    }
}
