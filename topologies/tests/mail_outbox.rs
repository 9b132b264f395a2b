//! `seawatch ship` with `[email]` against a real SMTP server (aiosmtpd, started by
//! `deploy/scripts/smtp-test-server.sh`): rounds of telemetry that open incidents, the
//! server refusing or keeping a message and dropping the reply, and the node killed with
//! SIGKILL at a seeded point after each round (often while it sends); a last start with
//! the server accepting. Every notification the journal queued arrives, and no
//! Message-ID arrives twice with different content. `SEAWATCH_SEED` picks other kill points
//! and `SEAWATCH_MAIL_ROUNDS` more rounds (default 6). Outside CI a missing server skips
//! the test; under CI=true it fails.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use seawatch_tests::smtp::{Managed, Mode};
use support::{http_with, skip_or_fail, ShipProc};

const SHIP: &str = "aurora";

fn config(smtp: &str) -> String {
    format!(
        r#"ship = "{SHIP}"
[email]
smtp = "{smtp}"
tls = "none"
from = "seawatch@aurora.example"
retry_initial_s = 0.1
retry_max_s = 0.5
[[email.route]]
to = ["bridge@aurora.example"]
"#
    )
}

/// CPU saturation on `sw-r` over NDJSON: an incident rooted at it at once.
fn feed(ship: &ShipProc, data: &Path, r: usize) {
    let token = std::fs::read_to_string(data.join("ingest-token")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let body = format!(
        "{{\"metric\":\"device_cpu_percent\",\"value\":95,\"labels\":{{\"device\":\"sw-{r}\"}},\"ts\":{}}}\n\
         {{\"metric\":\"device_cpu_percent\",\"value\":96,\"labels\":{{\"device\":\"sw-{r}\"}},\"ts\":{}}}\n",
        now - 1000,
        now
    );
    let auth = format!(
        "Authorization: Bearer {}\r\nContent-Type: application/x-ndjson\r\n",
        token.trim()
    );
    let (code, text) =
        http_with(ship.http, "POST", "/ingest/ndjson", &auth, body.as_bytes()).unwrap();
    assert_eq!(code, 200, "{text}");
}

/// Message-IDs the journal queued.
fn queued_ids(data: &Path) -> Vec<String> {
    queued(data).into_iter().map(|(id, _)| id).collect()
}

/// Message-IDs the journal queued, each with its digest members (empty for a notice).
fn queued(data: &Path) -> Vec<(String, Vec<String>)> {
    journal(data)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let id = v["q"]["message_id"].as_str()?.to_owned();
            let members = v["q"]["members"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|m| m.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            Some((id, members))
        })
        .collect()
}

fn journal(data: &Path) -> String {
    std::fs::read_to_string(data.join("outbox/journal.ndjson")).unwrap_or_default()
}

#[test]
fn sigkill_mid_send_and_a_flaky_server_lose_and_garble_nothing() {
    let smtp = match Managed::start() {
        Ok(m) => m,
        Err(e) => return skip_or_fail(&format!("no SMTP server: {e}")),
    };
    // SEAWATCH_SEED picks another run of kill points.
    let seed: u64 = std::env::var("SEAWATCH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4242);
    eprintln!("seed {seed}");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = config(&smtp.addr());
    // SEAWATCH_MAIL_ROUNDS runs more kill cycles (issue 22's goal is 100; CI runs 6).
    let rounds: usize = std::env::var("SEAWATCH_MAIL_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    for r in 1..=rounds {
        let mode = match r % 3 {
            0 => Mode::Refuse,
            1 => Mode::DropAfterData,
            _ => Mode::Accept,
        };
        smtp.set_mode(mode).unwrap();
        let ship = ShipProc::start(&data, Some(&cfg));
        feed(&ship, &data, r);
        // Wait (bounded) until the round's notification is durable, then kill at a
        // seeded point: before, during or after its send.
        let root = format!("Root cause:  sw-{r}\\n");
        ship.wait_metrics("the round's incident", Duration::from_secs(30), |_| {
            journal(&data).contains(&root)
        });
        std::thread::sleep(Duration::from_millis(rng.random_range(0..150)));
        ship.kill9();
    }
    smtp.set_mode(Mode::Accept).unwrap();
    let ship = ShipProc::start(&data, Some(&cfg));
    let gauge = format!("seawatch_notifications_queued{{ship=\"{SHIP}\"}} 0");
    ship.wait_metrics("an empty outbox", Duration::from_secs(30), |m| {
        m.lines().any(|l| l == gauge)
    });
    let all = queued(&data);
    let queued = queued_ids(&data);
    // What must arrive: every notice not covered by a digest, and every digest.
    let covered: Vec<&String> = all.iter().flat_map(|(_, m)| m).collect();
    let must: Vec<&String> = all
        .iter()
        .map(|(id, _)| id)
        .filter(|id| !covered.contains(id))
        .collect();
    let msgs = smtp.messages();
    let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in &msgs {
        let id = m.header("Message-ID").expect("Message-ID").to_owned();
        by_id.entry(id).or_default().push(m.raw.clone());
    }
    for id in &must {
        assert!(by_id.contains_key(*id), "{id} was queued and never arrived");
    }
    for (id, copies) in &by_id {
        assert!(queued.contains(id), "{id} arrived but was never queued");
        assert!(
            copies.iter().all(|c| c == &copies[0]),
            "{id} arrived twice with different content"
        );
    }
    for r in 1..=rounds {
        assert!(
            msgs.iter().any(|m| m.body.contains(&format!("sw-{r}"))),
            "no mail about sw-{r}"
        );
    }
    eprintln!(
        "{} notifications and digests ({} notices in digests), {} mails received ({} re-sends of the same bytes)",
        queued.len(),
        covered.len(),
        msgs.len(),
        msgs.len() - by_id.len()
    );
    // The operator's view: every notification sent, with its age.
    let pw = std::fs::read_to_string(data.join("initial-admin-password")).unwrap();
    let login = format!(r#"{{"user":"admin","password":"{}"}}"#, pw.trim());
    let (code, body) = http_with(ship.http, "POST", "/api/login", "", login.as_bytes()).unwrap();
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let auth = format!("Authorization: Bearer {}\r\n", v["token"].as_str().unwrap());
    let (code, _) = http_with(ship.http, "GET", "/api/notifications", "", b"").unwrap();
    assert_eq!(code, 401);
    let (code, body) = http_with(ship.http, "GET", "/api/notifications", &auth, b"").unwrap();
    assert_eq!(code, 200, "{body}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(rows.len(), queued.len());
    for row in &rows {
        assert_eq!(row["status"], "sent", "{row}");
        assert!(row["age_s"].as_f64().unwrap() >= 0.0, "{row}");
        assert!(row["done_at"].is_string(), "{row}");
    }
    ship.terminate(Duration::from_secs(10));
}
