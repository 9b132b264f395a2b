//! Log search latency over a busy ship's event log (issue 19's goal: p95 ≤ 200 ms over
//! 24 h of a 2,000 events/s ship), through the embedded [`LogIndex`] as `GET /api/logs`
//! uses it (HTTP and JSON left out).
//!
//! `cargo run --release -p seawatch-actors --example log_search -- [HOURS] [RATE] [DIR]`
//! (default 2 h at 2,000 events/s in a temporary directory) fills an event log with
//! syslog-like lines of 300 devices (100 busy ones, skewed so that a few firewalls and
//! switches are chatty, and 200 quiet ones writing a line every 100 s; switch, firewall,
//! Wi-Fi and Linux templates with changing ids, addresses, counters and users; 1 line in
//! 10 a warning or worse; one line in 2 M holds the rare word `segfault`), builds the index (default bounds) and times a
//! mix of searches over the whole range and the last hour, 40 each with random ends
//! from a seed drawn at start (printed). Prints p50/p95/max per search, events read,
//! blocks skipped, index memory per event, and the fill and index rates.

use std::time::Instant;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use seawatch_actors::store::search;
use seawatch_actors::store::{IndexConfig, LogIndex, Query};
use seawatch_runtime::event_log::{EventKind, EventLog, EventLogConfig, FsyncPolicy, NewEvent};

const T0: i64 = 1_765_000_000_000;

