//! The mail outbox against a real SMTP server (aiosmtpd, started by
//! `deploy/scripts/smtp-test-server.sh`): threading headers, a server that refuses and
//! then accepts, a server that keeps a message but drops the connection before its reply,
//! and a crash between the server's 250 and the durable sent mark; the actor reading
//! incident transitions from the ship's event log, across a restart. Outside CI a missing
//! server skips the test; under CI=true it fails.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use seawatch_actors::ingest::metrics::IngestMetrics;
use seawatch_actors::ingest::pipeline::PipelineConfig;
use seawatch_actors::log_service::writer::WriterActor;
use seawatch_actors::log_service::{LogReader, LogService};
use seawatch_actors::mail::actor::{enqueue_push, OutboxActor, OutboxArgs, OutboxMetrics};
use seawatch_actors::mail::send::Mailer;
use seawatch_actors::mail::store::Status;
use seawatch_actors::mail::{EmailConfig, Notification, Outbox};
use seawatch_runtime::event_log::{EventKind, EventLog, EventLogConfig, NewEvent};
use seawatch_runtime::{Clock, Metrics};
use seawatch_tests::smtp::{Managed, Mode, Received};

const SHIP: &str = "aurora";

fn server() -> Option<Managed> {
    match Managed::start() {
        Ok(m) => Some(m),
        Err(e) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI=true and the test cannot run: no SMTP server: {e}");
            }
            eprintln!("SKIPPED: no SMTP server: {e}");
            None
        }
    }
}

fn email(addr: &str) -> EmailConfig {
    let cfg: EmailConfig = toml::from_str(&format!(
        r#"
smtp = "{addr}"
tls = "none"
from = "seawatch@aurora.example"
retry_initial_s = 0.05
retry_max_s = 0.2
[[route]]
match = {{ severity = ["critical"] }}
to = ["bridge@aurora.example"]
[[route]]
to = ["it@aurora.example"]
"#
    ))
    .unwrap();
    cfg.validate().unwrap();
    cfg
}

fn args(cfg: EmailConfig, outbox: Arc<Mutex<Outbox>>, log: LogReader) -> OutboxArgs {
    OutboxArgs {
        ship: SHIP.into(),
        email: cfg,
        outbox,
        log,
        kinds: Arc::new(HashMap::from([(
            "core-sw-1".to_string(),
            "switch".to_string(),
        )])),
        parents: Arc::new(HashMap::from([(
            "ap-7".to_string(),
            vec!["core-sw-1".to_string()],
        )])),
        clock: Clock::manual(1_796_601_600_000),
        metrics: OutboxMetrics::register(&Metrics::new(), SHIP),
    }
}

/// A log no test writes to (for the tests that queue by hand); its folder stays until the
/// process ends.
fn quiet_log() -> LogReader {
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    LogService::new(
        EventLog::open(dir.path(), EventLogConfig::new(SHIP)).unwrap(),
        &PipelineConfig::default(),
    )
    .reader()
}

/// The ship's log service in `dir` with its writer running (until the test's runtime
/// ends).
async fn log_service(dir: &std::path::Path) -> LogService {
    let pipeline = PipelineConfig::default();
    let svc = LogService::new(
        EventLog::open(dir, EventLogConfig::new(SHIP)).unwrap(),
        &pipeline,
    );
    let metrics = IngestMetrics::register(&Metrics::new(), SHIP);
    let args = svc.writer_args(metrics, pipeline, Clock::system());
    ractor::Actor::spawn(None, WriterActor, args).await.unwrap();
    svc
}

/// Stores incident `n`'s `event` in the log, as the correlator does (an `IncidentEvent`),
/// between two ordinary log lines.
async fn store_transition(log: &LogService, n: usize, event: &str, severity: &str) {
    let resolved = event == "resolved";
    let ie = serde_json::json!({
        "ts_ms": 1_796_601_600_000i64 + n as i64,
        "event": event,
        "incident": {
            "id": format!("{SHIP}-{n}"),
            "ship": SHIP,
            "root_cause": "core-sw-1",
            "severity": severity,
            "state": if resolved { "resolved" } else { "open" },
            "alerts": 3,
            "opened_at_ms": 1_796_601_600_000i64,
            "resolved_at_ms": if resolved { Some(1_796_601_700_000i64) } else { None },
            "members": ["core-sw-1"],
            "summary": format!("core-sw-1 unreachable ({n})"),
        }
    });
    let line = |i: i64| NewEvent {
        ts_ms: 1_796_601_600_000 + i,
        kind: EventKind::Log,
        source: "core-sw-1".into(),
        severity: 5,
        body: "%LINK-3-UPDOWN: Interface Gi1/0/7, changed state to down".into(),
    };
    log.append(vec![
        line(0),
        NewEvent {
            ts_ms: 1_796_601_600_000,
            kind: EventKind::Incident,
            source: "core-sw-1".into(),
            severity: 2,
            body: ie.to_string(),
        },
        line(1),
    ])
    .await
    .unwrap();
}

fn incident(n: usize, event: &str, severity: &str) -> serde_json::Value {
    serde_json::json!({
        "event": event,
        "id": format!("{SHIP}-{n}"),
        "ship": SHIP,
        "severity": severity,
        "state": if event == "resolved" { "resolved" } else { "open" },
        "root_cause": "core-sw-1",
        "summary": format!("core-sw-1 unreachable ({n})"),
        "alerts": 3,
        "opened_at": "2026-12-07T00:00:00Z",
        "resolved_at": null,
    })
}

