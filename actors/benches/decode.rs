//! Syslog line decoding throughput: RFC 5424, RFC 3164 and vendor variants,
//! plus the framer on a mixed stream.
//!
//! `cargo bench -p seawatch-actors --bench decode -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use seawatch_actors::ingest::decode::{parse_syslog, SyslogFramer, SyslogOptions};
use std::hint::black_box;

const LINES: &[(&str, &str)] = &[
    ("rfc5424", "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8"),
    ("rfc5424_sd", "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] An application event log entry..."),
    ("rfc3164", "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8"),
    ("rfc3164_linux", "Mar 14 05:01:33 pms-db01 systemd[1]: pms-api.service: Failed with result 'oom-kill'."),
    ("cisco", "<189>000123: *Mar 14 03:12:07.412 UTC: %LINK-3-UPDOWN: Interface TenGigabitEthernet1/1/1, changed state to down"),
    ("juniper", "Mar 14 03:12:07 d9-dist-02 mib2d[1873]: SNMP_TRAP_LINK_DOWN: ifIndex 531, ifAdminStatus up(1), ifOperStatus down(2), ifName xe-0/1/2"),
    ("fortios", "<189>date=2025-03-14 time=21:05:12 devname=\"FGT-SHIP-A\" devid=\"FG3H0E0000000001\" logid=\"0100022011\" type=\"event\" subtype=\"system\" level=\"critical\" vd=\"root\" logdesc=\"Memory conserve mode entered\" msg=\"Kernel enters memory conserve mode\""),
];

fn lines(c: &mut Criterion) {
    let opts = SyslogOptions::at(1_741_960_800_000);
    let mut g = c.benchmark_group("syslog_line");
    g.throughput(Throughput::Elements(1));
    for (name, line) in LINES {
        let bytes = line.as_bytes();
        assert!(parse_syslog(bytes, &opts).is_ok());
        g.bench_function(*name, |b| {
            b.iter(|| parse_syslog(black_box(bytes), &opts).map(|r| r.message.len()))
        });
    }
    g.finish();
}

fn framer(c: &mut Criterion) {
    let mut stream = Vec::new();
    for i in 0..1000 {
        let (_, line) = LINES[i % LINES.len()];
        if i % 2 == 0 {
            stream.extend_from_slice(format!("{} ", line.len()).as_bytes());
            stream.extend_from_slice(line.as_bytes());
        } else {
            stream.extend_from_slice(line.as_bytes());
            stream.push(b'\n');
        }
    }
    let opts = SyslogOptions::at(1_741_960_800_000);
    let mut g = c.benchmark_group("framer");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("frame_and_decode_1000_4k_chunks", |b| {
        b.iter(|| {
            let mut f = SyslogFramer::default();
            let mut n = 0usize;
            for chunk in stream.chunks(4096) {
                f.push(chunk);
                while let Some(Ok(fr)) = f.next_frame() {
                    n += parse_syslog(&fr, &opts).is_ok() as usize;
                }
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, lines, framer);
criterion_main!(benches);
