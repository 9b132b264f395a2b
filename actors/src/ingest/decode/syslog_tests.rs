//! Syslog decoding on real-world lines (domain.md §3, RFC 5424 §6.5).

use super::*;

/// 2025-03-14T14:00:00Z: "now" for year-less stamps.
const NOW: i64 = 1_741_960_800_000;

fn opts() -> SyslogOptions {
    SyslogOptions::at(NOW)
}

fn p(line: &str) -> SyslogRecord<'_> {
    parse_syslog(line.as_bytes(), &opts()).unwrap_or_else(|e| panic!("{line:?}: {e:?}"))
}

fn ms(rfc3339: &str) -> i64 {
    parse_rfc3339_ms(rfc3339.as_bytes()).unwrap().unwrap().0
}

#[test]
fn rfc5424_example_1() {
    let r = p("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8");
    assert_eq!(r.format, SyslogFormat::Rfc5424);
    assert_eq!(r.priority, Some(34));
    assert_eq!(r.facility, Some(4));
    assert_eq!(r.severity, Some(Severity::Critical));
    assert_eq!(r.timestamp_ms, Some(1_065_910_455_003));
    assert_eq!(r.hostname, Some("mymachine.example.com"));
    assert_eq!(r.app_name, Some("su"));
    assert_eq!(r.proc_id, None);
    assert_eq!(r.msg_id, Some("ID47"));
    assert_eq!(r.structured_data, None);
    assert_eq!(r.message, "'su root' failed for lonvick on /dev/pts/8");
    assert_eq!(r.vendor, VendorHint::None);
}

#[test]
fn rfc5424_example_2_offset_and_micros() {
    let r = p("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.");
    assert_eq!(r.facility, Some(20));
    assert_eq!(r.severity, Some(Severity::Notice));
    assert_eq!(r.timestamp_ms, Some(ms("2003-08-24T12:14:15Z")));
    assert_eq!(r.hostname, Some("192.0.2.1"));
    assert_eq!(r.app_name, Some("myproc"));
    assert_eq!(r.proc_id, Some("8710"));
    assert_eq!(r.msg_id, None);
    assert_eq!(r.message, "%% It's time to make the do-nuts.");
    // "%%" is not a Cisco mnemonic.
    assert_eq!(r.vendor, VendorHint::None);
}