/// An outbox in a fresh folder with a mailer for `smtp`, and three `opened` transitions
/// of `severity` queued in it.
struct Queued {
    dir: tempfile::TempDir,
    outbox: Arc<Mutex<Outbox>>,
    a: OutboxArgs,
    mailer: Mailer,
}

fn three_opened(smtp: &Managed, severity: &str) -> Queued {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Mutex::new(Outbox::open(dir.path()).unwrap()));
    let a = args(email(&smtp.addr()), outbox.clone(), quiet_log());
    let mailer = Mailer::new(a.email.clone()).unwrap();
    for n in 1..=3 {
        enqueue_push(&a, &incident(n, "opened", severity), None).unwrap();
    }
    Queued {
        dir,
        outbox,
        a,
        mailer,
    }
}

/// Message-ID → every copy received.
fn by_id(msgs: &[Received]) -> BTreeMap<String, Vec<Received>> {
    let mut out: BTreeMap<String, Vec<Received>> = BTreeMap::new();
    for m in msgs {
        let id = m.header("Message-ID").expect("every mail has a Message-ID");
        out.entry(id.to_owned()).or_default().push(m.clone());
    }
    out
}

/// No Message-ID arrived twice with different content.
fn assert_copies_identical(msgs: &[Received]) {
    for (id, copies) in by_id(msgs) {
        for c in &copies[1..] {
            assert_eq!(
                c.raw, copies[0].raw,
                "{id} arrived twice with different content"
            );
        }
    }
}

#[tokio::test]
async fn transitions_arrive_as_one_thread_per_incident() {
    let Some(smtp) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Mutex::new(Outbox::open(dir.path()).unwrap()));
    let a = args(email(&smtp.addr()), outbox.clone(), quiet_log());
    for (event, sev) in [
        ("opened", "critical"),
        ("resolved", "critical"),
        ("reopened", "critical"),
        ("resolved", "critical"),
    ] {
        assert!(enqueue_push(&a, &incident(1, event, sev), None).unwrap());
    }
    // A replayed event (the same transition reported again) queues nothing new.
    assert!(!enqueue_push(&a, &incident(1, "opened", "critical"), None).unwrap());
    // A transition that does not mail.
    assert!(!enqueue_push(&a, &incident(1, "alert_attached", "critical"), None).unwrap());
    let mailer = Mailer::new(a.email.clone()).unwrap();
    let pass = mailer.pass(&outbox, &a.clock, false).await.unwrap();
    assert_eq!((pass.sent, pass.failed, pass.interrupted), (4, 0, None));
    let msgs = smtp.messages();
    let ids: Vec<&str> = msgs
        .iter()
        .map(|m| m.header("Message-ID").unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "<aurora-1.opened@aurora.seawatch>",
            "<aurora-1.resolved@aurora.seawatch>",
            "<aurora-1.reopened@aurora.seawatch>",
            "<aurora-1.resolved.1@aurora.seawatch>",
        ]
    );
    assert_eq!(msgs[0].header("In-Reply-To"), None);
    for m in &msgs[1..] {
        assert_eq!(
            m.header("In-Reply-To"),
            Some("<aurora-1.opened@aurora.seawatch>")
        );
        assert_eq!(
            m.header("References"),
            Some("<aurora-1.opened@aurora.seawatch>")
        );
    }
    // Both routes match a critical: one message to the union of their recipients.
    assert_eq!(
        msgs[0].rcpt_to,
        ["bridge@aurora.example", "it@aurora.example"]
    );
    assert!(
        msgs[0].body.contains("core-sw-1 unreachable (1)"),
        "{}",
        msgs[0].body
    );
    // Plain text and HTML, under a boundary derived from the Message-ID.
    let ct = msgs[0].header("Content-Type").unwrap();
    assert!(ct.starts_with("multipart/alternative"), "{ct}");
    assert!(ct.contains("seawatch-"), "{ct}");
    assert!(msgs[0].body.contains("Content-Type: text/plain"));
    assert!(msgs[0].body.contains("Content-Type: text/html"));
    let html = outbox.lock().entries()[0].notification.html();
    assert!(html.contains("<th style=\"text-align:left;padding:2px 12px 2px 0\">Root cause</th><td>core-sw-1</td>"), "{html}");
    assert!(html.contains("#b00020"), "critical in red: {html}");
    assert!(outbox
        .lock()
        .entries()
        .iter()
        .all(|e| e.status == Status::Sent));
    // Reopened from disk: everything is marked sent, nothing is pending.
    drop(outbox);
    let reopened = Outbox::open(dir.path()).unwrap();
    assert!(reopened.pending(i64::MAX).is_empty());
    assert_eq!(reopened.entries().len(), 4);
}

