//! Stable-toolchain fuzzing fallback: a few hundred thousand deterministic,
//! seeded mutations of real inputs fed to every decoder; the only assertion
//! is "no panic" (plus cheap invariants). Scale with `SEAWATCH_FUZZ_ITERS`.
//! The coverage-guided targets live in `actors/fuzz/` (cargo-fuzz).

use super::*;

/// splitmix64: tiny, deterministic, good enough for mutation choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const TOKENS: &[&[u8]] = &[
    b"<",
    b">",
    b"<34>",
    b"<191>",
    b"<192>",
    b"1 ",
    b"-",
    b" ",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b"=",
    b"%",
    b":",
    b": ",
    b"\n",
    b"\r\n",
    b"\0",
    b"{",
    b"}",
    b"|",
    b"@",
    b"\xff",
    b"\xc3",
    b"\xef\xbb\xbf",
    b"2025-03-14T03:12:07.412+05:30",
    b"Mar 14 03:12:07.412 UTC:",
    b"*Feb 29 ",
    b"000123: ",
    b"%LINK-3-UPDOWN:",
    b"<404400> <NOTI> |AP ",
    b"devname=",
    b"date=",
    b"level=",
    b"\"EventID\":",
    b"SNMP_TRAP_LINK_DOWN: ",
    b"99999999999 ",
    b"12 <",
    b"[a@1 k=\"v\"]",
];

fn mutate(rng: &mut Rng, seeds: &[&[u8]], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(seeds[rng.below(seeds.len())]);
    for _ in 0..1 + rng.below(8) {
        let len = out.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len + 1);
                out.insert(i, rng.next() as u8);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let j = (i + 1 + rng.below(16)).min(len);
                out.drain(i..j);
            }
            3 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                let i = rng.below(len + 1);
                out.splice(i..i, t.iter().copied());
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let j = (i + 1 + rng.below(32)).min(len);
                let dup = out[i..j].to_vec();
                let at = rng.below(len + 1);
                out.splice(at..at, dup);
            }
            5 => {
                let other = seeds[rng.below(seeds.len())];
                let i = rng.below(len + 1);
                let j = rng.below(other.len() + 1);
                out.truncate(i);
                out.extend_from_slice(&other[j..]);
            }
            6 => out.truncate(rng.below(len + 1)),
            _ => {
                let i = rng.below(len + 1);
                out.insert(i, b"0123456789 -:.TZ"[rng.below(16)]);
            }
        }
    }
}

fn iters(default: usize) -> usize {
    std::env::var("SEAWATCH_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const SYSLOG_SEEDS: &[&[u8]] = &[
    b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8",
    b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"] msg",
    b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
    b"Mar 14 03:12:07.412 UTC: %LINK-3-UPDOWN: Interface TenGigabitEthernet1/1/1, changed state to down",
    b"<189>000123: *Mar 14 03:12:10.118 UTC: %CDP-4-NATIVE_VLAN_MISMATCH: Native VLAN mismatch",
    b"<187>58: d9-core-01: *Mar 14 03:12:07.412 UTC: %LINEPROTO-SP-5-UPDOWN: x",
    b"Mar 14 03:12:07 d9-dist-02 mib2d[1873]: SNMP_TRAP_LINK_DOWN: ifIndex 531, ifName xe-0/1/2",
    b"<142>Mar 14 03:12:41 2025 wlc-01 stm[3411]: <404400> <NOTI> |AP D9-FWD-114@10.40.9.114 sapd| AP is down (heartbeat timeout)",
    b"date=2025-03-14 time=21:05:12 devname=\"FGT-SHIP-A\" devid=\"FG3H0E0000000001\" logid=\"0100022011\" type=\"event\" subtype=\"system\" level=\"critical\" tz=\"+0100\" msg=\"Kernel enters memory conserve mode\"",
    b"Mar 14 05:01:33 pms-db01 systemd[1]: pms-api.service: Failed with result 'oom-kill'.",
    b"<14>1 2025-03-14T05:01:33Z DC01 Microsoft-Windows-Security-Auditing 4 - - {\"Hostname\":\"DC01\",\"EventID\":4625,\"Channel\":\"Security\",\"Severity\":\"ERROR\",\"Level\":2}",
    b"eventtime=1741986312000000000 devname=FGT-B level=warning",
];

#[test]
fn syslog_decoder_never_panics() {
    let mut rng = Rng(0x5EA_3A7C4);
    let opts = SyslogOptions::at(1_741_960_800_000);
    let strict = SyslogOptions {
        require_priority: true,
        ..opts
    };
    let mut buf = Vec::new();
    let mut ok = 0usize;
    let n = iters(300_000);
    for i in 0..n {
        mutate(&mut rng, SYSLOG_SEEDS, &mut buf);
        let o = if i % 4 == 0 { &strict } else { &opts };
        if let Ok(r) = parse_syslog(&buf, o) {
            ok += 1;
            // The record borrows from the input: every str must lie inside it.
            let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len() + 1;
            for s in [Some(r.message), r.hostname, r.app_name, r.proc_id, r.msg_id]
                .into_iter()
                .flatten()
            {
                assert!(range.contains(&(s.as_ptr() as usize)) || s.is_empty());
            }
            if let Some(sd) = r.structured_data {
                sd_params(sd).for_each(drop);
            }
            if let VendorHint::Fortinet { kv, .. } = r.vendor {
                fortinet_kv(kv).for_each(drop);
            }
        }
        // Also arbitrary strings through the helper iterators.
        if let Ok(s) = std::str::from_utf8(&buf) {
            sd_params(s).take(64).for_each(drop);
            fortinet_kv(s).take(64).for_each(drop);
        }
    }
    assert!(ok > n / 10, "mutations too destructive: {ok}/{n} decoded");
}

#[test]
fn framer_never_panics_and_stays_bounded() {
    let mut rng = Rng(0xF4A3E);
    let mut stream = Vec::new();
    let mut m = Vec::new();
    for _ in 0..iters(300_000) / 30 {
        stream.clear();
        for _ in 0..1 + rng.below(6) {
            mutate(&mut rng, SYSLOG_SEEDS, &mut m);
            match rng.below(3) {
                0 => stream.extend_from_slice(format!("{} ", m.len()).as_bytes()),
                1 => stream.extend_from_slice(format!("{} ", rng.below(400)).as_bytes()),
                _ => {}
            }
            stream.extend_from_slice(&m);
            stream.push(b"\n\0\r"[rng.below(3)]);
        }
        let max = 16 + rng.below(256);
        let mut f = SyslogFramer::new(max);
        let mut rest = &stream[..];
        while !rest.is_empty() {
            let k = 1 + rng.below(rest.len().min(64));
            f.push(&rest[..k]);
            rest = &rest[k..];
            while let Some(fr) = f.next_frame() {
                if let Ok(b) = fr {
                    assert!(b.len() <= max);
                    let _ = parse_syslog(&b, &SyslogOptions::at(0));
                }
            }
            assert!(f.buffered() <= max + 64 + 12);
        }
        let _ = f.finish();
    }
}

#[test]
fn remote_write_never_panics() {
    let req = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![
                Label {
                    name: "__name__".into(),
                    value: "ifHCInOctets".into(),
                },
                Label {
                    name: "instance".into(),
                    value: "core-sw-1:161".into(),
                },
            ],
            samples: vec![
                Sample {
                    value: 1.5,
                    timestamp: 1_741_921_927_000,
                },
                Sample {
                    value: f64::from_bits(0x7ff0_0000_0000_0002),
                    timestamp: 2,
                },
            ],
        }],
    };
    let pb = prost::Message::encode_to_vec(&req);
    let compressed = encode_write_request(&req);
    let seeds: &[&[u8]] = &[&pb, &compressed];
    let mut rng = Rng(0x3E3073);
    let mut buf = Vec::new();
    let mut enc = snap::raw::Encoder::new();
    for i in 0..iters(300_000) / 2 {
        mutate(&mut rng, seeds, &mut buf);
        // Half the time mutate the protobuf and compress it properly, so the
        // protobuf decoder (not just snappy) sees garbage.
        let body = if i % 2 == 0 {
            enc.compress_vec(&buf).unwrap()
        } else {
            buf.clone()
        };
        let _ = decode_remote_write(&body, 1 << 20);
    }
}

