//! Time from "the SMTP server is reachable again" to the first critical mail arriving
//! (issue 22's goal: ≤ 5 s), with the default retry settings (1 s doubling to 4 s).
//!
//! `cargo run -p seawatch-actors --example mail_linkup -- [ROUNDS] [OUTAGE_S]`: each round
//! starts an aiosmtpd server (deploy/scripts/smtp-test-server.sh), stops it, starts an
//! outbox actor, pushes 20 minor and 1 critical incident openings, waits OUTAGE_S
//! (default 20) seconds plus 0.8 s per round (to sample the retry schedule's phase), starts the server again and measures until the critical is in
//! its maildir. Real time: the figure includes the backoff phase at the moment of link-up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use seawatch_actors::mail::actor::{OutboxActor, OutboxArgs, OutboxMetrics};
use seawatch_actors::mail::{EmailConfig, Outbox};
use seawatch_actors::push::{Push, PushBus, PushKind};
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
        let outbox = Arc::new(Mutex::new(Outbox::open(dir.path()).unwrap()));
        let email: EmailConfig = toml::from_str(&format!(
            "smtp = \"{}\"\ntls = \"none\"\nfrom = \"sw@aurora.example\"\n[[route]]\nto = [\"b@aurora.example\"]\n",
            smtp.addr()
        ))
        .unwrap();
        email.validate().unwrap();
        let push = PushBus::default();
        let (actor, join) = ractor::Actor::spawn(
            None,
            OutboxActor,
            OutboxArgs {
                ship: "aurora".into(),
                email,
                outbox,
                push: push.clone(),
                kinds: Arc::new(HashMap::new()),
                clock: Clock::system(),
                metrics: OutboxMetrics::register(&Metrics::new(), "aurora"),
            },
        )
        .await
        .unwrap();
        for n in 1..=21 {
            push.publish(Push {
                kind: PushKind::Incident,
                ship: Some("aurora".into()),
                body: serde_json::json!({
                    "event": "opened", "id": format!("aurora-{n}"), "ship": "aurora",
                    "severity": if n == 21 { "critical" } else { "minor" },
                    "state": "open", "root_cause": format!("sw-{n}"), "summary": "x",
                    "alerts": 1, "opened_at": "2026-12-07T00:00:00Z", "resolved_at": null,
                }),
            });
        }
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
    }
}