#[tokio::test]
async fn refused_then_accepted_loses_and_duplicates_nothing_criticals_first() {
    let Some(smtp) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Mutex::new(Outbox::open(dir.path()).unwrap()));
    let a = args(email(&smtp.addr()), outbox.clone(), quiet_log());
    let mailer = Mailer::new(a.email.clone()).unwrap();
    smtp.set_mode(Mode::Refuse).unwrap();
    // An outage: minors and criticals interleaved.
    for n in 1..=6 {
        let sev = if n % 3 == 0 { "critical" } else { "minor" };
        enqueue_push(&a, &incident(n, "opened", sev), None).unwrap();
        let pass = mailer.pass(&outbox, &a.clock, false).await.unwrap();
        assert_eq!(pass.sent, 0);
        assert!(pass.interrupted.is_some());
    }
    smtp.set_mode(Mode::Drop).unwrap();
    assert!(mailer
        .pass(&outbox, &a.clock, false)
        .await
        .unwrap()
        .interrupted
        .is_some());
    smtp.set_mode(Mode::TempFail).unwrap();
    assert!(mailer
        .pass(&outbox, &a.clock, false)
        .await
        .unwrap()
        .interrupted
        .is_some());
    assert!(smtp.messages().is_empty());
    assert_eq!(outbox.lock().backlog().0, 6);
    smtp.set_mode(Mode::Accept).unwrap();
    // The first pass after the outage: criticals one by one, the rest as one digest.
    let pass = mailer.pass(&outbox, &a.clock, true).await.unwrap();
    assert_eq!((pass.sent, pass.interrupted), (3, None));
    let msgs = smtp.messages();
    let ids: Vec<&str> = msgs
        .iter()
        .map(|m| m.header("Message-ID").unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "<aurora-3.opened@aurora.seawatch>",
            "<aurora-6.opened@aurora.seawatch>",
            "<digest.outage.1@aurora.seawatch>",
        ],
        "criticals first, then one digest; each once"
    );
    let digest = &msgs[2];
    assert_eq!(digest.rcpt_to, ["it@aurora.example"]);
    assert!(
        digest
            .header("Subject")
            .unwrap()
            .contains("4 notices (4 opened"),
        "{digest:?}"
    );
    for n in [1, 2, 4, 5] {
        assert!(
            digest.body.contains(&format!("aurora-{n} opened")),
            "{}",
            digest.body
        );
    }
    assert!(outbox.lock().pending(i64::MAX).is_empty());
    assert_eq!(outbox.lock().backlog().0, 0);
    // Each failed pass stopped at the first in sending order and counted an attempt on it.
    let first = outbox.lock().entries()[2].clone();
    assert_eq!(
        first.notification.message_id,
        "<aurora-3.opened@aurora.seawatch>"
    );
    assert!(first.attempts >= 3, "{first:?}");
}

#[tokio::test]
async fn a_lost_reply_or_a_crash_before_the_mark_resends_the_same_bytes() {
    let Some(smtp) = server() else { return };
    let Queued {
        dir,
        outbox,
        a,
        mailer,
    } = three_opened(&smtp, "major");
    // The server keeps the first message but the reply is lost.
    smtp.set_mode(Mode::DropAfterData).unwrap();
    let pass = mailer.pass(&outbox, &a.clock, false).await.unwrap();
    assert_eq!(pass.sent, 0);
    assert_eq!(smtp.messages().len(), 1);
    smtp.set_mode(Mode::Accept).unwrap();
    // A crash between the server's 250 and the sent mark: the journal as it was before
    // the pass comes back (the marks never reached the disk).
    let journal = dir.path().join("journal.ndjson");
    let before = std::fs::read(&journal).unwrap();
    assert_eq!(mailer.pass(&outbox, &a.clock, false).await.unwrap().sent, 3);
    drop(outbox);
    std::fs::write(&journal, &before).unwrap();
    let outbox = Arc::new(Mutex::new(Outbox::open(dir.path()).unwrap()));
    assert_eq!(outbox.lock().backlog().0, 3, "unmarked after the crash");
    assert_eq!(mailer.pass(&outbox, &a.clock, false).await.unwrap().sent, 3);
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 1 + 3 + 3);
    let ids = by_id(&msgs);
    assert_eq!(ids.len(), 3, "three notifications, never a new id");
    assert_copies_identical(&msgs);
}

#[tokio::test]
async fn a_torn_journal_tail_is_cut_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Mutex::new(Outbox::open(dir.path()).unwrap()));
    let a = args(email("127.0.0.1:9"), outbox.clone(), quiet_log());
    enqueue_push(&a, &incident(1, "opened", "major"), None).unwrap();
    enqueue_push(&a, &incident(2, "opened", "major"), None).unwrap();
    drop((a, outbox));
    let journal = dir.path().join("journal.ndjson");
    let mut bytes = std::fs::read(&journal).unwrap();
    let good = bytes.len();
    bytes.extend_from_slice(b"{\"q\":{\"message_id\":\"<half");
    std::fs::write(&journal, &bytes).unwrap();
    let mut outbox = Outbox::open(dir.path()).unwrap();
    assert_eq!(outbox.backlog().0, 2);
    assert_eq!(std::fs::metadata(&journal).unwrap().len() as usize, good);
    outbox
        .mark_sent("<aurora-1.opened@aurora.seawatch>", 5)
        .unwrap();
    let outbox = Outbox::open(dir.path()).unwrap();
    assert_eq!(outbox.backlog().0, 1);
}

