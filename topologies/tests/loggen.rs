//! Real syslog traffic: syslog-ng's `loggen` against `seawatch ship` over TCP, in RFC 5424
//! (octet-counted and newline-framed) and BSD format. Everything loggen reports sent is
//! counted ingested, stored durably, in order, and nothing is malformed.
//!
//! `deploy/scripts/syslog-ng-tools.sh` installs Debian's `syslog-ng-core` if loggen is
//! missing. If loggen cannot be had the test prints `SKIPPED: ...` and passes, unless
//! `CI=true`, where it fails.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// loggen's path, installing it if needed; `Err(reason)` if it cannot be had.
fn loggen() -> Result<PathBuf, String> {
    let script = scripts_dir().join("syslog-ng-tools.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "loggen not available: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    Ok(PathBuf::from(path))
}

/// The syslog-ng version loggen belongs to (loggen has no `--version`): the Debian
/// package's, else `syslog-ng --version`'s first line, else "unknown".
fn version() -> String {
    let first_line = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                let t = String::from_utf8_lossy(&o.stdout).trim().to_string();
                t.lines().next().map(str::to_string)
            })
            .filter(|l| !l.is_empty())
    };
    first_line(
        "dpkg-query",
        &["-W", "-f", "syslog-ng-core ${Version}", "syslog-ng-core"],
    )
    .or_else(|| first_line("syslog-ng", &["--version"]))
    .unwrap_or_else(|| "unknown".into())
}

/// Runs loggen (bounded: 30 s) and returns the message count it reports as sent.
fn run_loggen(loggen: &PathBuf, extra: &[&str], port: u16) -> u64 {
    let mut child = Command::new(loggen)
        .args(["--inet", "--stream", "--rate", "20000", "--interval", "3"])
        .args(["--size", "200"])
        .args(extra)
        .args(["127.0.0.1", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn loggen");
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("loggen did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "loggen failed: {text}");
    // The summary: "average rate = 19923.45 msg/sec, count=59771, time=3.0001, ..."
    let count = text
        .lines()
        .filter(|l| l.contains("average rate"))
        .find_map(|l| {
            let c = l.split("count=").nth(1)?;
            c.split(|ch: char| !ch.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no count in loggen's output:\n{text}"));
    eprintln!(
        "[loggen] {extra:?}: {}",
        text.lines().last().unwrap_or_default()
    );
    count
}

/// loggen's `seq: NNNNNNNNNN` field of a stored message body.
fn loggen_seq(body: &str) -> Option<u64> {
    let s = body.split("seq: ").nth(1)?;
    s.get(..10)?.parse().ok()
}

fn loggen_to_ship(format: &str, extra: &[&str]) {
    loggen_to_ship_mode(format, extra, false)
}

fn loggen_to_ship_mode(format: &str, extra: &[&str], sigterm_at_once: bool) {
    let t0 = Instant::now();
    let loggen = match loggen() {
        Ok(p) => p,
        Err(reason) => return skip_or_fail(&reason),
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let ship = ShipProc::start(&data, None);

    let sent = run_loggen(&loggen, extra, ship.syslog.port());
    assert!(sent > 1_000, "loggen sent only {sent} messages");
    if sigterm_at_once {
        // SIGTERM as soon as everything is read from the socket (accepted), without
        // waiting for it to be durable: the shutdown must store and sync it.
        let text = ship.wait_metrics(
            "every loggen message to be ingested",
            Duration::from_secs(30),
            |t| ingested(t, "syslog-tcp") >= sent,
        );
        let durable_before = durable(&text);
        let status = ship.terminate(Duration::from_secs(10));
        assert!(status.success(), "clean exit on SIGTERM: {status}");
        let log = open_log(&data);
        let events = read_all(&log);
        assert_dense(&events);
        assert_eq!(events.len() as u64, sent, "stored after SIGTERM = sent");
        eprintln!(
            "[loggen] {format}: {sent} sent and accepted, {durable_before} durable at SIGTERM, \
             {sent} stored after it; {:.1} s",
            t0.elapsed().as_secs_f64()
        );
        return;
    }
    // Everything sent is ingested and durable (the default fsync interval is 100 ms).
    let text = ship.wait_metrics(
        "every loggen message to be ingested and durable",
        Duration::from_secs(30),
        |t| ingested(t, "syslog-tcp") >= sent && durable(t) >= sent,
    );
    assert_eq!(ingested(&text, "syslog-tcp"), sent, "ingested = sent");
    assert_eq!(durable(&text), sent, "durable = sent");
    assert_eq!(malformed(&text), 0, "malformed input:\n{text}");
    assert_eq!(
        metric_sum(&text, "seawatch_ingest_dropped_total", &[]),
        0.0,
        "dropped"
    );

    let status = ship.terminate(Duration::from_secs(10));
    assert!(status.success(), "clean exit on SIGTERM: {status}");

    // The stored log: loggen's messages, each once, in the order sent.
    let log = open_log(&data);
    let events = read_all(&log);
    assert_dense(&events);
    assert_eq!(events.len() as u64, sent);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.source, "localhost", "HOSTNAME field names the device");
        assert_eq!(
            loggen_seq(&e.body),
            Some(i as u64),
            "event {} out of order or mangled: {:?}",
            e.seq,
            e.body
        );
        assert_eq!(e.severity, 6, "<38> = daemon.info");
    }
    eprintln!(
        "[loggen] {format} ({}): {sent} sent, {sent} ingested, durable and in order; {:.1} s",
        version(),
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn loggen_rfc5424_octet_counted() {
    loggen_to_ship("RFC 5424, octet counting", &["--syslog-proto"]);
}

#[test]
fn loggen_rfc5424_newline_framed() {
    loggen_to_ship(
        "RFC 5424, newline framing",
        &["--syslog-proto", "--no-framing"],
    );
}

#[test]
fn loggen_bsd() {
    loggen_to_ship("BSD (RFC 3164 style)", &[]);
}

#[test]
fn loggen_then_sigterm_stores_everything_accepted() {
    loggen_to_ship_mode("BSD, SIGTERM once accepted", &[], true);
}
