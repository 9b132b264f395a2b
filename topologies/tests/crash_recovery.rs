//! `seawatch ship` killed with SIGKILL in the middle of ingest, then restarted on the same
//! data: every event it reported durable (`seawatch_eventlog_events_total`) before the kill
//! is in the log, in order, with dense sequences from 1, and new events append after them.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::*;

const CONFIG: &str = "[eventlog]\nfsync = \"every_batch\"\n";
/// Durable events to see before pulling the plug.
const BEFORE_KILL: u64 = 5_000;
const AFTER_RESTART: u64 = 1_000;

fn line(tag: &str, i: u64) -> String {
    format!("<134>1 2025-03-14T03:12:07.412Z core-sw-1 crashtest - {tag} - {tag} message {i:010}\n")
}

/// Streams numbered RFC 5424 lines over one TCP connection until stopped or the peer goes
/// away; returns how many lines were written into the socket.
fn stream_lines(
    addr: SocketAddr,
    tag: &'static str,
    limit: u64,
    stop: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).expect("connect to syslog tcp");
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut i = 0;
        let mut buf = String::new();
        while i < limit && !stop.load(Ordering::Relaxed) {
            buf.clear();
            let end = (i + 200).min(limit);
            for j in i..end {
                buf.push_str(&line(tag, j));
            }
            if s.write_all(buf.as_bytes()).is_err() {
                return; // killed under us: expected
            }
            i = end;
            written.store(i, Ordering::Relaxed);
        }
    })
}

/// Appends a torn frame (a header cut after 16 bytes) to the newest segment.
fn tear_tail(data: &std::path::Path) {
    let dir = data.join("eventlog").join(SHIP);
    let newest = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .max()
        .expect("a segment file");
    let first_frame = std::fs::read(&newest).unwrap();
    assert!(first_frame.len() > 16, "segment holds frames");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&newest)
        .unwrap();
    f.write_all(&first_frame[..16]).unwrap();
}

#[test]
fn sigkill_mid_ingest_loses_nothing_reported_durable() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let t0 = Instant::now();

    // 1. Ingest until some thousands are durable, then SIGKILL while the client streams on.
    let ship = ShipProc::start(&data, Some(CONFIG));
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let client = stream_lines(
        ship.syslog,
        "before",
        u64::MAX,
        stop.clone(),
        written.clone(),
    );
    let mut durable_seen = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while durable_seen < BEFORE_KILL {
        assert!(
            Instant::now() < deadline,
            "only {durable_seen} events durable after 30 s:\n{}",
            ship.output()
        );
        durable_seen = durable(&ship.metrics());
        if durable_seen < BEFORE_KILL {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // Still mid-ingest: the client keeps writing while the process dies.
    let status = ship.kill9();
    let written_at_kill = written.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
    eprintln!(
        "[crash] SIGKILL ({status}) with {durable_seen} reported durable, \
         {written_at_kill} lines written by the client"
    );
    assert!(
        written_at_kill > durable_seen,
        "the kill should land mid-ingest"
    );

    // A process kill leaves whole frames (the page cache survives it); a power cut can
    // leave a frame half-written. Simulate that on top: the first 16 bytes of a frame
    // header at the end of the active segment.
    tear_tail(&data);

    // 2. The log opens (the torn tail is truncated) and holds a dense prefix of what was
    //    sent, at least everything reported durable.
    let before = {
        let log = open_log(&data);
        let stats = log.stats();
        assert_eq!(stats.torn_tails_truncated, 1, "the torn tail is cut off");
        assert_eq!(stats.truncated_bytes, 16);
        eprintln!(
            "[crash] reopened: next_seq {} torn_tails_truncated {} truncated_bytes {}",
            stats.next_seq, stats.torn_tails_truncated, stats.truncated_bytes
        );
        let events = read_all(&log);
        assert_dense(&events);
        let n = events.len() as u64;
        assert!(
            n >= durable_seen,
            "{durable_seen} events were reported durable before the kill, {n} survived it"
        );
        assert!(n <= written_at_kill, "more events than were sent");
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.source, "core-sw-1");
            assert!(
                e.body.ends_with(&format!("before message {i:010}")),
                "event {} is not line {i} of the stream: {:?}",
                e.seq,
                e.body
            );
        }
        n
    };

    // 3. Restart on the same data: new events append after the survivors.
    let ship = ShipProc::start(&data, Some(CONFIG));
    let text = ship.metrics();
    assert_eq!(durable(&text), 0, "the counter is per process");
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    stream_lines(ship.syslog, "after", AFTER_RESTART, stop, written.clone())
        .join()
        .unwrap();
    assert_eq!(written.load(Ordering::Relaxed), AFTER_RESTART);
    ship.wait_metrics(
        "the new events to be durable",
        Duration::from_secs(20),
        |t| durable(t) >= AFTER_RESTART,
    );
    let status = ship.terminate(Duration::from_secs(10));
    assert!(status.success(), "clean exit on SIGTERM: {status}");

    let log = open_log(&data);
    assert_eq!(
        log.stats().torn_tails_truncated,
        0,
        "SIGTERM left no torn tail"
    );
    let events = read_all(&log);
    assert_dense(&events);
    assert_eq!(events.len() as u64, before + AFTER_RESTART);
    for (i, e) in events[before as usize..].iter().enumerate() {
        assert!(
            e.body.ends_with(&format!("after message {i:010}")),
            "event {} is not line {i} after the restart: {:?}",
            e.seq,
            e.body
        );
    }
    eprintln!(
        "[crash] {} events after restart, dense 1..={}; {:.1} s",
        events.len(),
        events.len(),
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn sigterm_mid_ingest_stores_everything_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let ship = ShipProc::start(&data, Some(CONFIG));
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let client = stream_lines(ship.syslog, "term", u64::MAX, stop.clone(), written.clone());
    let text = ship.wait_metrics(
        "some thousands of events durable",
        Duration::from_secs(30),
        |t| durable(t) >= BEFORE_KILL,
    );
    // Everything accepted (queued for the log) up to now, and still streaming.
    let accepted = ingested(&ship.metrics(), "syslog-tcp");
    let status = ship.terminate(Duration::from_secs(10));
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    let log = open_log(&data);
    let stats = log.stats();
    let events = read_all(&log);
    assert_dense(&events);
    eprintln!(
        "[term] durable {} accepted {accepted} before SIGTERM; {} stored; torn {}",
        durable(&text),
        events.len(),
        stats.torn_tails_truncated
    );
    assert!(
        events.len() as u64 >= accepted,
        "{accepted} events accepted before SIGTERM, only {} stored",
        events.len()
    );
    for (i, e) in events.iter().enumerate() {
        assert!(e.body.ends_with(&format!("term message {i:010}")));
    }
}