fn wait(what: &str, f: &dyn Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn queued(m: &OutboxMetrics) -> i64 {
    m.queued
        .get_or_create(&seawatch_actors::mail::actor::ShipLabel { ship: SHIP.into() })
        .get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actor_mails_logged_transitions_and_waits_out_an_outage() {
    let Some(smtp) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = log_service(&dir.path().join("log")).await;
    let outbox = Arc::new(Mutex::new(
        Outbox::open(&dir.path().join("outbox")).unwrap(),
    ));
    let a = args(email(&smtp.addr()), outbox.clone(), log.reader());
    let metrics = a.metrics.clone();
    smtp.stop().unwrap();
    let (actor, join) = ractor::Actor::spawn(None, OutboxActor, a).await.unwrap();
    for n in 1..=4 {
        store_transition(&log, n, "opened", if n == 4 { "critical" } else { "major" }).await;
    }
    wait("4 queued", &|| outbox.lock().backlog().0 == 4);
    // The server is down: the queue waits (its size is the metric).
    wait("the queued gauge", &|| queued(&metrics) == 4);
    smtp.restart().unwrap();
    wait("2 mails", &|| smtp.messages().len() >= 2);
    let msgs = smtp.messages();
    assert_eq!(
        msgs.len(),
        2,
        "the critical, then one digest of the 3 majors"
    );
    assert_eq!(
        msgs[0].header("Message-ID"),
        Some("<aurora-4.opened@aurora.seawatch>")
    );
    assert_eq!(
        msgs[1].header("Message-ID"),
        Some("<digest.outage.1@aurora.seawatch>")
    );
    wait("an empty queue", &|| queued(&metrics) == 0);
    actor.stop(None);
    join.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transitions_stored_while_the_outbox_was_down_are_mailed_once_after_it_returns() {
    let Some(smtp) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let outbox_dir = dir.path().join("outbox");
    let log = log_service(&dir.path().join("log")).await;
    // History from before mail was configured is not mailed: a new outbox starts at the
    // log's end (as the node starts it).
    store_transition(&log, 1, "opened", "critical").await;
    let mut first = Outbox::open(&outbox_dir).unwrap();
    assert_eq!(first.position(), None);
    first.checkpoint(log.reader().next_seq()).unwrap();
    let outbox = Arc::new(Mutex::new(first));
    let a = args(email(&smtp.addr()), outbox.clone(), log.reader());
    let (actor, join) = ractor::Actor::spawn(None, OutboxActor, a).await.unwrap();
    store_transition(&log, 2, "opened", "critical").await;
    wait("incident 2's mail", &|| smtp.messages().len() == 1);
    // The outbox goes away (a crash or a stop); meanwhile the correlator stores three
    // transitions: nothing sees them but the log.
    actor.stop(None);
    join.await.unwrap();
    drop(outbox);
    store_transition(&log, 2, "resolved", "critical").await;
    store_transition(&log, 2, "reopened", "critical").await;
    store_transition(&log, 3, "opened", "critical").await;
    // A new incarnation reads on from the journal's position: each of the three once.
    let outbox = Arc::new(Mutex::new(Outbox::open(&outbox_dir).unwrap()));
    let a = args(email(&smtp.addr()), outbox.clone(), log.reader());
    let (actor, join) = ractor::Actor::spawn(None, OutboxActor, a).await.unwrap();
    wait("4 mails", &|| smtp.messages().len() >= 4);
    actor.stop(None);
    join.await.unwrap();
    // And a third one (the log unchanged) queues nothing again.
    drop(outbox);
    let outbox = Arc::new(Mutex::new(Outbox::open(&outbox_dir).unwrap()));
    assert_eq!(outbox.lock().position(), Some(log.reader().next_seq()));
    let a = args(email(&smtp.addr()), outbox.clone(), log.reader());
    let (actor, join) = ractor::Actor::spawn(None, OutboxActor, a).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    actor.stop(None);
    join.await.unwrap();
    let ids: Vec<String> = smtp
        .messages()
        .iter()
        .map(|m| m.header("Message-ID").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        ids,
        [
            "<aurora-2.opened@aurora.seawatch>",
            "<aurora-2.resolved@aurora.seawatch>",
            "<aurora-2.reopened@aurora.seawatch>",
            "<aurora-3.opened@aurora.seawatch>",
        ],
        "incident 1 was history; every later transition once, in log order"
    );
    assert_eq!(outbox.lock().entries().len(), 4);
}

#[tokio::test]
async fn a_digest_is_durable_and_resent_with_the_same_bytes_after_a_crash() {
    let Some(smtp) = server() else { return };
    let Queued {
        dir,
        outbox,
        a,
        mailer,
    } = three_opened(&smtp, "minor");
    // The digest is queued, the server keeps it and the reply is lost.
    smtp.set_mode(Mode::DropAfterData).unwrap();
    let pass = mailer.pass(&outbox, &a.clock, true).await.unwrap();
    assert_eq!(pass.sent, 0);
    assert_eq!(smtp.messages().len(), 1);
    // A restart: the digest comes back from the journal, with its members covered.
    drop(outbox);
    let outbox = Arc::new(Mutex::new(Outbox::open(dir.path()).unwrap()));
    smtp.set_mode(Mode::Accept).unwrap();
    let pass = mailer.pass(&outbox, &a.clock, true).await.unwrap();
    assert_eq!((pass.sent, pass.interrupted), (1, None), "no second digest");
    let msgs = smtp.messages();
    assert_eq!(msgs.len(), 2);
    assert_eq!(
        msgs[0].header("Message-ID"),
        Some("<digest.outage.1@aurora.seawatch>")
    );
    assert_copies_identical(&msgs);
    let outbox = Outbox::open(dir.path()).unwrap();
    assert!(outbox.entries().iter().all(|e| e.status == Status::Sent));
}

#[tokio::test]
async fn transitions_no_route_wanted_still_count_in_later_ids() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Mutex::new(Outbox::open(dir.path()).unwrap()));
    let mut cfg = email("127.0.0.1:9");
    cfg.routes.truncate(1); // criticals only
    let a = args(cfg, outbox.clone(), quiet_log());
    // A minor incident goes through two cycles unmailed, then comes back critical.
    for event in ["opened", "resolved", "reopened", "resolved"] {
        assert!(!enqueue_push(&a, &incident(1, event, "minor"), None).unwrap());
    }
    for event in ["reopened", "resolved", "reopened"] {
        assert!(enqueue_push(&a, &incident(1, event, "critical"), None).unwrap());
    }
    drop((a, outbox));
    // From disk: the skipped transitions are still counted, and a replay queues nothing.
    let outbox = Arc::new(Mutex::new(Outbox::open(dir.path()).unwrap()));
    let ids: Vec<String> = outbox
        .lock()
        .entries()
        .iter()
        .map(|e| e.notification.message_id.clone())
        .collect();
    assert_eq!(
        ids,
        [
            "<aurora-1.reopened.1@aurora.seawatch>",
            "<aurora-1.resolved.2@aurora.seawatch>",
            "<aurora-1.reopened.2@aurora.seawatch>",
        ]
    );
    let a = args(email("127.0.0.1:9"), outbox.clone(), quiet_log());
    assert!(!enqueue_push(&a, &incident(1, "reopened", "critical"), None).unwrap());
}

#[tokio::test]
async fn a_digest_refused_for_good_takes_its_members_out_of_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Mutex::new(Outbox::open(dir.path()).unwrap()));
    let a = args(email("127.0.0.1:9"), outbox.clone(), quiet_log());
    for n in 1..=3 {
        enqueue_push(&a, &incident(n, "opened", "minor"), None).unwrap();
    }
    assert_eq!(outbox.lock().make_digests(a.clock.now_ms()).unwrap(), 1);
    assert_eq!(
        outbox.lock().pending(i64::MAX).len(),
        1,
        "only the digest is pending"
    );
    outbox
        .lock()
        .mark_failed("<digest.outage.1@aurora.seawatch>", 9, "550 no such user")
        .unwrap();
    drop((a, outbox));
    let outbox = Outbox::open(dir.path()).unwrap();
    assert_eq!(outbox.backlog(), (0, None));
    assert!(outbox.entries().iter().all(|e| e.status == Status::Failed));
}