fn line(rng: &mut SmallRng, dev: usize, n: u64) -> (u8, String) {
    let ip = |r: &mut SmallRng| {
        format!(
            "10.{}.{}.{}",
            r.random_range(0..4),
            r.random_range(0..255),
            r.random_range(1..255)
        )
    };
    let users = ["ops", "admin", "backup", "nagios", "crew17", "bridge"];
    let user = users[rng.random_range(0..users.len())];
    if n % 2_000_000 == 1_234_567 {
        return (
            2,
            format!(
                "kernel: [{n}] ntpd[{}]: segfault at 0 ip 00007f error 4",
                rng.random_range(100..9999)
            ),
        );
    }
    match (dev % 4, rng.random_range(0..20)) {
        (0, 0) => (3, format!("%LINK-3-UPDOWN: Interface GigabitEthernet1/0/{}, changed state to down", rng.random_range(1..48))),
        (0, 1) => (5, format!("%LINK-5-CHANGED: Interface GigabitEthernet1/0/{}, changed state to up", rng.random_range(1..48))),
        (0, 2) => (4, format!("%SPANTREE-4-TOPOCHANGE: Topology change on vlan {} port Gi1/0/{}", rng.random_range(1..400), rng.random_range(1..48))),
        (0, _) => (6, format!("%SEC_LOGIN-5-LOGIN_SUCCESS: Login Success [user: {user}] [Source: {}] [localport: 22] at {n}", ip(rng))),
        (1, 0) => (4, format!("action=deny srcip={} dstip={} dstport={} proto=6 policyid={} sessionid={n}", ip(rng), ip(rng), rng.random_range(1..65535), rng.random_range(1..90))),
        (1, 1) => (3, format!("IPsec SA negotiation failed peer={} reason=timeout", ip(rng))),
        (1, _) => (6, format!("action=accept srcip={} dstip={} dstport=443 proto=6 policyid={} sentbyte={} rcvdbyte={} sessionid={n}", ip(rng), ip(rng), rng.random_range(1..90), rng.random_range(40..90000), rng.random_range(40..900000))),
        (2, 0) => (4, format!("wlc: AP ap-deck{}-{} radio 1 channel changed to {} due to interference", rng.random_range(1..14), rng.random_range(1..40), [36, 40, 44, 48, 149][rng.random_range(0..5)])),
        (2, 1) => (3, format!("wlc: client {:012x} deauthenticated reason 15 (4-way handshake timeout)", rng.random::<u64>() & 0xffff_ffff_ffff)),
        (2, _) => (6, format!("wlc: client {:012x} associated to ap-deck{}-{} ssid Crew rssi -{}", rng.random::<u64>() & 0xffff_ffff_ffff, rng.random_range(1..14), rng.random_range(1..40), rng.random_range(40..90))),
        (_, 0) => (3, format!("systemd[1]: backup-{}.service: Main process exited, code=exited, status=1/FAILURE", rng.random_range(1..9))),
        (_, 1) => (4, format!("kernel: EXT4-fs warning (device sda{}): ext4_dx_add_entry: directory index full", rng.random_range(1..4))),
        (_, _) => (6, format!("sshd[{}]: Accepted publickey for {user} from {} port {} ssh2", rng.random_range(1000..60000), ip(rng), rng.random_range(1024..65535))),
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let hours: f64 = args.first().map_or(2.0, |a| a.parse().expect("HOURS"));
    let rate: u64 = args.get(1).map_or(2000, |a| a.parse().expect("RATE"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = args
        .get(2)
        .map_or(tmp.path().to_path_buf(), std::path::PathBuf::from);
    let seed: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        % 1_000_000_007;
    println!(
        "seed {seed}; {hours} h at {rate} events/s into {}",
        dir.display()
    );
    let mut rng = SmallRng::seed_from_u64(seed);
    let total = (hours * 3600.0 * rate as f64) as u64;
    let span_ms = (hours * 3_600_000.0) as i64;

    let mut cfg = EventLogConfig::new("bench-ship");
    cfg.fsync = FsyncPolicy::Never;
    let mut log = EventLog::open(&dir, cfg).unwrap();
    let t = Instant::now();
    let batch = 2000u64;
    let mut n = 0u64;
    while n < total {
        let events: Vec<NewEvent> = (n..(n + batch).min(total))
            .map(|i| {
                // A few chatty sources (firewalls, the WLC) among 100 busy devices, and
                // 200 quiet ones that write a line every 100 s or so.
                let dev = if rng.random_bool(0.001) {
                    100 + rng.random_range(0..200usize)
                } else {
                    (100.0 * rng.random::<f64>().powi(3)) as usize
                };
                let (severity, body) = line(&mut rng, dev, i);
                NewEvent {
                    ts_ms: T0 + (i as i128 * span_ms as i128 / total as i128) as i64,
                    kind: EventKind::Log,
                    source: format!("{}-{dev}", ["sw", "fw", "wlc", "srv"][dev % 4]),
                    severity,
                    body,
                }
            })
            .collect();
        n += events.len() as u64;
        log.append_batch(events).unwrap();
    }
    log.sync().unwrap();
    let fill_s = t.elapsed().as_secs_f64();
    let bytes = log.stats();
    println!(
        "filled {total} events in {fill_s:.0} s ({:.0}/s); log {} MB in {} segments",
        total as f64 / fill_s,
        bytes.bytes / 1_000_000,
        bytes.segments
    );

    let t = Instant::now();
    let mut idx = LogIndex::new(IndexConfig::default());
    idx.catch_up(&log).unwrap();
    let index_s = t.elapsed().as_secs_f64();
    let s = idx.stats();
    println!(
        "indexed in {index_s:.0} s ({:.0}/s): {} blocks, {} entries, word filters {:.1} MB = {:.2} B/event, rare-key lines {:.1} MB = {:.2} B/event",
        total as f64 / index_s,
        s.blocks,
        s.entries,
        s.bloom_bytes as f64 / 1e6,
        s.bloom_bytes as f64 / total as f64,
        s.postings_bytes as f64 / 1e6,
        s.postings_bytes as f64 / total as f64
    );

    let end = T0 + span_ms;
    let searches: [(&str, &str, bool); 10] = [
        ("rare word, whole range", "segfault", true),
        ("absent word, whole range", "kerfuffle", true),
        ("common word, whole range", "accepted", true),
        ("phrase, whole range", "\"changed state to down\"", true),
        (
            "chatty device + word, whole range",
            "device:fw-1 ipsec",
            true,
        ),
        ("quiet device, whole range", "device:srv-287", true),
        (
            "quiet device + word, whole range",
            "device:sw-200 topology",
            true,
        ),
        (
            "severity:error + word, whole range",
            "severity:error ipsec",
            true,
        ),
        ("severity:warning, last hour", "severity:warning", false),
        ("no words, last hour", "", false),
    ];
    let mut rows = Vec::new();
    let mut all = Vec::new();
    for (name, q, whole) in searches {
        let parsed = search::parse(q).unwrap();
        let mut times = Vec::new();
        let mut found = 0;
        let before = idx.stats();
        for _ in 0..40 {
            let (from, to) = if whole {
                // The whole range, its end anywhere in the last hour (a live search).
                (
                    T0 - 1,
                    end - rng.random_range(0..3_600_000.min(span_ms / 8)),
                )
            } else {
                let to = end - rng.random_range(0..600_000);
                (to - 3_600_000, to)
            };
            let mut query = Query::new(from, to, 100).text(parsed.text.clone());
            query.device = parsed.device.clone();
            query.min_severity = parsed.min_severity;
            query.kind = parsed.kind;
            let t = Instant::now();
            let got = idx.query(&log, &query).unwrap();
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            times.push(ms);
            all.push(ms);
            found += got.len();
        }
        let after = idx.stats();
        rows.push((
            name,
            pct(&mut times.clone(), 0.5),
            pct(&mut times.clone(), 0.95),
            pct(&mut times, 1.0),
            found / 40,
            (after.scanned_events - before.scanned_events) / 40,
            (after.skipped_blocks - before.skipped_blocks) / 40,
        ));
    }
    println!("| search | p50 ms | p95 ms | max ms | lines | events read | blocks skipped |");
    println!("|---|---|---|---|---|---|---|");
    for (name, p50, p95, max, found, read, skipped) in rows {
        println!("| {name} | {p50:.1} | {p95:.1} | {max:.1} | {found} | {read} | {skipped} |");
    }
    println!(
        "all {} searches: p50 {:.1} ms, p95 {:.1} ms",
        all.len(),
        pct(&mut all.clone(), 0.5),
        pct(&mut all, 0.95)
    );
}
