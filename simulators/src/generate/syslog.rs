//! Syslog lines in each vendor's format, written straight into the output arena.
//!
//! Framing: RFC 3164 (`<PRI>Mmm dd hh:mm:ss HOST TAG: MSG`) for network gear, Asterisk,
//! HVAC controllers and cameras; RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID - MSG`)
//! for FortiOS (`set format rfc5424`), Linux servers with rsyslog's protocol-23 template,
//! Windows (NXLog JSON), VMS, POS and modems. HOSTNAME is always the device id.

use super::out::W;
use super::rng::Rng;
use super::ship::{Dev, Role, Vendor};
use super::time::Civil;

/// Syslog facilities.
pub(crate) const LOCAL7: u8 = 23;
pub(crate) const DAEMON: u8 = 3;
pub(crate) const AUTH: u8 = 10;
pub(crate) const KERN: u8 = 0;
pub(crate) const USER: u8 = 1;

/// Severities.
pub(crate) const ERR: u8 = 3;
pub(crate) const WARNING: u8 = 4;
pub(crate) const NOTICE: u8 = 5;
pub(crate) const INFO: u8 = 6;
pub(crate) const CRIT: u8 = 2;

#[inline]
fn pri(w: &mut W, facility: u8, severity: u8) {
    w.b(b"<");
    w.u(u64::from(facility) * 8 + u64::from(severity));
    w.b(b">");
}

/// RFC 3164 header up to the tag.
#[inline]
pub(crate) fn h3164(w: &mut W, facility: u8, severity: u8, c: &Civil, host: &str) {
    pri(w, facility, severity);
    c.bsd(w);
    w.b(b" ");
    w.s(host);
    w.b(b" ");
}

/// RFC 5424 header up to the message.
#[inline]
#[allow(clippy::too_many_arguments)]
pub(crate) fn h5424(
    w: &mut W,
    facility: u8,
    severity: u8,
    c: &Civil,
    host: &str,
    app: &str,
    procid: Option<u32>,
    msgid: &str,
) {
    pri(w, facility, severity);
    w.b(b"1 ");
    c.rfc3339(w);
    w.b(b" ");
    w.s(host);
    w.b(b" ");
    w.s(app);
    w.b(b" ");
    match procid {
        Some(p) => w.u(u64::from(p)),
        None => w.b(b"-"),
    }
    w.b(b" ");
    w.s(msgid);
    w.b(b" - ");
}

/// Cisco IOS: `<PRI>Mmm dd hh:mm:ss HOST SEQ: Mmm dd hh:mm:ss.mmm UTC: %FAC-SEV-MNEMONIC: `.
#[inline]
pub(crate) fn cisco(w: &mut W, c: &Civil, host: &str, seq: &mut u32, severity: u8, tag: &str) {
    h3164(w, LOCAL7, severity, c, host);
    *seq = seq.wrapping_add(1);
    w.u(u64::from(*seq));
    w.b(b": ");
    c.cisco(w);
    w.b(b": ");
    w.s(tag);
    w.b(b": ");
}

/// Juniper: `<PRI>Mmm dd hh:mm:ss HOST proc[pid]: `.
#[inline]
pub(crate) fn junos(w: &mut W, c: &Civil, host: &str, severity: u8, proc_: &str, pid: u32) {
    h3164(w, DAEMON, severity, c, host);
    w.s(proc_);
    w.b(b"[");
    w.u(u64::from(pid));
    w.b(b"]: ");
}

/// Aruba: `<PRI>Mmm dd hh:mm:ss YYYY HOST proc[pid]: <id> <SEV> |AP name@ip proc| `.
#[allow(clippy::too_many_arguments)]
pub(crate) fn aruba(
    w: &mut W,
    c: &Civil,
    host: &str,
    pid: u32,
    msg_id: u32,
    sev: &str,
    ap: Option<(&str, [u8; 4])>,
    proc_: &str,
) {
    let severity = match sev {
        "ERRS" => ERR,
        "WARN" => WARNING,
        "NOTI" => NOTICE,
        _ => INFO,
    };
    pri(w, 17, severity);
    c.bsd(w);
    w.b(b" ");
    w.u(c.year as u64);
    w.b(b" ");
    w.s(host);
    w.b(b" ");
    w.s(proc_);
    w.b(b"[");
    w.u(u64::from(pid));
    w.b(b"]: <");
    w.u(u64::from(msg_id));
    w.b(b"> <");
    w.s(sev);
    w.b(b"> |");
    if let Some((name, ip)) = ap {
        w.b(b"AP ");
        w.s(name);
        w.b(b"@");
        w.ip(ip);
        w.b(b" ");
    }
    w.s(proc_);
    w.b(b"| ");
}