/// NDJSON over HTTP answered 200 is stored: eight clients post concurrently, and the node
/// is killed with SIGKILL while posts are in flight; every line of every post answered
/// 200 before the kill is in the log (with the default fsync settings).
#[test]
fn sigkill_with_http_posts_in_flight_loses_nothing_answered() {
    use std::sync::Mutex;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let ship = ShipProc::start(&data, None);
    let token = std::fs::read_to_string(data.join("ingest-token")).unwrap();
    let auth = format!(
        "Authorization: Bearer {}\r\nContent-Type: application/x-ndjson\r\n",
        token.trim()
    );
    let answered: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<JoinHandle<()>> = (0..8u64)
        .map(|c| {
            let (auth, answered, stop, addr) =
                (auth.clone(), answered.clone(), stop.clone(), ship.http);
            std::thread::spawn(move || {
                for post in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let id = c * 1_000_000 + post;
                    let body: String = (0..500u64)
                        .map(|i| {
                            format!("{{\"host\":\"sw-{c}\",\"message\":\"http {id} line {i}\"}}\n")
                        })
                        .collect();
                    match http_with(addr, "POST", "/ingest/ndjson", &auth, body.as_bytes()) {
                        Ok((200, _)) => answered.lock().unwrap().push(id),
                        _ => return, // the node is gone
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.lock().unwrap().len() < 100 {
        assert!(Instant::now() < deadline, "posts were not answered");
        std::thread::sleep(Duration::from_millis(5));
    }
    ship.kill9();
    let answered: Vec<u64> = answered.lock().unwrap().clone();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let log = open_log(&data);
    let events = read_all(&log);
    assert_dense(&events);
    let mut lines: std::collections::HashMap<u64, usize> = Default::default();
    for e in &events {
        if let Some(rest) = e.body.split("http ").nth(1) {
            if let Some(id) = rest.split(' ').next().and_then(|x| x.parse().ok()) {
                *lines.entry(id).or_default() += 1;
            }
        }
    }
    let missing: Vec<&u64> = answered
        .iter()
        .filter(|id| lines.get(id).copied().unwrap_or(0) != 500)
        .collect();
    eprintln!(
        "{} posts answered before SIGKILL, {} posts in the log",
        answered.len(),
        lines.len()
    );
    assert!(
        missing.is_empty(),
        "{} of {} answered posts incomplete after SIGKILL: {:?}",
        missing.len(),
        answered.len(),
        &missing[..missing.len().min(5)]
    );
}
