//! The mail outbox against a real SMTP server (aiosmtpd, started by
//! `deploy/scripts/smtp-test-server.sh`): threading headers, a server that refuses and
//! then accepts, a server that keeps a message but drops the connection before its reply,
//! and a crash between the server's 250 and the durable sent mark. Outside CI a missing
//! server skips the test; under CI=true it fails.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use seawatch_actors::mail::actor::{enqueue_push, OutboxActor, OutboxArgs, OutboxMetrics};
use seawatch_actors::mail::send::Mailer;
use seawatch_actors::mail::store::Status;
use seawatch_actors::mail::{EmailConfig, Outbox};
use seawatch_actors::push::{Push, PushBus, PushKind};
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

fn args(cfg: EmailConfig, outbox: Arc<Mutex<Outbox>>, push: PushBus) -> OutboxArgs {
    OutboxArgs {
        ship: SHIP.into(),
        email: cfg,
        outbox,
        push,
        kinds: Arc::new(HashMap::from([(
            "core-sw-1".to_string(),
            "switch".to_string(),
        )])),
        clock: Clock::manual(1_796_601_600_000),
        metrics: OutboxMetrics::register(&Metrics::new(), SHIP),
    }
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
    let a = args(email(&smtp.addr()), outbox.clone(), PushBus::default());
    let mailer = Mailer::new(a.email.clone()).unwrap();
    for n in 1..=3 {
        enqueue_push(&a, &incident(n, "opened", severity)).unwrap();
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
    let a = args(email(&smtp.addr()), outbox.clone(), PushBus::default());
    for (event, sev) in [
        ("opened", "critical"),
        ("resolved", "critical"),
        ("reopened", "critical"),
        ("resolved", "critical"),
    ] {
        assert!(enqueue_push(&a, &incident(1, event, sev)).unwrap());
    }
    // A replayed event (the same transition reported again) queues nothing new.
    assert!(!enqueue_push(&a, &incident(1, "opened", "critical")).unwrap());
    // A transition that does not mail.
    assert!(!enqueue_push(&a, &incident(1, "alert_attached", "critical")).unwrap());
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
    assert!(outbox
        .lock()
        .entries()
        .iter()
        .all(|e| e.status == Status::Sent));
    // Reopened from disk: everything is marked sent, nothing is pending.
    drop(outbox);
    let reopened = Outbox::open(dir.path()).unwrap();
    assert!(reopened.pending().is_empty());
    assert_eq!(reopened.entries().len(), 4);
}

#[tokio::test]
async fn refused_then_accepted_loses_and_duplicates_nothing_criticals_first() {
    let Some(smtp) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Mutex::new(Outbox::open(dir.path()).unwrap()));
    let a = args(email(&smtp.addr()), outbox.clone(), PushBus::default());
    let mailer = Mailer::new(a.email.clone()).unwrap();
    smtp.set_mode(Mode::Refuse).unwrap();
    // An outage: minors and criticals interleaved.
    for n in 1..=6 {
        let sev = if n % 3 == 0 { "critical" } else { "minor" };
        enqueue_push(&a, &incident(n, "opened", sev)).unwrap();
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
    assert!(outbox.lock().pending().is_empty());
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
    let a = args(email("127.0.0.1:9"), outbox.clone(), PushBus::default());
    enqueue_push(&a, &incident(1, "opened", "major")).unwrap();
    enqueue_push(&a, &incident(2, "opened", "major")).unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actor_mails_pushed_transitions_and_waits_out_an_outage() {
    let Some(smtp) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Mutex::new(Outbox::open(dir.path()).unwrap()));
    let push = PushBus::default();
    let a = args(email(&smtp.addr()), outbox.clone(), push.clone());
    let metrics = a.metrics.clone();
    smtp.stop().unwrap();
    let (actor, join) = ractor::Actor::spawn(None, OutboxActor, a).await.unwrap();
    for n in 1..=4 {
        push.publish(Push {
            kind: PushKind::Incident,
            ship: Some(SHIP.into()),
            body: incident(n, "opened", if n == 4 { "critical" } else { "major" }),
        });
    }
    let wait = |what: &str, f: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait("4 queued", &|| outbox.lock().backlog().0 == 4);
    // The server is down: the queue waits (its size is the metric).
    let queued = |m: &OutboxMetrics| {
        m.queued
            .get_or_create(&seawatch_actors::mail::actor::ShipLabel { ship: SHIP.into() })
            .get()
    };
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
    let a = args(cfg, outbox.clone(), PushBus::default());
    // A minor incident goes through two cycles unmailed, then comes back critical.
    for event in ["opened", "resolved", "reopened", "resolved"] {
        assert!(!enqueue_push(&a, &incident(1, event, "minor")).unwrap());
    }
    for event in ["reopened", "resolved", "reopened"] {
        assert!(enqueue_push(&a, &incident(1, event, "critical")).unwrap());
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
    let a = args(email("127.0.0.1:9"), outbox.clone(), PushBus::default());
    assert!(!enqueue_push(&a, &incident(1, "reopened", "critical")).unwrap());
}

#[tokio::test]
async fn a_digest_refused_for_good_takes_its_members_out_of_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Mutex::new(Outbox::open(dir.path()).unwrap()));
    let a = args(email("127.0.0.1:9"), outbox.clone(), PushBus::default());
    for n in 1..=3 {
        enqueue_push(&a, &incident(n, "opened", "minor")).unwrap();
    }
    assert_eq!(outbox.lock().make_digests(7).unwrap(), 1);
    assert_eq!(
        outbox.lock().pending().len(),
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