/// An incident push rooted at `root`.
fn incident_at(n: usize, event: &str, severity: &str, root: &str) -> serde_json::Value {
    let mut v = incident(n, event, severity);
    v["root_cause"] = root.into();
    v
}

/// `[email]` with one route for everything, with these timings.
fn timed(group_wait_s: f64, group_interval_s: f64, repeat_s: f64) -> EmailConfig {
    let mut cfg = email("127.0.0.1:9");
    cfg.routes.truncate(1);
    cfg.routes[0].matcher.severity.clear();
    cfg.routes[0].group_wait_s = Some(group_wait_s);
    cfg.routes[0].group_interval_s = Some(group_interval_s);
    cfg.routes[0].repeat_interval_s = (repeat_s > 0.0).then_some(repeat_s);
    cfg.validate().unwrap();
    cfg
}

fn status_of(outbox: &Outbox, id: &str) -> (Status, Option<String>) {
    let e = outbox
        .entries()
        .iter()
        .find(|e| e.notification.message_id == id)
        .unwrap_or_else(|| panic!("{id} not in the outbox"));
    (e.status, e.last_error.clone())
}

#[tokio::test]
async fn a_blip_shorter_than_the_group_wait_is_never_mailed() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Mutex::new(Outbox::open(dir.path()).unwrap()));
    let a = args(timed(60.0, 0.0, 0.0), outbox.clone(), quiet_log());
    let t0 = a.clock.now_ms();
    assert!(enqueue_push(&a, &incident(1, "opened", "major"), None).unwrap());
    // Waiting out the group wait: not due yet.
    assert!(outbox.lock().pending(t0).is_empty());
    assert_eq!(outbox.lock().next_due_ms(t0), Some(t0 + 60_000));
    a.clock.advance_ms(20_000);
    assert!(!enqueue_push(&a, &incident(1, "resolved", "major"), None).unwrap());
    let o = outbox.lock();
    for id in [
        "<aurora-1.opened@aurora.seawatch>",
        "<aurora-1.resolved@aurora.seawatch>",
    ] {
        let (status, why) = status_of(&o, id);
        assert_eq!(status, Status::Suppressed, "{id}");
        assert!(why.unwrap().starts_with("withdrawn: opened then resolved"));
    }
    assert!(
        o.pending(i64::MAX).is_empty(),
        "nothing of the blip is sent"
    );
    drop(o);
    // An incident that outlasts the wait is mailed once it is due.
    assert!(enqueue_push(&a, &incident(2, "opened", "major"), None).unwrap());
    assert!(outbox.lock().pending(a.clock.now_ms()).is_empty());
    a.clock.advance_ms(60_000);
    let due = outbox.lock().pending(a.clock.now_ms());
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].message_id, "<aurora-2.opened@aurora.seawatch>");
    // The suppressed notices survive a restart as suppressed.
    drop((a, outbox));
    let o = Outbox::open(dir.path()).unwrap();
    assert_eq!(
        status_of(&o, "<aurora-1.opened@aurora.seawatch>").0,
        Status::Suppressed
    );
}