/// FortiOS key=value, RFC 5424 framed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forti(
    w: &mut W,
    c: &Civil,
    ts_ms: i64,
    dev: &Dev,
    severity: u8,
    logid: &str,
    type_: &str,
    subtype: &str,
    level: &str,
) {
    h5424(w, LOCAL7, severity, c, &dev.id, "-", None, "-");
    w.b(b"date=");
    c.date(w);
    w.b(b" time=");
    c.clock(w);
    w.b(b" devname=\"");
    w.s(&dev.id);
    w.b(b"\" devid=\"FG3H0E");
    w.u(1_000_000_000 + u64::from(dev.serial));
    w.b(b"\" eventtime=");
    w.i(ts_ms * 1_000_000);
    w.b(b" tz=\"+0000\" logid=\"");
    w.s(logid);
    w.b(b"\" type=\"");
    w.s(type_);
    w.b(b"\" subtype=\"");
    w.s(subtype);
    w.b(b"\" level=\"");
    w.s(level);
    w.b(b"\" vd=\"root\" ");
}

/// Linux (rsyslog), RFC 5424 or RFC 3164 per host.
pub(crate) fn linux(
    w: &mut W,
    c: &Civil,
    dev: &Dev,
    facility: u8,
    severity: u8,
    app: &str,
    pid: Option<u32>,
) {
    if dev.rfc5424 {
        h5424(w, facility, severity, c, &dev.id, app, pid, "-");
    } else {
        h3164(w, facility, severity, c, &dev.id);
        w.s(app);
        if let Some(p) = pid {
            w.b(b"[");
            w.u(u64::from(p));
            w.b(b"]");
        }
        w.b(b": ");
    }
}

/// Asterisk via syslog: `asterisk[pid]: LEVEL[tid]: `.
pub(crate) fn asterisk(w: &mut W, c: &Civil, dev: &Dev, severity: u8, level: &str, tid: u32) {
    h3164(w, DAEMON, severity, c, &dev.id);
    w.b(b"asterisk[");
    w.u(u64::from(dev.pid));
    w.b(b"]: ");
    w.s(level);
    w.b(b"[");
    w.u(u64::from(tid));
    w.b(b"]: ");
}

const OUTLETS: [&str; 5] = [
    "pool-bar",
    "cafe-promenade",
    "atrium-bar",
    "gift-shop",
    "casino-bar",
];
const USERS: [&str; 5] = ["svc-pms", "svc-backup", "jdoe", "hotel-fo-12", "it-admin"];
const VLANS: [u32; 8] = [10, 20, 30, 40, 50, 60, 110, 120];
const ADMIN_IP: [u8; 4] = [10, 20, 0, 15];

fn private_ip(rng: &mut Rng, second_octet: u8) -> [u8; 4] {
    [
        10,
        second_octet,
        rng.below(64) as u8,
        1 + rng.below(250) as u8,
    ]
}

fn public_ip(rng: &mut Rng) -> [u8; 4] {
    const NETS: [[u8; 2]; 6] = [
        [151, 101],
        [142, 250],
        [104, 16],
        [13, 107],
        [52, 84],
        [31, 13],
    ];
    let n = rng.pick(&NETS);
    [n[0], n[1], rng.below(256) as u8, 1 + rng.below(254) as u8]
}

fn guest_mac(rng: &mut Rng) -> u64 {
    // locally administered (randomised) MACs, as phones use on guest Wi-Fi
    (u64::from(rng.u32()) << 16 | u64::from(rng.u32() & 0xffff)) & 0xfcff_ffff_ffff
        | 0x0200_0000_0000
}

