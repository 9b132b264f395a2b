//! The syslog-like lines of the log search benchmarks (`log_search`,
//! `log_search_clickhouse`): 300 devices (100 busy ones, skewed so that a few firewalls
//! and switches are chatty, and 200 quiet ones writing a line every 100 s or so), switch,
//! firewall, Wi-Fi and Linux templates with changing ids, addresses, counters and users;
//! 1 line in 10 a warning or worse; one line in 2 M holds the rare word `segfault`.

use rand::rngs::SmallRng;
use rand::Rng;
use seawatch_runtime::event_log::{EventKind, NewEvent};

/// The first event's time.
pub const T0: i64 = 1_765_000_000_000;

/// The mix of searches: (name, `q`, whole range (else the last hour)).
pub const SEARCHES: [(&str, &str, bool); 10] = [
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

/// Event `i` of `total` spread evenly over `span_ms` from [`T0`].
pub fn event(rng: &mut SmallRng, i: u64, total: u64, span_ms: i64) -> NewEvent {
    // A few chatty sources (firewalls, the WLC) among 100 busy devices, and
    // 200 quiet ones that write a line every 100 s or so.
    let dev = if rng.random_bool(0.001) {
        100 + rng.random_range(0..200usize)
    } else {
        (100.0 * rng.random::<f64>().powi(3)) as usize
    };
    let (severity, body) = line(rng, dev, i);
    NewEvent {
        ts_ms: T0 + (i as i128 * span_ms as i128 / total as i128) as i64,
        kind: EventKind::Log,
        source: format!("{}-{dev}", ["sw", "fw", "wlc", "srv"][dev % 4]),
        severity,
        body,
    }
}

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
