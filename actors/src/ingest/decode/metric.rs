//! The decoded metric sample shared by remote write and NDJSON.

pub use seawatch_model::MetricSample;

/// Device attribution rule of contracts §2: the `device` label, else the
/// `instance` label with a trailing `:port` removed (`[v6]:port` → `v6`).
pub fn device_from_labels<'a, I>(labels: I) -> Option<&'a str>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut instance = None;
    for (k, v) in labels {
        match k {
            "device" if !v.is_empty() => return Some(v),
            "instance" if !v.is_empty() => instance = Some(v),
            _ => {}
        }
    }
    instance.map(strip_port)
}

fn strip_port(instance: &str) -> &str {
    if let Some(rest) = instance.strip_prefix('[') {
        // [2001:db8::1]:9100
        return rest.split(']').next().unwrap_or(rest);
    }
    match instance.rsplit_once(':') {
        // More than one ':' without brackets is a bare IPv6 address.
        Some((host, port))
            if !host.contains(':')
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            host
        }
        _ => instance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_rule() {
        assert_eq!(
            device_from_labels([("instance", "sw1:9100"), ("device", "core-sw-1")]),
            Some("core-sw-1")
        );
        assert_eq!(
            device_from_labels([("instance", "pms-db01:9100")]),
            Some("pms-db01")
        );
        assert_eq!(
            device_from_labels([("instance", "10.0.0.1")]),
            Some("10.0.0.1")
        );
        assert_eq!(
            device_from_labels([("instance", "[fe80::1]:9100")]),
            Some("fe80::1")
        );
        assert_eq!(
            device_from_labels([("instance", "fe80::1")]),
            Some("fe80::1")
        );
        assert_eq!(device_from_labels([("job", "node")]), None);
    }
}