/// Shared context a background line may refer to (other devices of the ship).
pub(crate) struct Ctx<'a> {
    pub devs: &'a [Dev],
    /// The firewall currently primary in the HA pair (it carries the traffic log).
    pub fw_active: Option<usize>,
    pub aps: &'a [usize],
    pub cams: &'a [usize],
}

/// One background line from `dev` at `ts_ms`.
pub(crate) fn background(
    w: &mut W,
    c: &Civil,
    ts_ms: i64,
    index: usize,
    seq: &mut u32,
    rng: &mut Rng,
    ctx: &Ctx<'_>,
) {
    let dev = &ctx.devs[index];
    match dev.role {
        Role::Core | Role::Dist | Role::Access | Role::Router => match dev.vendor {
            Vendor::Juniper => junos_bg(w, c, dev, rng),
            _ => cisco_bg(w, c, dev, seq, rng),
        },
        Role::Firewall { .. } => forti_bg(w, c, ts_ms, dev, rng, ctx.fw_active == Some(index)),
        Role::Wlc => wlc_bg(w, c, dev, rng, ctx),
        Role::Ap => ap_bg(w, c, dev, rng),
        Role::Linux | Role::Postgres => linux_bg(w, c, dev, rng),
        Role::Windows => windows_bg(w, c, dev, rng),
        Role::Vms => vms_bg(w, c, dev, rng, ctx),
        Role::Pbx => pbx_bg(w, c, dev, rng),
        Role::Camera => {
            h3164(w, DAEMON, INFO, c, &dev.id);
            w.b(b"rtspd[");
            w.u(u64::from(dev.pid));
            w.b(b"]: RTSP session ");
            if rng.chance(0.5) {
                w.b(b"started from ");
            } else {
                w.b(b"closed for ");
            }
            w.ip([10, 50, 0, 5]);
        }
        Role::Pos => {
            h5424(w, USER, INFO, c, &dev.id, "posd", Some(dev.pid), "TXN");
            let r = rng.f64();
            if r < 0.85 {
                w.b(b"txn ");
                w.u(u64::from(rng.u32() % 1_000_000));
                w.b(b" approved amount=");
                w.fixed(rng.range(2.0, 180.0), 2);
                w.b(b" USD tender=");
                w.s(if rng.chance(0.9) { "seapass" } else { "card" });
                w.b(b" outlet=");
                w.s(rng.pick::<&str>(&OUTLETS));
            } else if r < 0.97 {
                w.b(b"receipt printed txn ");
                w.u(u64::from(rng.u32() % 1_000_000));
            } else {
                w.b(b"txn ");
                w.u(u64::from(rng.u32() % 1_000_000));
                w.b(b" declined reason=limit");
            }
        }
        Role::Hvac => {
            h3164(w, DAEMON, INFO, c, &dev.id);
            w.b(b"bacnetd[");
            w.u(u64::from(dev.pid));
            w.b(b"]: AHU-");
            w.u(u64::from(dev.serial % 40 + 1));
            w.b(b": supply air ");
            w.fixed(rng.range(12.5, 15.5), 1);
            w.b(b"C setpoint 13.5C fan ");
            w.u(u64::from(rng.int(45, 80)));
            w.b(b"%");
        }
        Role::Modem => {
            h5424(w, DAEMON, INFO, c, &dev.id, "acu", Some(dev.pid), "-");
            if rng.chance(0.5) {
                w.b(b"ACU: tracking, az ");
                w.fixed(rng.range(0.0, 360.0), 1);
                w.b(b" el ");
                w.fixed(rng.range(30.0, 60.0), 1);
                w.b(b" heading source NMEA OK");
            } else {
                w.b(b"NMS: keepalive to hub OK, rtt ");
                w.u(u64::from(rng.int(540, 680)));
                w.b(b" ms");
            }
        }
    }
}

fn edge_port(dev: &Dev, rng: &mut Rng) -> u32 {
    (dev.ifaces.len() as u32 + 1 + rng.below(24)).min(47)
}

