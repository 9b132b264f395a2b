//! Outbox size on disk per notification (issue 22's goal: 100K notifications in ≤ 100 MB).
//!
//! `cargo run --release -p seawatch-actors --example outbox_size -- [N] [DIR]`: queues N
//! (default 100,000) notifications shaped like the correlator's (ship and incident ids,
//! a one-line summary of about 60 characters, two recipients), marks every other one sent,
//! and prints the journal's bytes and bytes per notification. DIR defaults to a temporary
//! directory under /dev/shm when it exists (every append is fsynced: a disk would take
//! minutes; the bytes are the same).

use seawatch_actors::mail::message::Facts;
use seawatch_actors::mail::Outbox;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let base = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            if std::path::Path::new("/dev/shm").is_dir() {
                "/dev/shm".into()
            } else {
                std::env::temp_dir()
            }
        });
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let mut outbox = Outbox::open(dir.path()).expect("outbox");
    let to = vec![
        "bridge@aurora.example".to_string(),
        "it-oncall@cruise-line.example".to_string(),
    ];
    for i in 0..n {
        let facts = Facts {
            ship: "aurora".into(),
            incident: format!("aurora-{}", i / 3 + 1),
            transition: ["opened", "resolved", "reopened"][i % 3].into(),
            severity: ["minor", "major", "critical"][i % 3].into(),
            state: "open".into(),
            root_cause: format!("dist-sw-{}", i % 40),
            summary: format!(
                "dist-sw-{} unreachable; 33 ap, 1 pos behind it affected",
                i % 40
            ),
            alerts: 34,
            opened_at: "2026-12-07T00:00:00Z".into(),
            resolved_at: String::new(),
        };
        let note = facts.notification(0, to.clone(), 1_796_601_600_000 + i as i64);
        let id = note.message_id.clone();
        outbox.enqueue(note).expect("enqueue");
        if i % 2 == 0 {
            outbox
                .mark_sent(&id, 1_796_601_600_000 + i as i64)
                .expect("mark");
        }
    }
    let bytes = outbox.journal_bytes();
    println!(
        "{n} notifications ({} sent): journal {bytes} B = {:.1} MB, {:.0} B per notification",
        n.div_ceil(2),
        bytes as f64 / 1e6,
        bytes as f64 / n as f64
    );
}
