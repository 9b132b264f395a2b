//! Time from "the SMTP server is reachable again" to the first critical mail arriving
//! (issue 22's goal: ≤ 5 s), with the default retry settings (1 s doubling to 4 s).
//!
//! `cargo run -p seawatch-actors --example mail_linkup -- [ROUNDS] [OUTAGE_S]`: each round
//! starts an aiosmtpd server (deploy/scripts/smtp-test-server.sh), stops it, starts an
//! outbox actor, stores 20 minor and 1 critical incident openings in the ship's event log, waits OUTAGE_S
//! (default 20) seconds plus 0.8 s per round (to sample the retry schedule's phase), starts the server again and measures until the critical is in
//! its maildir. Real time: the figure includes the backoff phase at the moment of link-up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use seawatch_actors::ingest::metrics::IngestMetrics;
use seawatch_actors::ingest::pipeline::PipelineConfig;
use seawatch_actors::log_service::writer::WriterActor;
use seawatch_actors::log_service::LogService;
use seawatch_actors::mail::actor::{OutboxActor, OutboxArgs, OutboxMetrics};
use seawatch_actors::mail::{EmailConfig, Outbox};
use seawatch_runtime::event_log::{EventKind, EventLog, EventLogConfig, NewEvent};
use seawatch_runtime::{Clock, Metrics};
use seawatch_tests::smtp::Managed;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let outage_s: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    for round in 1..=rounds {
        let smtp = Managed::start().expect("SMTP test server");
        smtp.stop().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let outbox = Arc::new(Mutex::new(
            Outbox::open(&dir.path().join("outbox")).unwrap(),
        ));
        let pipeline = PipelineConfig::default();
        let log = LogService::new(
            EventLog::open(dir.path().join("log"), EventLogConfig::new("aurora")).unwrap(),
            &pipeline,
        );
        let writer = log.writer_args(
            IngestMetrics::register(&Metrics::new(), "aurora"),
            pipeline,
            Clock::system(),
        );
        let (writer, writer_join) = ractor::Actor::spawn(None, WriterActor, writer)
            .await
            .unwrap();
        let email: EmailConfig = toml::from_str(&format!(
            "smtp = \"{}\"\ntls = \"none\"\nfrom = \"sw@aurora.example\"\n[[route]]\nto = [\"b@aurora.example\"]\n",
            smtp.addr()
        ))
        .unwrap();
        email.validate().unwrap();
        let (actor, join) = ractor::Actor::spawn(
            None,
            OutboxActor,
            OutboxArgs {
                ship: "aurora".into(),
                email,
                outbox,
                log: log.reader(),
                kinds: Arc::new(HashMap::new()),
                parents: Arc::new(HashMap::new()),
                clock: Clock::system(),
                metrics: OutboxMetrics::register(&Metrics::new(), "aurora"),
            },
        )
        .await
        .unwrap();
        let openings = (1..=21)
            .map(|n| NewEvent {
                ts_ms: 1_796_601_600_000,
                kind: EventKind::Incident,
                source: format!("sw-{n}"),
                severity: 2,
                body: serde_json::json!({
                    "ts_ms": 1_796_601_600_000i64, "event": "opened",
                    "incident": {
                        "id": format!("aurora-{n}"), "ship": "aurora",
                        "severity": if n == 21 { "critical" } else { "minor" },
                        "state": "open", "root_cause": format!("sw-{n}"), "summary": "x",
                        "alerts": 1, "opened_at_ms": 1_796_601_600_000i64,
                        "resolved_at_ms": null, "members": [],
                    }
                })
                .to_string(),
            })
            .collect();
        log.append(openings).await.unwrap();
        // Each round shifts the link-up by 0.8 s against the retry schedule.
        let outage =
            Duration::from_secs(outage_s) + Duration::from_millis(800 * (round as u64 - 1));
        tokio::time::sleep(outage).await;
        let up = tokio::task::spawn_blocking({
            let smtp_restart = move || {
                smtp.restart().unwrap();
                let t = Instant::now();
                loop {
                    let msgs = smtp.messages();
                    if let Some(first) = msgs.first() {
                        assert_eq!(
                            first.header("Message-ID"),
                            Some("<aurora-21.opened@aurora.seawatch>")
                        );
                        return (t.elapsed(), smtp);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            };
            smtp_restart
        })
        .await
        .unwrap();
        println!(
            "round {round}: outage {:.1} s, link-up to first critical {:.2} s",
            outage.as_secs_f64(),
            up.0.as_secs_f64()
        );
        actor.stop(None);
        join.await.unwrap();
        writer.stop(None);
        writer_join.await.unwrap();
    }
}