fn cisco_bg(w: &mut W, c: &Civil, dev: &Dev, seq: &mut u32, rng: &mut Rng) {
    let r = rng.f64();
    let access = dev.role == Role::Access;
    if access && r < 0.30 {
        let port = edge_port(dev, rng);
        let up = rng.chance(0.5);
        if rng.chance(0.5) {
            cisco(w, c, &dev.id, seq, 3, "%LINK-3-UPDOWN");
            w.b(b"Interface GigabitEthernet1/0/");
            w.u(u64::from(port));
            w.b(if up {
                b", changed state to up"
            } else {
                b", changed state to down"
            });
        } else {
            cisco(w, c, &dev.id, seq, 5, "%LINEPROTO-5-UPDOWN");
            w.b(b"Line protocol on Interface GigabitEthernet1/0/");
            w.u(u64::from(port));
            w.b(if up {
                b", changed state to up"
            } else {
                b", changed state to down"
            });
        }
    } else if access && r < 0.45 {
        cisco(w, c, &dev.id, seq, 5, "%DOT1X-5-SUCCESS");
        w.b(b"Authentication successful for client (");
        w.mac(guest_mac(rng));
        w.b(b") on Interface Gi1/0/");
        w.u(u64::from(edge_port(dev, rng)));
        w.b(b" AuditSessionID 0A14");
        w.u(u64::from(rng.u32()));
    } else if access && r < 0.55 {
        cisco(w, c, &dev.id, seq, 5, "%ILPOWER-5-POWER_GRANTED");
        w.b(b"Interface Gi1/0/");
        w.u(u64::from(edge_port(dev, rng)));
        w.b(b": Power granted");
    } else if access && r < 0.57 {
        cisco(w, c, &dev.id, seq, 5, "%ILPOWER-5-ILPOWER_POWER_DENY");
        w.b(b"Interface Gi1/0/");
        w.u(u64::from(edge_port(dev, rng)));
        w.b(b": inline power denied. Reason: insufficient power");
    } else if access && r < 0.65 {
        cisco(
            w,
            c,
            &dev.id,
            seq,
            5,
            "%DHCP_SNOOPING-5-DHCP_SNOOPING_UNTRUSTED_PORT",
        );
        w.b(b"DHCP_SNOOPING drop message on untrusted port, message type: DHCPOFFER, MAC sa: ");
        w.mac(guest_mac(rng));
    } else if r < 0.70 {
        cisco(w, c, &dev.id, seq, 5, "%SYS-5-CONFIG_I");
        w.b(b"Configured from console by netadm on vty0 (");
        w.ip(ADMIN_IP);
        w.b(b")");
    } else if r < 0.78 {
        cisco(w, c, &dev.id, seq, 5, "%SSH-5-SSH2_SESSION");
        w.b(b"SSH2 Session request from ");
        w.ip(ADMIN_IP);
        w.b(b" (tty = 0) using crypto cipher 'aes256-ctr', hmac 'hmac-sha2-256' Succeeded");
    } else if r < 0.84 && dev.role != Role::Router {
        cisco(w, c, &dev.id, seq, 4, "%SW_MATM-4-MACFLAP_NOTIF");
        w.b(b"Host ");
        w.mac(guest_mac(rng));
        w.b(b" in vlan ");
        w.u(u64::from(*rng.pick(&VLANS)));
        w.b(b" is flapping between port Gi1/0/");
        w.u(u64::from(rng.int(1, 24)));
        w.b(b" and port Gi1/0/");
        w.u(u64::from(rng.int(25, 48)));
    } else if r < 0.88 && dev.role != Role::Router {
        cisco(w, c, &dev.id, seq, 5, "%SPANTREE-5-TOPOTRAP");
        w.b(b"Topology Change Trap for vlan ");
        w.u(u64::from(*rng.pick(&VLANS)));
    } else if r < 0.90 {
        cisco(w, c, &dev.id, seq, 4, "%CDP-4-NATIVE_VLAN_MISMATCH");
        w.b(b"Native VLAN mismatch discovered on GigabitEthernet1/0/48 (1), with PANTRY-SW GigabitEthernet1/0/52 (20).");
    } else if r < 0.95 {
        cisco(w, c, &dev.id, seq, 3, "%SNMP-3-AUTHFAIL");
        w.b(b"Authentication failure for SNMP req from host ");
        w.ip(private_ip(rng, 20));
    } else {
        cisco(w, c, &dev.id, seq, 6, "%SEC-6-IPACCESSLOGP");
        w.b(b"list 101 denied tcp ");
        w.ip(private_ip(rng, 64));
        w.b(b"(");
        w.u(u64::from(rng.int(1024, 65000)));
        w.b(b") -> ");
        w.ip(dev.ip);
        w.b(b"(23), 1 packet");
    }
}