#[test]
fn ndjson_never_panics() {
    let seeds: &[&[u8]] = &[
        b"{\"host\":\"pms-db01\",\"ts\":\"2025-03-14T05:01:33Z\",\"severity\":\"crit\",\"message\":\"Out of memory\"}",
        b"{\"metric\":\"modem_esno_db\",\"value\":11.5,\"labels\":{\"device\":\"modem-1\",\"n\":3,\"b\":true,\"z\":null},\"ts\":1741928493000}",
        b"{\"metric\":\"probe_success\",\"value\":\"+Inf\",\"labels\":{\"instance\":\"[fe80::1]:9115\"}}",
    ];
    let mut rng = Rng(0x9D7503);
    let mut buf = Vec::new();
    let mut body = Vec::new();
    for _ in 0..iters(300_000) / 10 {
        body.clear();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut rng, seeds, &mut buf);
            body.extend_from_slice(&buf);
            body.push(b'\n');
        }
        let b = decode_ndjson(&body);
        assert!(
            b.records.len() + b.errors.len() <= body.iter().filter(|c| **c == b'\n').count() + 1
        );
    }
}

/// The `memchr` version of [`fortinet_kv`] the byte loop replaced: the reference.
fn fortinet_kv_reference(s: &str) -> Vec<(&str, &str)> {
    let mut rest = s;
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start_matches(' ');
        let Some(eq) = memchr::memchr2(b'=', b' ', rest.as_bytes()) else {
            return out;
        };
        if eq == 0 || rest.as_bytes()[eq] != b'=' {
            return out;
        }
        let key = &rest[..eq];
        let after = &rest[eq + 1..];
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match memchr::memchr(b'"', q.as_bytes()) {
                Some(e) => (&q[..e], &q[e + 1..]),
                None => (q, ""),
            }
        } else {
            match memchr::memchr(b' ', after.as_bytes()) {
                Some(e) => (&after[..e], &after[e..]),
                None => (after, ""),
            }
        };
        rest = next;
        out.push((key, value));
    }
}

#[test]
fn fortinet_kv_matches_the_reference_on_random_pairs() {
    const PIECES: &[&str] = &[
        "date",
        "=",
        "\"",
        " ",
        "  ",
        "x",
        "devname",
        "fw-1",
        "ü",
        "level=\"notice\"",
        "a=b",
        "=\"",
        "\"\"",
        "k=",
        "é=1",
        "msg=\"two words\"",
    ];
    let mut rng = Rng(0x5eed_f047);
    let mut checked = 0;
    for _ in 0..50_000 {
        let mut s = String::new();
        for _ in 0..rng.below(12) {
            s.push_str(PIECES[rng.below(PIECES.len())]);
        }
        let got: Vec<(&str, &str)> = fortinet_kv(&s).collect();
        assert_eq!(got, fortinet_kv_reference(&s), "input {s:?}");
        checked += usize::from(!got.is_empty());
    }
    assert!(checked > 10_000, "too few inputs with pairs: {checked}");
}