#[tokio::test]
async fn the_group_interval_spaces_mails_and_a_reminder_repeats_an_open_incident() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Mutex::new(Outbox::open(dir.path()).unwrap()));
    let a = args(timed(0.0, 300.0, 3600.0), outbox.clone(), quiet_log());
    let t0 = a.clock.now_ms();
    assert!(enqueue_push(&a, &incident(1, "opened", "major"), None).unwrap());
    outbox
        .lock()
        .mark_sent("<aurora-1.opened@aurora.seawatch>", t0)
        .unwrap();
    // Resolved 10 s later waits for the interval after the opening mail...
    a.clock.advance_ms(10_000);
    assert!(enqueue_push(&a, &incident(1, "resolved", "major"), None).unwrap());
    assert_eq!(
        outbox.lock().next_due_ms(a.clock.now_ms()),
        Some(t0 + 300_000)
    );
    // ...and a reopening within it withdraws both: the incident is still open, as mailed.
    a.clock.advance_ms(10_000);
    assert!(!enqueue_push(&a, &incident(1, "reopened", "major"), None).unwrap());
    assert!(outbox.lock().pending(i64::MAX).is_empty());
    // No reminder before the repeat interval, one at it, threaded, then none until the
    // next interval has passed since that one went.
    assert_eq!(outbox.lock().queue_reminders(t0 + 3_599_000).unwrap(), 0);
    assert_eq!(outbox.lock().queue_reminders(t0 + 3_600_000).unwrap(), 1);
    let r = outbox.lock().pending(i64::MAX);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].message_id, "<aurora-1.repeat.1@aurora.seawatch>");
    assert_eq!(
        r[0].thread.as_deref(),
        Some("<aurora-1.opened@aurora.seawatch>")
    );
    assert!(r[0].subject.ends_with("[repeat]"));
    assert_eq!(
        outbox.lock().queue_reminders(t0 + 3_700_000).unwrap(),
        0,
        "one reminder while the last is still queued"
    );
    outbox
        .lock()
        .mark_sent("<aurora-1.repeat.1@aurora.seawatch>", t0 + 3_600_000)
        .unwrap();
    assert_eq!(outbox.lock().queue_reminders(t0 + 7_200_000).unwrap(), 1);
    // A resolved incident is not repeated.
    a.clock.set_ms(t0 + 7_300_000);
    assert!(enqueue_push(&a, &incident(1, "resolved", "major"), None).unwrap());
    assert_eq!(outbox.lock().queue_reminders(t0 + 20_000_000).unwrap(), 0);
}

/// A silence by `officer` (the outbox assigns its id).
fn officer_silence(
    incident: Option<&str>,
    element: Option<&str>,
    until_ms: Option<i64>,
    until_resolved: bool,
    comment: &str,
    now: i64,
) -> seawatch_actors::mail::store::Silence {
    seawatch_actors::mail::store::Silence {
        id: String::new(),
        incident: incident.map(str::to_owned),
        element: element.map(str::to_owned),
        until_ms,
        until_resolved,
        by: "officer".into(),
        comment: comment.into(),
        created_ms: now,
    }
}

#[tokio::test]
async fn silences_and_inhibition_keep_whole_threads_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Mutex::new(Outbox::open(dir.path()).unwrap()));
    let a = args(timed(0.0, 0.0, 0.0), outbox.clone(), quiet_log());
    let now = a.clock.now_ms();
    // Incident 1 on core-sw-1 is mailed; incident 2 on ap-7 (behind core-sw-1) is not.
    assert!(enqueue_push(&a, &incident(1, "opened", "critical"), None).unwrap());
    assert!(!enqueue_push(&a, &incident_at(2, "opened", "minor", "ap-7"), None).unwrap());
    let (status, why) = status_of(&outbox.lock(), "<aurora-2.opened@aurora.seawatch>");
    assert_eq!(status, Status::Suppressed);
    assert_eq!(
        why.as_deref(),
        Some("inhibited: ap-7 is behind core-sw-1, the root of open incident aurora-1")
    );
    assert!(!enqueue_push(&a, &incident_at(2, "resolved", "minor", "ap-7"), None).unwrap());
    assert_eq!(
        status_of(&outbox.lock(), "<aurora-2.resolved@aurora.seawatch>").0,
        Status::Suppressed,
        "the rest of an inhibited thread stays quiet"
    );
    // A silence until incident 3 resolves covers its opening and its resolution, then
    // ends by itself.
    let s = outbox
        .lock()
        .add_silence(officer_silence(
            Some("aurora-3"),
            None,
            None,
            true,
            "planned work on fw-1",
            now,
        ))
        .unwrap();
    assert_eq!(s.id, "s-1");
    assert!(!enqueue_push(&a, &incident_at(3, "opened", "critical", "fw-1"), None).unwrap());
    assert!(!enqueue_push(&a, &incident_at(3, "resolved", "critical", "fw-1"), None).unwrap());
    let o = outbox.lock();
    assert_eq!(
        status_of(&o, "<aurora-3.opened@aurora.seawatch>")
            .1
            .as_deref(),
        Some("silenced by s-1 (officer): planned work on fw-1")
    );
    assert_eq!(
        status_of(&o, "<aurora-3.resolved@aurora.seawatch>").0,
        Status::Suppressed
    );
    assert!(o.silences().is_empty(), "ended with the incident");
    drop(o);
    // A silence also stops what is queued and not sent yet.
    assert!(enqueue_push(&a, &incident_at(6, "opened", "major", "sw-6"), None).unwrap());
    let s6 = outbox
        .lock()
        .add_silence(officer_silence(
            Some("aurora-6"),
            None,
            Some(now + 3_600_000),
            false,
            "known",
            now,
        ))
        .unwrap();
    assert_eq!(
        status_of(&outbox.lock(), "<aurora-6.opened@aurora.seawatch>"),
        (
            Status::Suppressed,
            Some(format!("silenced by {} (officer): known", s6.id))
        )
    );
    // After it, a reopening is mailed again.
    assert!(enqueue_push(&a, &incident_at(3, "reopened", "critical", "fw-1"), None).unwrap());
    // A silence of an element until a time; it survives a restart.
    outbox
        .lock()
        .add_silence(officer_silence(
            None,
            Some("pbx-1"),
            Some(now + 60_000),
            false,
            "",
            now,
        ))
        .unwrap();
    drop((a, outbox));
    let outbox = Arc::new(Mutex::new(Outbox::open(dir.path()).unwrap()));
    let a = args(timed(0.0, 0.0, 0.0), outbox.clone(), quiet_log());
    assert_eq!(
        outbox.lock().silences().len(),
        2,
        "the element silence and aurora-6's"
    );
    assert!(!enqueue_push(&a, &incident_at(4, "opened", "major", "pbx-1"), None).unwrap());
    a.clock.advance_ms(60_000);
    assert!(enqueue_push(&a, &incident_at(5, "opened", "major", "pbx-1"), None).unwrap());
}