fn junos_bg(w: &mut W, c: &Civil, dev: &Dev, rng: &mut Rng) {
    let r = rng.f64();
    let pid = dev.pid;
    if dev.role == Role::Access && r < 0.35 {
        let port = edge_port(dev, rng);
        let up = rng.chance(0.5);
        junos(w, c, &dev.id, INFO, "mib2d", pid);
        w.b(if up {
            b"SNMP_TRAP_LINK_UP: ifIndex "
        } else {
            b"SNMP_TRAP_LINK_DOWN: ifIndex "
        });
        w.u(u64::from(500 + port));
        w.b(if up {
            b", ifAdminStatus up(1), ifOperStatus up(1), ifName ge-0/0/"
        } else {
            b", ifAdminStatus up(1), ifOperStatus down(2), ifName ge-0/0/"
        });
        w.u(u64::from(port));
    } else if r < 0.55 {
        junos(w, c, &dev.id, INFO, "sshd", pid + 4000 + rng.below(3000));
        w.b(b"Accepted publickey for netadm from ");
        w.ip(ADMIN_IP);
        w.b(b" port ");
        w.u(u64::from(rng.int(40000, 60000)));
        w.b(b" ssh2: RSA SHA256:q3Xk9eVbq0nH2c7l9mA1yQyPp0mC0nYxk1sS8t2Jb4E");
    } else if r < 0.65 {
        junos(w, c, &dev.id, NOTICE, "mgd", pid + 900);
        w.b(b"UI_COMMIT: User 'netadm' requested 'commit' operation (comment: none)");
    } else if r < 0.85 {
        junos(w, c, &dev.id, WARNING, "l2ald", pid + 300);
        w.b(b"L2ALD_MAC_LIMIT_REACHED_IF: Limit on learned MAC addresses reached for ge-0/0/");
        w.u(u64::from(edge_port(dev, rng)));
        w.b(b".0; current count is 64");
    } else {
        junos(w, c, &dev.id, INFO, "chassisd", pid + 100);
        w.b(b"CHASSISD_BLOWERS_SPEED: Fans and impellers are now running at normal speed");
    }
}

