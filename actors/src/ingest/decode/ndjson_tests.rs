//! NDJSON: logs, metrics, and mixed good/bad lines.

use super::*;

#[test]
fn mixed_good_and_bad_lines() {
    let body = concat!(
        "\u{FEFF}{\"host\":\"pms-db01\",\"ts\":\"2025-03-14T05:01:33Z\",\"severity\":\"crit\",\"message\":\"Out of memory\",\"app\":\"kernel\"}\n",
        "{\"metric\":\"modem_esno_db\",\"value\":11.5,\"labels\":{\"device\":\"modem-1\",\"link\":\"vsat-1\"},\"ts\":1741928493000}\r\n",
        "not json\n",
        "\n",
        "   \n",
        "{\"host\":\"sw1\"}\n",
        "{\"metric\":\"probe_success\",\"value\":true,\"labels\":{\"instance\":\"fw-1:9115\",\"module\":\"icmp\",\"port\":443}}\n",
        "{\"metric\":\"x\",\"labels\":{\"device\":\"d\"}}\n",
        "{\"metric\":\"x\",\"value\":1}\n",
        "{\"host\":\"sw1\",\"message\":\"m\",\"severity\":9}\n",
        "{\"host\":\"sw1\",\"message\":\"m\",\"ts\":\"yesterday\"}\n",
        "{\"host\":\"ap-7\",\"message\":\"tab\\there\",\"severity\":4,\"ts\":1741928493}\n",
        "{\"metric\":\"ship_lat\",\"value\":\"25.77\",\"host\":\"aurora\"}\n",
        "[1,2,3]\n",
    );
    let b = decode_ndjson(body.as_bytes());
    assert_eq!(b.records.len(), 5, "{:#?}", b);
    let errs: Vec<(usize, &str)> = b
        .errors
        .iter()
        .map(|e| (e.line, e.error.reason()))
        .collect();
    assert_eq!(
        errs,
        vec![
            (3, "bad_json"),
            (6, "missing_field"),
            (8, "missing_field"),
            (9, "missing_field"),
            (10, "bad_value"),
            (11, "bad_timestamp"),
            (14, "bad_json"),
        ]
    );
    assert!(b.errors[1].detail.contains("message"));

    let NdjsonRecord::Log(l) = &b.records[0] else {
        panic!()
    };
    assert_eq!(l.host, "pms-db01");
    assert_eq!(l.severity, Some(Severity::Critical));
    assert_eq!(l.ts_ms, Some(1_741_928_493_000));
    assert_eq!(l.app.as_deref(), Some("kernel"));
    assert_eq!(l.message, "Out of memory");

    let NdjsonRecord::Metric(m) = &b.records[1] else {
        panic!()
    };
    assert_eq!(m.device, "modem-1");
    assert_eq!(m.name, "modem_esno_db");
    assert_eq!(m.value, 11.5);
    assert_eq!(m.ts_ms, 1_741_928_493_000);
    assert_eq!(m.known(), Some(KnownMetric::ModemEsnoDb));
    assert_eq!(m.label("link"), Some("vsat-1"));

    let NdjsonRecord::Metric(m) = &b.records[2] else {
        panic!()
    };
    assert_eq!(m.device, "fw-1");
    assert_eq!(m.value, 1.0);
    assert_eq!(m.label("port"), Some("443"));
    assert_eq!(m.ts_ms, 0);

    let NdjsonRecord::Log(l) = &b.records[3] else {
        panic!()
    };
    assert_eq!(l.message, "tab\there");
    assert_eq!(l.severity, Some(Severity::Warning));
    assert_eq!(l.ts_ms, Some(1_741_928_493_000));

    let NdjsonRecord::Metric(m) = &b.records[4] else {
        panic!()
    };
    assert_eq!(m.device, "aurora");
    assert_eq!(m.value, 25.77);
}

/// Modem KPIs and ship state are one series per link or ship: an exporter that labels only
/// the link (or the ship) is accepted, with no device, like a remote-write series
/// without `device`/`instance`; a series with neither a device nor such a label is not.
#[test]
fn link_and_ship_series_need_no_device() {
    let body = concat!(
        "{\"metric\":\"modem_esno_db\",\"value\":10.78,\"labels\":{\"link\":\"leo-a\"},\"ts\":1741932000250}\n",
        "{\"metric\":\"ship_heading_deg\",\"value\":182.5,\"labels\":{\"ship\":\"aurora\"}}\n",
        "{\"metric\":\"modem_lock\",\"value\":1,\"labels\":{\"link\":\"\"}}\n",
        "{\"metric\":\"device_cpu_percent\",\"value\":50,\"labels\":{\"core\":\"0\"}}\n",
    );
    let b = decode_ndjson(body.as_bytes());
    let errs: Vec<(usize, &str)> = b
        .errors
        .iter()
        .map(|e| (e.line, e.error.reason()))
        .collect();
    assert_eq!(errs, vec![(3, "missing_field"), (4, "missing_field")]);
    let NdjsonRecord::Metric(m) = &b.records[0] else {
        panic!()
    };
    assert_eq!((m.device.as_str(), m.label("link")), ("", Some("leo-a")));
    assert_eq!(m.known(), Some(KnownMetric::ModemEsnoDb));
    let NdjsonRecord::Metric(m) = &b.records[1] else {
        panic!()
    };
    assert_eq!((m.device.as_str(), m.label("ship")), ("", Some("aurora")));
    assert_eq!(m.value, 182.5);
}

#[test]
fn last_line_bad_utf8_is_reported() {
    let b = decode_ndjson(b"{\"host\":\"a\",\"message\":\"\xff\"}");
    assert_eq!(b.errors.len(), 1);
    assert_eq!(b.errors[0].error, DecodeError::BadUtf8);
    assert_eq!(b.errors[0].line, 1);
}

#[test]
fn streaming_iterator_and_units() {
    let body = b"{\"host\":\"h\",\"message\":\"a\",\"ts\":1741928493.5}\n{\"host\":\"h\",\"message\":\"b\",\"ts\":1741928493000000}\n{\"host\":\"h\",\"message\":\"c\",\"ts\":\"1741928493000000000\"}";
    let got: Vec<_> = NdjsonLines::new(body)
        .map(|(n, r)| match r.unwrap() {
            NdjsonRecord::Log(l) => (n, l.ts_ms.unwrap()),
            NdjsonRecord::Metric(_) => panic!(),
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 1_741_928_493_500),
            (2, 1_741_928_493_000),
            (3, 1_741_928_493_000)
        ]
    );
    assert!(decode_ndjson(b"").records.is_empty());
    let long = format!(
        "{{\"host\":\"h\",\"message\":\"{}\"}}",
        "x".repeat(MAX_NDJSON_LINE)
    );
    assert_eq!(
        decode_ndjson(long.as_bytes()).errors[0].error,
        DecodeError::TooLong
    );
}