#[tokio::test]
async fn a_route_can_leave_out_resolved_notices() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Mutex::new(Outbox::open(dir.path()).unwrap()));
    let mut cfg = timed(0.0, 0.0, 0.0);
    cfg.routes[0].matcher.state = vec!["open".into()];
    cfg.validate().unwrap();
    let a = args(cfg, outbox.clone(), quiet_log());
    assert!(enqueue_push(&a, &incident(1, "opened", "major"), None).unwrap());
    assert!(!enqueue_push(&a, &incident(1, "resolved", "major"), None).unwrap());
    assert!(enqueue_push(&a, &incident(1, "reopened", "major"), None).unwrap());
    let ids: Vec<String> = outbox
        .lock()
        .entries()
        .iter()
        .map(|e| e.notification.message_id.clone())
        .collect();
    assert_eq!(
        ids,
        [
            "<aurora-1.opened@aurora.seawatch>",
            "<aurora-1.reopened@aurora.seawatch>"
        ]
    );
}

#[tokio::test]
async fn mail_held_back_too_long_queues_one_critical_notice_about_the_outbox_first() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Mutex::new(Outbox::open(dir.path()).unwrap()));
    let a = args(email("127.0.0.1:9"), outbox.clone(), quiet_log());
    let t0 = a.clock.now_ms();
    assert_eq!(a.email.stalled_after_s, 3600.0, "the default");
    enqueue_push(&a, &incident(1, "opened", "critical"), None).unwrap();
    enqueue_push(&a, &incident(2, "opened", "minor"), None).unwrap();
    outbox
        .lock()
        .note_attempt(
            "<aurora-1.opened@aurora.seawatch>",
            t0,
            "Connection refused",
        )
        .unwrap();
    let to = a.email.all_recipients();
    let stall = |now: i64| {
        outbox
            .lock()
            .queue_stalled_notice(SHIP, "127.0.0.1:9", to.clone(), now, 3_600_000)
            .unwrap()
    };
    assert!(!stall(t0 + 3_599_000));
    assert!(stall(t0 + 3_600_000));
    assert!(!stall(t0 + 7_200_000), "one notice per stall");
    let p = outbox.lock().pending(i64::MAX);
    assert_eq!(p[0].message_id, "<outbox.stalled.1@aurora.seawatch>");
    assert_eq!(p[0].severity, "critical");
    assert_eq!(
        p[0].to,
        ["bridge@aurora.example", "it@aurora.example"],
        "every route's recipients"
    );
    assert!(p[0].body.contains("holds 2 notices"), "{}", p[0].body);
    assert!(p[0].body.contains("Connection refused"), "{}", p[0].body);
    assert_eq!(p[1].message_id, "<aurora-1.opened@aurora.seawatch>");
}