fn forti_bg(w: &mut W, c: &Civil, ts_ms: i64, dev: &Dev, rng: &mut Rng, active: bool) {
    if active && rng.chance(0.97) {
        let deny = rng.chance(0.08);
        forti(
            w,
            c,
            ts_ms,
            dev,
            NOTICE,
            "0000000013",
            "traffic",
            "forward",
            "notice",
        );
        let (srcintf, net) = *rng.pick(&[
            ("guest-wifi", 64u8),
            ("guest-wifi", 65),
            ("crew-wifi", 72),
            ("corp", 20),
            ("pos", 40),
            ("voip", 30),
        ]);
        w.b(b"srcip=");
        w.ip(private_ip(rng, net));
        w.b(b" srcport=");
        w.u(u64::from(rng.int(1024, 65535)));
        w.b(b" srcintf=\"");
        w.s(srcintf);
        w.b(b"\" srcintfrole=\"lan\" dstip=");
        w.ip(public_ip(rng));
        let (port, service, proto) = *rng.pick(&[
            (443u32, "HTTPS", 6u32),
            (443, "HTTPS", 6),
            (443, "QUIC", 17),
            (80, "HTTP", 6),
            (53, "DNS", 17),
            (5228, "tcp/5228", 6),
        ]);
        w.b(b" dstport=");
        w.u(u64::from(port));
        w.b(b" dstintf=\"sdwan\" dstintfrole=\"wan\" proto=");
        w.u(u64::from(proto));
        w.b(if deny {
            b" action=\"deny\""
        } else {
            b" action=\"close\""
        });
        w.b(b" policyid=");
        w.u(u64::from(if deny { 0 } else { rng.int(2, 40) }));
        w.b(b" policytype=\"policy\" service=\"");
        w.s(service);
        w.b(b"\" duration=");
        w.u(u64::from(rng.below(600)));
        let sent = rng.int(200, 200_000);
        w.b(b" sentbyte=");
        w.u(u64::from(sent));
        w.b(b" rcvdbyte=");
        w.u(u64::from(sent.saturating_mul(rng.int(1, 30))));
        w.b(b" sentpkt=");
        w.u(u64::from(sent / 900 + 1));
        w.b(b" appcat=\"unscanned\"");
        return;
    }
    let r = rng.f64();
    if r < 0.5 {
        forti(
            w,
            c,
            ts_ms,
            dev,
            INFO,
            "0100032001",
            "event",
            "system",
            "information",
        );
        w.b(b"logdesc=\"Admin login successful\" user=\"netadm\" ui=\"https(");
        w.ip(ADMIN_IP);
        w.b(b")\" method=\"https\" srcip=");
        w.ip(ADMIN_IP);
        w.b(b" action=\"login\" status=\"success\" msg=\"Administrator netadm logged in successfully from https(");
        w.ip(ADMIN_IP);
        w.b(b")\"");
    } else {
        forti(
            w,
            c,
            ts_ms,
            dev,
            NOTICE,
            "0100041000",
            "event",
            "update",
            "notice",
        );
        w.b(b"logdesc=\"FortiGuard update succeeded\" msg=\"Fortigate updated AV definitions\" status=\"update\"");
    }
}

fn ap_ip(dev: &Dev) -> [u8; 4] {
    dev.ip
}

fn wlc_bg(w: &mut W, c: &Civil, dev: &Dev, rng: &mut Rng, ctx: &Ctx<'_>) {
    let mut ap = None;
    for _ in 0..3 {
        if ctx.aps.is_empty() {
            break;
        }
        let a = &ctx.devs[*rng.pick(ctx.aps)];
        if a.reachable {
            ap = Some(a);
            break;
        }
    }
    let Some(ap) = ap else {
        aruba(w, c, &dev.id, dev.pid + 7, 522008, "INFO", None, "authmgr");
        w.b(b"User Authentication Successful: username=guest-");
        w.u(u64::from(rng.u32() % 100_000));
        w.b(b" MAC=");
        w.mac(guest_mac(rng));
        w.b(b" IP=");
        w.ip(private_ip(rng, 64));
        w.b(b" role=guest-logon");
        return;
    };
    let bssid = 0x20_4c_03_00_00_00u64 | u64::from(ap.serial & 0xffffff);
    let (id, sev, text): (u32, &str, &[u8]) = *rng.pick(&[
        (501093u32, "NOTI", &b"Auth success: "[..]),
        (501095, "NOTI", &b"Assoc request: "[..]),
        (501100, "NOTI", &b"Assoc success: "[..]),
        (501080, "NOTI", &b"Deauth to sta: "[..]),
        (501106, "NOTI", &b"Deauth to sta: "[..]),
    ]);
    aruba(
        w,
        c,
        &dev.id,
        dev.pid,
        id,
        sev,
        Some((&ap.id, ap_ip(ap))),
        "stm",
    );
    w.b(text);
    w.mac(guest_mac(rng));
    if id == 501080 {
        w.b(b": Ageout AP ");
    } else if id == 501106 {
        w.b(b": Client left AP ");
    } else {
        w.b(b": AP ");
    }
    w.ip(ap.ip);
    w.b(b"-");
    w.mac(bssid);
    w.b(b"-");
    w.s(&ap.id);
}