#[test]
fn rfc5424_structured_data() {
    let line = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] \u{FEFF}An application event log entry...";
    let r = p(line);
    assert_eq!(
        r.structured_data,
        Some("[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]")
    );
    assert_eq!(r.message, "An application event log entry...");
    let params: Vec<_> = sd_params(r.structured_data.unwrap()).collect();
    assert_eq!(
        params,
        vec![
            ("exampleSDID@32473", "iut", "3"),
            ("exampleSDID@32473", "eventSource", "Application"),
            ("exampleSDID@32473", "eventID", "1011"),
        ]
    );

    // Two elements, no MSG.
    let r = p("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"]");
    assert_eq!(r.message, "");
    assert!(r
        .structured_data
        .unwrap()
        .ends_with("[examplePriority@32473 class=\"high\"]"));
    assert_eq!(sd_params(r.structured_data.unwrap()).count(), 4);
    assert_eq!(
        sd_params(r.structured_data.unwrap()).last(),
        Some(("examplePriority@32473", "class", "high"))
    );

    // Escapes inside values, `]` included.
    let r = p(r#"<14>1 2025-03-14T03:12:07Z h a p m [x@1 k="a\"b\]c\\"] msg"#);
    assert_eq!(r.structured_data, Some(r#"[x@1 k="a\"b\]c\\"]"#));
    assert_eq!(r.message, "msg");
    assert_eq!(
        sd_params(r.structured_data.unwrap()).next(),
        Some(("x@1", "k", r#"a\"b\]c\\"#))
    );
}

#[test]
fn rfc5424_nil_everything_and_lenient_variants() {
    let r = p("<13>1 - - - - - -");
    assert_eq!(r.timestamp_ms, None);
    assert_eq!(r.hostname, None);
    assert_eq!(r.message, "");
    // No PRI (relay stripped it) but still 5424-shaped.
    let r = p("1 2003-10-11T22:14:15.003Z host app 12 - - hello");
    assert_eq!(r.format, SyslogFormat::Rfc5424);
    assert_eq!(r.priority, None);
    assert_eq!(r.severity, None);
    assert_eq!(r.proc_id, Some("12"));
    // SD omitted entirely: lenient, the rest is the message.
    let r = p("<14>1 2003-10-11T22:14:15Z host app - - hello world");
    assert_eq!(r.structured_data, None);
    assert_eq!(r.message, "hello world");
    // Trailing CRLF / NUL are ignored.
    assert_eq!(p("<14>1 - h a - - - m\r\n").message, "m");
    assert_eq!(p("<14>1 - h a - - - m\0").message, "m");
}

#[test]
fn rfc3164_classic() {
    let r = p("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8");
    assert_eq!(r.format, SyslogFormat::Rfc3164);
    assert_eq!(r.severity, Some(Severity::Critical));
    assert_eq!(r.timestamp_ms, Some(ms("2024-10-11T22:14:15Z")));
    assert_eq!(r.hostname, Some("mymachine"));
    assert_eq!(r.app_name, Some("su"));
    assert_eq!(r.proc_id, None);
    assert_eq!(r.message, "'su root' failed for lonvick on /dev/pts/8");
    // Space-padded day, no hostname.
    let r = p("<13>Mar  4 03:00:00 sshd[42]: Accepted publickey");
    assert_eq!(r.timestamp_ms, Some(ms("2025-03-04T03:00:00Z")));
    assert_eq!(r.hostname, None);
    assert_eq!(r.app_name, Some("sshd"));
    assert_eq!(r.proc_id, Some("42"));
    // rsyslog high-precision RFC 3339 in the 3164 position.
    let r = p("<30>2025-03-14T05:01:33.123456+00:00 pms-db01 systemd[1]: Started x.");
    assert_eq!(r.format, SyslogFormat::Rfc3164);
    assert_eq!(r.timestamp_ms, Some(ms("2025-03-14T05:01:33.123Z")));
    assert_eq!(r.hostname, Some("pms-db01"));
    assert_eq!(r.app_name, Some("systemd"));
    // syslog-ng's loggen (BSD mode): ISO 8601 without a zone, read as UTC. Before, the
    // stamp was not recognised and the whole line became a bare message without a host.
    let r = p("<38>2026-11-30T00:35:23 localhost prg00000[1234]: seq: 0000000000, thread: 0000");
    assert_eq!(r.format, SyslogFormat::Rfc3164);
    assert_eq!(r.timestamp_ms, Some(ms("2026-11-30T00:35:23Z")));
    assert_eq!(r.hostname, Some("localhost"));
    assert_eq!(r.app_name, Some("prg00000"));
    assert_eq!(r.proc_id, Some("1234"));
    assert_eq!(r.message, "seq: 0000000000, thread: 0000");
    // RFC 5424 keeps requiring the offset.
    assert!(parse_syslog(b"<38>1 2026-11-30T00:35:23 h a - - - m", &opts()).is_err());
}

#[test]
fn cisco_ios_lines() {
    let lines = [
        ("Mar 14 03:12:07.412 UTC: %LINK-3-UPDOWN: Interface TenGigabitEthernet1/1/1, changed state to down", "LINK", 3, "UPDOWN", "Interface TenGigabitEthernet1/1/1, changed state to down", "2025-03-14T03:12:07.412Z"),
        ("Mar 14 03:12:08.415 UTC: %LINEPROTO-5-UPDOWN: Line protocol on Interface TenGigabitEthernet1/1/1, changed state to down", "LINEPROTO", 5, "UPDOWN", "Line protocol on Interface TenGigabitEthernet1/1/1, changed state to down", "2025-03-14T03:12:08.415Z"),
        ("Mar 14 03:40:51.002 UTC: %SYS-5-CONFIG_I: Configured from console by netadm on vty0 (10.20.0.15)", "SYS", 5, "CONFIG_I", "Configured from console by netadm on vty0 (10.20.0.15)", "2025-03-14T03:40:51.002Z"),
        ("Mar 14 03:12:10.118 UTC: %CDP-4-NATIVE_VLAN_MISMATCH: Native VLAN mismatch discovered on GigabitEthernet1/0/48 (1), with D7-ACC-03 GigabitEthernet1/0/52 (20).", "CDP", 4, "NATIVE_VLAN_MISMATCH", "Native VLAN mismatch discovered on GigabitEthernet1/0/48 (1), with D7-ACC-03 GigabitEthernet1/0/52 (20).", "2025-03-14T03:12:10.118Z"),
        ("Mar 14 03:12:09.730 UTC: %SPANTREE-5-TOPOTRAP: Topology Change Trap for vlan 120", "SPANTREE", 5, "TOPOTRAP", "Topology Change Trap for vlan 120", "2025-03-14T03:12:09.730Z"),
    ];
    for (line, fac, sev, mnem, msg, ts) in lines {
        for variant in [
            line.to_string(),
            format!("000123: {line}"),
            format!("<189>000123: *{line}"),
            format!("<189>Mar 14 03:12:07 d9-core-01 000123: {line}"),
        ] {
            let r = p(&variant);
            assert_eq!(r.format, SyslogFormat::Rfc3164, "{variant}");
            assert_eq!(r.timestamp_ms, Some(ms(ts)), "{variant}");
            assert_eq!(r.severity, Some(Severity::from_code(sev)), "{variant}");
            assert_eq!(r.app_name, Some(fac), "{variant}");
            assert_eq!(r.msg_id, Some(mnem), "{variant}");
            assert_eq!(r.message, msg, "{variant}");
            let seq = variant.contains("000123").then_some(123);
            assert_eq!(
                r.vendor,
                VendorHint::Cisco {
                    facility: fac,
                    severity: sev,
                    mnemonic: mnem,
                    sequence: seq
                },
                "{variant}"
            );
            if variant.contains("d9-core-01") {
                assert_eq!(r.hostname, Some("d9-core-01"));
            } else {
                assert_eq!(r.hostname, None);
            }
        }
    }
    // Cisco severity overrides the relay's PRI severity; PRI kept raw.
    let r = p(
        "<189>Mar 14 03:12:07 d9-core-01 %LINK-3-UPDOWN: Interface Te1/1/1, changed state to down",
    );
    assert_eq!(r.priority, Some(189));
    assert_eq!(r.severity, Some(Severity::Error));
    assert_eq!(r.hostname, Some("d9-core-01"));
    // Origin-id hostname form and sub-facility.
    let r = p("<187>58: d9-core-01: *Mar 14 03:12:07.412 UTC: %LINEPROTO-SP-5-UPDOWN: x");
    assert_eq!(r.hostname, Some("d9-core-01"));
    assert!(matches!(
        r.vendor,
        VendorHint::Cisco {
            facility: "LINEPROTO-SP",
            severity: 5,
            mnemonic: "UPDOWN",
            sequence: Some(58)
        }
    ));
}

#[test]
fn juniper_line() {
    let r = p("Mar 14 03:12:07 d9-dist-02 mib2d[1873]: SNMP_TRAP_LINK_DOWN: ifIndex 531, ifAdminStatus up(1), ifOperStatus down(2), ifName xe-0/1/2");
    assert_eq!(r.format, SyslogFormat::Rfc3164);
    assert_eq!(r.timestamp_ms, Some(ms("2025-03-14T03:12:07Z")));
    assert_eq!(r.hostname, Some("d9-dist-02"));
    assert_eq!(r.app_name, Some("mib2d"));
    assert_eq!(r.proc_id, Some("1873"));
    assert_eq!(r.msg_id, Some("SNMP_TRAP_LINK_DOWN"));
    assert_eq!(
        r.vendor,
        VendorHint::Juniper {
            event: "SNMP_TRAP_LINK_DOWN"
        }
    );
    assert_eq!(
        r.message,
        "ifIndex 531, ifAdminStatus up(1), ifOperStatus down(2), ifName xe-0/1/2"
    );
    assert_eq!(r.severity, None);
    let r = p("<28>Mar 14 03:12:07 d9-dist-02 l2cpd[2001]: LLDP_NEIGHBOR_DOWN: LLDP neighbor down");
    assert_eq!(r.severity, Some(Severity::Warning));
    assert_eq!(r.msg_id, Some("LLDP_NEIGHBOR_DOWN"));
}

#[test]
fn aruba_wlc_line() {
    let r = p("<142>Mar 14 03:12:41 2025 wlc-01 stm[3411]: <404400> <NOTI> |AP D9-FWD-114@10.40.9.114 sapd| AP is down (heartbeat timeout)");
    assert_eq!(r.priority, Some(142));
    assert_eq!(r.facility, Some(17));
    assert_eq!(r.severity, Some(Severity::Notice));
    assert_eq!(r.timestamp_ms, Some(ms("2025-03-14T03:12:41Z")));
    assert_eq!(r.hostname, Some("wlc-01"));
    assert_eq!(r.app_name, Some("stm"));
    assert_eq!(r.proc_id, Some("3411"));
    assert_eq!(r.msg_id, Some("404400"));
    assert_eq!(r.message, "AP is down (heartbeat timeout)");
    assert_eq!(
        r.vendor,
        VendorHint::Aruba {
            msg_id: "404400",
            level: "NOTI",
            ap_name: Some("D9-FWD-114"),
            ap_ip: Some("10.40.9.114"),
            ap_process: Some("sapd"),
        }
    );
}

#[test]
fn fortios_line() {
    let line = r#"date=2025-03-14 time=21:05:12 devname="FGT-SHIP-A" devid="FG3H0E0000000001" logid="0100022011" type="event" subtype="system" level="critical" vd="root" logdesc="Memory conserve mode entered" msg="Kernel enters memory conserve mode""#;
    for l in [line.to_string(), format!("<189>{line}")] {
        let r = p(&l);
        assert_eq!(r.format, SyslogFormat::Bare);
        assert_eq!(r.hostname, Some("FGT-SHIP-A"));
        assert_eq!(r.severity, Some(Severity::Critical));
        assert_eq!(r.timestamp_ms, Some(ms("2025-03-14T21:05:12Z")));
        assert_eq!(r.msg_id, Some("0100022011"));
        assert_eq!(r.message, "Kernel enters memory conserve mode");
        match r.vendor {
            VendorHint::Fortinet {
                logid,
                log_type,
                subtype,
                level,
                devid,
                kv,
            } => {
                assert_eq!(logid, Some("0100022011"));
                assert_eq!(log_type, Some("event"));
                assert_eq!(subtype, Some("system"));
                assert_eq!(level, Some("critical"));
                assert_eq!(devid, Some("FG3H0E0000000001"));
                assert_eq!(fortinet_kv(kv).count(), 11);
                assert!(fortinet_kv(kv).any(|kv| kv == ("vd", "root")));
            }
            other => panic!("{other:?}"),
        }
    }
    // tz field and eventtime in ns.
    let r = p(
        r#"<185>date=2025-03-14 time=21:05:12 devname="FGT-SHIP-A" level="error" tz="+0100" logdesc="x""#,
    );
    assert_eq!(r.timestamp_ms, Some(ms("2025-03-14T20:05:12Z")));
    assert_eq!(r.message, "x");
    let r = p(r#"eventtime=1741986312000000000 devname=FGT-B level=warning"#);
    assert_eq!(r.timestamp_ms, Some(1_741_986_312_000));
    assert_eq!(r.hostname, Some("FGT-B"));
}

#[test]
fn linux_systemd_lines() {
    let r = p("Mar 14 05:01:33 pms-db01 kernel: Out of memory: Killed process 4182 (java) total-vm:8123456kB, anon-rss:6012344kB, file-rss:0kB, shmem-rss:0kB, UID:1001 pgtables:12840kB oom_score_adj:0");
    assert_eq!(r.hostname, Some("pms-db01"));
    assert_eq!(r.app_name, Some("kernel"));
    assert_eq!(r.proc_id, None);
    assert!(r
        .message
        .starts_with("Out of memory: Killed process 4182 (java)"));
    assert_eq!(r.vendor, VendorHint::None);

    let r =
        p("Mar 14 05:01:33 pms-db01 systemd[1]: pms-api.service: Failed with result 'oom-kill'.");
    assert_eq!(r.app_name, Some("systemd"));
    assert_eq!(r.proc_id, Some("1"));
    assert_eq!(r.message, "pms-api.service: Failed with result 'oom-kill'.");

    let r = p("Mar 14 06:20:02 pms-db01 postgres[2231]: PANIC:  could not write to file \"pg_wal/xlogtemp.2231\": No space left on device");
    assert_eq!(r.timestamp_ms, Some(ms("2025-03-14T06:20:02Z")));
    assert_eq!(r.app_name, Some("postgres"));
    assert_eq!(r.proc_id, Some("2231"));
    assert_eq!(r.vendor, VendorHint::None);
    assert!(r.message.starts_with("PANIC:  could not write"));

    // Header without timestamp (relay stripped it), still `host app[pid]:`.
    let r = p("pms-db01 sshd[77]: Accepted publickey for root");
    assert_eq!(r.hostname, Some("pms-db01"));
    assert_eq!(r.app_name, Some("sshd"));
    assert_eq!(r.message, "Accepted publickey for root");
}

#[test]
fn windows_event_json() {
    let r = p(
        r#"<14>1 2025-03-14T05:01:33Z DC01 Microsoft-Windows-Security-Auditing 4 - - {"EventTime":"2025-03-14 05:01:33","Hostname":"DC01.ship.local","EventID":4625,"SourceName":"Microsoft-Windows-Security-Auditing","Channel":"Security","Severity":"ERROR","Message":"An account failed to log on.\r\n\r\nSubject:"}"#,
    );
    assert_eq!(r.format, SyslogFormat::Rfc5424);
    assert_eq!(r.hostname, Some("DC01"));
    assert_eq!(r.severity, Some(Severity::Error));
    assert_eq!(
        r.vendor,
        VendorHint::WindowsEvent {
            event_id: Some(4625),
            provider: Some("Microsoft-Windows-Security-Auditing"),
            channel: Some("Security"),
        }
    );
    assert!(r.message.starts_with('{') && r.message.ends_with('}'));
    // Bare JSON, Level numeric, host from Computer.
    let r = p(
        r#"{"Computer":"pos-03","EventId":"41","ProviderName":"Microsoft-Windows-Kernel-Power","Channel":"System","Level":1}"#,
    );
    assert_eq!(r.hostname, Some("pos-03"));
    assert_eq!(r.severity, Some(Severity::Critical));
    assert!(matches!(
        r.vendor,
        VendorHint::WindowsEvent {
            event_id: Some(41),
            ..
        }
    ));
    // JSON that is not a Windows event stays a plain message.
    let r = p(r#"<13>{"hello":"world"}"#);
    assert_eq!(r.vendor, VendorHint::None);
    assert_eq!(r.message, r#"{"hello":"world"}"#);
}

#[test]
fn lenient_bare_messages() {
    let r = p("just some text from a relay");
    assert_eq!(r.format, SyslogFormat::Bare);
    assert_eq!(r.priority, None);
    assert_eq!(r.severity, None);
    assert_eq!(r.hostname, None);
    assert_eq!(r.message, "just some text from a relay");
    let r = p("<13>May 3 people walked in");
    assert_eq!(r.timestamp_ms, None);
    assert_eq!(r.message, "May 3 people walked in");
    assert_eq!(r.severity, Some(Severity::Notice));
    // Non-1 version without PRI is just text.
    assert_eq!(p("2 - apples").message, "2 - apples");
}

#[test]
fn error_reasons() {
    let o = opts();
    let strict = SyslogOptions {
        require_priority: true,
        ..o
    };
    let tiny = SyslogOptions { max_len: 16, ..o };
    let cases: &[(&[u8], &SyslogOptions, DecodeError)] = &[
        (b"", &o, DecodeError::Empty),
        (b" \r\n", &o, DecodeError::Empty),
        (b"<>1 - - - - - -", &o, DecodeError::BadPriority),
        (b"<192>hello", &o, DecodeError::BadPriority),
        (b"<1234>hello", &o, DecodeError::BadPriority),
        (b"<34 hello", &o, DecodeError::BadPriority),
        (b"<html>", &o, DecodeError::BadPriority),
        (b"hello", &strict, DecodeError::MissingPriority),
        (b"<34>", &o, DecodeError::Truncated),
        (
            b"<34>1 2003-10-11T22:14:15Z host",
            &o,
            DecodeError::Truncated,
        ),
        (
            b"<34>1 2003-10-11T22:14:15Z host app proc msgid",
            &o,
            DecodeError::Truncated,
        ),
        (
            b"<34>2 2003-10-11T22:14:15Z host app - - - x",
            &o,
            DecodeError::UnsupportedVersion,
        ),
        (
            b"<34>1 2003-13-11T22:14:15Z host app - - - x",
            &o,
            DecodeError::BadTimestamp,
        ),
        (
            b"<34>1 2003-10-11T22:14:15Zjunk host app - - - x",
            &o,
            DecodeError::BadTimestamp,
        ),
        (
            b"<34>Mar 14 25:12:07 host app: x",
            &o,
            DecodeError::BadTimestamp,
        ),
        (
            b"<34>Feb 30 01:12:07 host app: x",
            &o,
            DecodeError::BadTimestamp,
        ),
        (b"<34>1 - host\x01x app - - - x", &o, DecodeError::BadHeader),
        (
            b"<34>1 - host aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa - - - x",
            &o,
            DecodeError::BadHeader,
        ),
        (
            b"<34>1 - h a - - [id k=v] x",
            &o,
            DecodeError::BadStructuredData,
        ),
        (
            b"<34>1 - h a - - [id k=\"v\" x",
            &o,
            DecodeError::BadStructuredData,
        ),
        (
            b"<34>1 - h a - - [id k=\"v\"]x",
            &o,
            DecodeError::BadStructuredData,
        ),
        (b"<34>1 - h a - - [] x", &o, DecodeError::BadStructuredData),
        (
            b"<34>Mar 14 03:12:07 h a: \xff\xfe",
            &o,
            DecodeError::BadUtf8,
        ),
        (
            b"<34>this line is longer than sixteen bytes",
            &tiny,
            DecodeError::TooLong,
        ),
    ];
    for (input, opts, want) in cases {
        assert_eq!(
            parse_syslog(input, opts),
            Err(*want),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    assert_eq!(DecodeError::BadPriority.reason(), "bad_priority");
}