/// Issue 22's outage goal, on the simulated clock against the real server: a 6-hour
/// outage with 500 incident transitions (seeded), the outbox retrying all along; when the
/// server answers again every critical arrives on its own, the rest as at most one digest
/// per group of recipients, and the outbox's own stalled notice first.
#[tokio::test]
async fn a_six_hour_outage_with_500_transitions_yields_criticals_alone_and_one_digest() {
    use rand::{Rng, SeedableRng};
    let Some(smtp) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Mutex::new(Outbox::open(dir.path()).unwrap()));
    let a = args(email(&smtp.addr()), outbox.clone(), quiet_log());
    let mailer = Mailer::new(a.email.clone()).unwrap();
    smtp.stop().unwrap();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(22);
    // 60 incidents, each going opened → resolved → reopened → resolved → ... in turn.
    let mut next: Vec<usize> = vec![0; 60];
    let mut severity: Vec<&str> = Vec::new();
    for _ in 0..60 {
        severity.push(if rng.random_bool(0.15) {
            "critical"
        } else {
            "major"
        });
    }
    let cycle = ["opened", "resolved", "reopened", "resolved"];
    let mut transitions = 0;
    let mut after_outage = false;
    while transitions < 500 {
        a.clock.advance_ms(6 * 3_600_000 / 500);
        let i = rng.random_range(0..60);
        let event = if next[i] == 0 {
            "opened"
        } else {
            cycle[1 + (next[i] - 1) % 3]
        };
        next[i] += 1;
        enqueue_push(
            &a,
            &incident_at(i + 1, event, severity[i], "core-sw-1"),
            None,
        )
        .unwrap();
        transitions += 1;
        if transitions % 25 == 0 {
            // A retry during the outage (the actor's backoff, compressed).
            let pass = mailer.pass(&outbox, &a.clock, after_outage).await.unwrap();
            assert_eq!(pass.sent, 0);
            assert!(pass.interrupted.is_some());
            after_outage = true;
            outbox
                .lock()
                .queue_stalled_notice(
                    SHIP,
                    &smtp.addr(),
                    a.email.all_recipients(),
                    a.clock.now_ms(),
                    3_600_000,
                )
                .unwrap();
        }
    }
    let queued: Vec<Notification> = outbox.lock().pending(i64::MAX);
    let criticals: Vec<String> = queued
        .iter()
        .filter(|n| n.severity == "critical" && n.transition != "stalled")
        .map(|n| n.message_id.clone())
        .collect();
    let others = queued.iter().filter(|n| n.severity != "critical").count();
    assert!(
        criticals.len() >= 20 && others >= 300,
        "{} / {others}",
        criticals.len()
    );
    smtp.restart().unwrap();
    let pass = mailer.pass(&outbox, &a.clock, true).await.unwrap();
    assert_eq!(pass.interrupted, None);
    let msgs = smtp.messages();
    let ids: Vec<&str> = msgs.iter().filter_map(|m| m.header("Message-ID")).collect();
    assert_eq!(
        ids[0], "<outbox.stalled.1@aurora.seawatch>",
        "the stall first"
    );
    assert_eq!(
        &ids[1..=criticals.len()],
        criticals.as_slice(),
        "criticals one by one, in order"
    );
    let digests: Vec<&&str> = ids.iter().filter(|i| i.starts_with("<digest.")).collect();
    assert_eq!(
        digests.len(),
        1,
        "one digest: the non-criticals share one recipient list"
    );
    assert_eq!(
        msgs.len(),
        1 + criticals.len() + 1,
        "nothing else, nothing twice"
    );
    let digest = msgs
        .iter()
        .find(|m| m.header("Message-ID") == Some(digests[0]))
        .unwrap();
    assert!(
        digest.body.contains(&format!("{others} notices")),
        "{}",
        digest.body
    );
    assert!(outbox.lock().pending(i64::MAX).is_empty());
    assert_eq!(outbox.lock().backlog().0, 0);
}

/// STARTTLS and TLS from the first byte, each with AUTH, against the real server with a
/// certificate from a CA given in `email.ca_file`; a wrong password and an untrusted
/// certificate are refused, and the notice waits in the outbox.
#[tokio::test]
async fn starttls_and_tls_with_auth_and_a_trusted_ca() {
    for mode in ["starttls", "tls"] {
        let smtp = match Managed::start_with(mode, "seawatch:s3cret-relay") {
            Ok(m) => m,
            Err(e) => {
                assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "{e}");
                eprintln!("SKIPPED: no SMTP server: {e}");
                return;
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("smtp-password");
        std::fs::write(&pw, "s3cret-relay\n").unwrap();
        let mut cfg = email(&smtp.addr());
        cfg.tls = toml::from_str::<toml::Value>(&format!("t = \"{mode}\""))
            .unwrap()
            .get("t")
            .unwrap()
            .clone()
            .try_into()
            .unwrap();
        cfg.user = Some("seawatch".into());
        cfg.password_file = Some(pw.clone());
        cfg.ca_file = Some(smtp.ca_file());
        cfg.validate().unwrap();
        let outbox = Arc::new(Mutex::new(Outbox::open(&dir.path().join("o")).unwrap()));
        let a = args(cfg.clone(), outbox.clone(), quiet_log());
        enqueue_push(&a, &incident(1, "opened", "critical"), None).unwrap();
        // Without the CA the certificate is not trusted: nothing is sent.
        let mut untrusted = cfg.clone();
        untrusted.ca_file = None;
        let pass = Mailer::new(untrusted)
            .unwrap()
            .pass(&outbox, &a.clock, false)
            .await
            .unwrap();
        assert_eq!(
            pass.sent, 0,
            "{mode}: an untrusted certificate must be refused"
        );
        assert!(pass.interrupted.is_some(), "{mode}");
        // A wrong password: refused, the notice stays queued.
        std::fs::write(&pw, "wrong\n").unwrap();
        let pass = Mailer::new(cfg.clone())
            .unwrap()
            .pass(&outbox, &a.clock, false)
            .await
            .unwrap();
        assert_eq!(pass.sent, 0, "{mode}: a wrong password must be refused");
        assert!(
            pass.interrupted
                .as_deref()
                .is_some_and(|e| e.starts_with("authentication refused")),
            "{mode}: {pass:?}"
        );
        assert_eq!(
            outbox.lock().backlog().0,
            1,
            "a refused login is the node's configuration: the notice waits, not fails"
        );
        std::fs::write(&pw, "s3cret-relay\n").unwrap();
        let pass = Mailer::new(cfg)
            .unwrap()
            .pass(&outbox, &a.clock, false)
            .await
            .unwrap();
        assert_eq!((pass.sent, pass.interrupted), (1, None), "{mode}");
        let msgs = smtp.messages();
        assert_eq!(msgs.len(), 1, "{mode}");
        assert_eq!(
            msgs[0].header("Message-ID"),
            Some("<aurora-1.opened@aurora.seawatch>")
        );
    }
}