fn ap_bg(w: &mut W, c: &Civil, dev: &Dev, rng: &mut Rng) {
    if rng.chance(0.6) {
        aruba(
            w,
            c,
            &dev.id,
            dev.pid,
            311004,
            "INFO",
            Some((&dev.id, dev.ip)),
            "sapd",
        );
        w.b(b"ARM - channel changed on radio 1 from ");
        w.u(u64::from(*rng.pick(&[36u32, 40, 44, 48, 149, 153])));
        w.b(b" to ");
        w.u(u64::from(*rng.pick(&[52u32, 56, 100, 104, 157, 161])));
        w.b(b" (interference)");
    } else {
        aruba(
            w,
            c,
            &dev.id,
            dev.pid + 3,
            126005,
            "INFO",
            Some((&dev.id, dev.ip)),
            "stm",
        );
        w.b(b"Client count radio 0: ");
        w.u(u64::from(rng.below(40)));
        w.b(b", radio 1: ");
        w.u(u64::from(rng.below(80)));
    }
}

fn linux_bg(w: &mut W, c: &Civil, dev: &Dev, rng: &mut Rng) {
    let r = rng.f64();
    if dev.role == Role::Postgres && r < 0.4 {
        linux(
            w,
            c,
            dev,
            DAEMON,
            INFO,
            "postgres",
            Some(dev.pid + rng.below(50)),
        );
        match rng.below(3) {
            0 => {
                w.b(b"LOG:  checkpoint complete: wrote ");
                w.u(u64::from(rng.int(100, 9000)));
                w.b(b" buffers (");
                w.fixed(rng.range(0.1, 9.0), 1);
                w.b(b"%); 0 WAL file(s) added, 0 removed, 1 recycled");
            }
            1 => {
                w.b(b"LOG:  connection received: host=");
                w.ip(private_ip(rng, 20));
                w.b(b" port=");
                w.u(u64::from(rng.int(30000, 60000)));
            }
            _ => w.b(b"LOG:  automatic vacuum of table \"pms.public.folio\": index scans: 1"),
        }
        return;
    }
    if r < 0.3 {
        let n = rng.int(1000, 99_999);
        linux(w, c, dev, DAEMON, INFO, "systemd", Some(1));
        w.b(b"Started Session ");
        w.u(u64::from(n));
        w.b(b" of User ops.");
    } else if r < 0.5 {
        linux(
            w,
            c,
            dev,
            9,
            INFO,
            "CRON",
            Some(dev.pid + rng.below(30_000)),
        );
        w.b(b"(root) CMD (/usr/lib/sysstat/debian-sa1 1 1)");
    } else if r < 0.65 {
        linux(
            w,
            c,
            dev,
            AUTH,
            INFO,
            "sshd",
            Some(dev.pid + rng.below(30_000)),
        );
        w.b(b"Accepted publickey for ops from ");
        w.ip(ADMIN_IP);
        w.b(b" port ");
        w.u(u64::from(rng.int(40000, 60000)));
        w.b(b" ssh2: ED25519 SHA256:3hZ0p1mKf5Xo0y7QeW2d9c1v8b7n6m5l4k3j2h1g0f8");
    } else if r < 0.8 {
        linux(w, c, dev, DAEMON, INFO, "chronyd", Some(dev.pid + 11));
        w.b(b"Selected source 10.20.0.1 (ntp.ship.local)");
    } else if r < 0.9 {
        linux(w, c, dev, DAEMON, INFO, "systemd", Some(1));
        w.b(b"logrotate.service: Deactivated successfully.");
    } else {
        linux(w, c, dev, KERN, WARNING, "kernel", None);
        w.b(b"[");
        w.fixed(rng.range(10_000.0, 900_000.0), 4);
        w.b(b"] perf: interrupt took too long (2503 > 2500), lowering kernel.perf_event_max_sample_rate to 79750");
    }
}

fn windows_bg(w: &mut W, c: &Civil, dev: &Dev, rng: &mut Rng) {
    let (event_id, channel, kind, message): (u32, &str, &str, &str) = *rng.pick(&[
        (
            4624u32,
            "Security",
            "AUDIT_SUCCESS",
            "An account was successfully logged on.",
        ),
        (
            4624,
            "Security",
            "AUDIT_SUCCESS",
            "An account was successfully logged on.",
        ),
        (
            4634,
            "Security",
            "AUDIT_SUCCESS",
            "An account was logged off.",
        ),
        (
            4768,
            "Security",
            "AUDIT_SUCCESS",
            "A Kerberos authentication ticket (TGT) was requested.",
        ),
        (
            4769,
            "Security",
            "AUDIT_SUCCESS",
            "A Kerberos service ticket was requested.",
        ),
        (
            7036,
            "System",
            "INFO",
            "The Windows Update service entered the running state.",
        ),
    ]);
    let mut id_buf = itoa::Buffer::new();
    let source = if channel == "Security" {
        "Microsoft-Windows-Security-Auditing"
    } else {
        "Service_Control_Manager"
    };
    h5424(
        w,
        USER,
        INFO,
        c,
        &dev.id,
        source,
        None,
        id_buf.format(event_id),
    );
    w.b(b"{\"EventTime\":\"");
    c.date(w);
    w.b(b" ");
    c.clock(w);
    w.b(b"\",\"Hostname\":\"");
    w.s(&dev.id);
    w.b(b"\",\"EventType\":\"");
    w.s(kind);
    w.b(b"\",\"EventID\":");
    w.u(u64::from(event_id));
    w.b(b",\"SourceName\":\"");
    w.s(source);
    w.b(b"\",\"Channel\":\"");
    w.s(channel);
    w.b(b"\",\"Message\":\"");
    w.s(message);
    w.b(b"\",\"TargetUserName\":\"");
    w.s(rng.pick::<&str>(&USERS));
    w.b(b"\",\"IpAddress\":\"");
    w.ip(private_ip(rng, 20));
    w.b(b"\"}");
}

fn vms_bg(w: &mut W, c: &Civil, dev: &Dev, rng: &mut Rng, ctx: &Ctx<'_>) {
    h5424(
        w,
        USER,
        INFO,
        c,
        &dev.id,
        "RecordingServer",
        Some(dev.pid),
        "-",
    );
    let cam = if ctx.cams.is_empty() {
        None
    } else {
        let cam = &ctx.devs[*rng.pick(ctx.cams)];
        cam.reachable.then_some(cam)
    };
    match cam {
        Some(cam) if rng.chance(0.8) => {
            w.b(b"Camera \"");
            w.s(&cam.id);
            w.b(b"\" (");
            w.ip(cam.ip);
            w.b(if rng.chance(0.5) {
                b"): Motion started"
            } else {
                b"): Motion stopped"
            });
        }
        _ => {
            w.b(b"Archiving completed: ");
            w.u(u64::from(rng.int(2, 80)));
            w.b(b" GB moved to archive storage");
        }
    }
}

fn pbx_bg(w: &mut W, c: &Civil, dev: &Dev, rng: &mut Rng) {
    let tid = dev.pid + 20 + rng.below(200);
    let ext = 4000 + rng.below(4000);
    let r = rng.f64();
    if r < 0.55 {
        asterisk(w, c, dev, INFO, "VERBOSE", tid);
        w.b(b"[C-0000");
        w.u(u64::from(rng.int(1000, 9999)));
        w.b(b"] pbx.c: Executing [");
        w.u(u64::from(ext));
        w.b(b"@from-internal:1] Dial(\"PJSIP/");
        w.u(u64::from(4000 + rng.below(4000)));
        w.b(b"-0000");
        w.u(u64::from(rng.int(1000, 9999)));
        w.b(b"\", \"PJSIP/");
        w.u(u64::from(ext));
        w.b(b",30\") in new stack");
    } else if r < 0.9 {
        asterisk(w, c, dev, INFO, "VERBOSE", tid);
        w.b(b"res_pjsip_registrar.c: Added contact 'sip:");
        w.u(u64::from(ext));
        w.b(b"@");
        w.ip([10, 30, (ext / 250 % 64) as u8, (ext % 250 + 1) as u8]);
        w.b(b":5060' to AOR '");
        w.u(u64::from(ext));
        w.b(b"' with expiration of 3600 seconds");
    } else {
        asterisk(w, c, dev, NOTICE, "NOTICE", tid);
        w.b(b"chan_sip.c:28143 handle_request_register: Registration from '\"");
        w.u(u64::from(ext));
        w.b(b"\" <sip:");
        w.u(u64::from(ext));
        w.b(b"@");
        w.ip(dev.ip);
        w.b(b">' failed for '");
        w.ip(private_ip(rng, 30));
        w.b(b":5060' - Wrong password");
    }
}
