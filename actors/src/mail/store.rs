//! The durable outbox: one append-only journal, `DATA/outbox/journal.ndjson`.
//!
//! Each line is one JSON record, appended and fsynced before the call returns:
//! * `{"q": Notification}`: a notification queued (everything needed to render the
//!   same message again: no mail leaves before its `q` line is on disk);
//! * `{"s": "<message-id>", "at": ms}`: it was sent (the server answered 250);
//! * `{"f": "<message-id>", "at": ms, "error": "..."}`: it failed for good (a 5xx);
//! * `{"a": "<message-id>", "at": ms, "error": "..."}`: a failed attempt (kept for the
//!   API's `attempts` and `last_error`; at most one a minute per message is written);
//! * `{"x": "<message-id>", "incident", "transition"}`: a transition no route wanted
//!   (nothing is sent; it keeps the ordinals of the incident's later Message-IDs);
//! * `{"u": "<message-id>", "at": ms, "reason": "..."}`: suppressed, never to be sent (a
//!   silence, an inhibiting incident, or a blip withdrawn within the group wait);
//! * `{"si": Silence}` / `{"su": "<silence-id>", "at": ms}`: a silence added / ended;
//! * `{"c": seq}`: a checkpoint of the outbox's position in the ship's event log: every
//!   incident event below `seq` has been handled (queued, skipped or not mailing).
//!
//! A `q` or `x` record written for an incident event carries that event's log `seq`, so
//! the record and the position it implies are one fsynced line: after a crash the outbox
//! resumes reading the log just past the last event it recorded, and never handles one
//! event twice (which would number a transition again, under a new Message-ID).
//!
//! Invariants: a Message-ID is queued at most once (a second `enqueue` of the same id is a
//! no-op: the id is derived from what the notification reports, so a replayed incident
//! event finds its earlier record); a crash between the server's 250 and the `s` line
//! leaves the record unsent, and the next start sends it again with the same Message-ID
//! and the same bytes. A torn last line (a crash mid-append) is cut off on open.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::message::Notification;

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting to be sent.
    Queued,
    /// Accepted by the SMTP server.
    Sent,
    /// Refused for good by the SMTP server.
    Failed,
    /// Never to be sent: silenced, inhibited, or withdrawn (see `last_error` for why).
    Suppressed,
}

/// A silence: no mail for an incident, or for incidents rooted at an element, until a
/// time or until the incident resolves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// `s-<n>`, numbered from the journal.
    pub id: String,
    /// The incident it silences, if it is for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    /// The root-cause element it silences, if it is for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element: Option<String>,
    /// Ends at this time, unix ms, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<i64>,
    /// Ends when the silenced incident resolves (its `resolved` notice is silenced too).
    #[serde(default)]
    pub until_resolved: bool,
    /// Who added it.
    pub by: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
    /// When it was added, unix ms.
    pub created_ms: i64,
}

impl Silence {
    /// True when it covers a notice of `incident` rooted at `root` at `now_ms`.
    pub fn covers(&self, incident: &str, root: &str, now_ms: i64) -> bool {
        self.until_ms.is_none_or(|u| now_ms < u)
            && (self.incident.as_deref() == Some(incident)
                || (!root.is_empty() && self.element.as_deref() == Some(root)))
    }
}

/// A notification and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// What to send.
    pub notification: Notification,
    /// Where it stands.
    pub status: Status,
    /// When it was sent or failed, unix ms.
    pub done_at_ms: Option<i64>,
    /// Failed attempts recorded.
    pub attempts: u32,
    /// The last error, if any.
    pub last_error: Option<String>,
    last_attempt_logged_ms: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Record {
    Queued {
        q: Notification,
        /// Log seq of the incident event it reports (none for a digest).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    Sent {
        s: String,
        at: i64,
    },
    Failed {
        f: String,
        at: i64,
        error: String,
    },
    Attempt {
        a: String,
        at: i64,
        error: String,
    },
    /// A transition no route wanted: kept so the ordinals in later Message-IDs count it.
    Skipped {
        x: String,
        incident: String,
        transition: String,
        /// Log seq of the incident event.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
    },
    /// Every incident event of the log below `c` has been handled.
    Checkpoint {
        c: u64,
    },
    /// A queued notice never to be sent.
    Suppressed {
        u: String,
        at: i64,
        reason: String,
    },
    SilenceAdded {
        si: Silence,
    },
    SilenceEnded {
        su: String,
        at: i64,
    },
}

/// Journal errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// File I/O.
    #[error("outbox {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// The outbox: its journal on disk and every entry in memory, in queue order.
pub struct Outbox {
    path: PathBuf,
    file: File,
    entries: Vec<Entry>,
    by_id: HashMap<String, usize>,
    /// Members of queued digests: sent with their digest, not on their own.
    covered: HashSet<String>,
    digests: usize,
    /// Transitions no route wanted, by Message-ID, and their count by (incident,
    /// transition).
    skipped: HashSet<String>,
    skipped_counts: HashMap<(String, String), usize>,
    /// The next event-log seq to read: past every event recorded or checkpointed. `None`
    /// for a new journal (or one written before positions were kept).
    position: Option<u64>,
    /// Entries of each incident, in queue order (indexes into `entries`).
    by_incident: HashMap<String, Vec<usize>>,
    /// The last transition seen of each incident (queued or skipped), and its root.
    last_transition: HashMap<String, (String, String)>,
    /// Active silences, and how many were ever added (for ids).
    silences: Vec<Silence>,
    silences_added: usize,
}

impl Outbox {
    /// Opens (or creates) the outbox under `dir` (`DATA/outbox`), replaying its journal.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let io = |p: &Path| {
            let path = p.display().to_string();
            move |source| StoreError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join("journal.ndjson");
        let created = !path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        if created {
            // The new file's name must survive a crash too.
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io(dir))?;
        }
        let mut outbox = Outbox {
            path: path.clone(),
            file: file.try_clone().map_err(io(&path))?,
            entries: Vec::new(),
            by_id: HashMap::new(),
            covered: HashSet::new(),
            digests: 0,
            skipped: HashSet::new(),
            skipped_counts: HashMap::new(),
            position: None,
            by_incident: HashMap::new(),
            last_transition: HashMap::new(),
            silences: Vec::new(),
            silences_added: 0,
        };
        file.seek(SeekFrom::Start(0)).map_err(io(&path))?;
        let mut reader = BufReader::new(&file);
        let mut good_len: u64 = 0;
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader.read_line(&mut line).map_err(io(&path))?;
            if n == 0 {
                break;
            }
            let complete = line.ends_with('\n');
            match serde_json::from_str::<Record>(line.trim_end()) {
                Ok(rec) if complete => {
                    outbox.apply(rec);
                    good_len += n as u64;
                }
                // A torn or garbled tail: everything after the last good line goes.
                _ => break,
            }
        }
        let len = file.metadata().map_err(io(&path))?.len();
        if len != good_len {
            tracing::warn!(path = %path.display(), kept = good_len, len, "outbox journal: torn tail cut off");
            file.set_len(good_len).map_err(io(&path))?;
            file.sync_all().map_err(io(&path))?;
        }
        Ok(outbox)
    }

    fn advance(&mut self, seq: Option<u64>) {
        if let Some(next) = seq.map(|s| s + 1) {
            self.position = Some(self.position.map_or(next, |p| p.max(next)));
        }
    }

    fn apply(&mut self, rec: Record) {
        match rec {
            Record::Checkpoint { c } => self.advance(c.checked_sub(1)),
            Record::Queued { q, seq } => {
                self.advance(seq);
                if self.by_id.contains_key(&q.message_id) {
                    return;
                }
                if matches!(q.transition.as_str(), "opened" | "resolved" | "reopened") {
                    self.last_transition.insert(
                        q.incident.clone(),
                        (q.transition.clone(), q.root_cause.clone()),
                    );
                }
                if !q.members.is_empty() {
                    self.digests += 1;
                    self.covered.extend(q.members.iter().cloned());
                }
                if !q.incident.is_empty() {
                    self.by_incident
                        .entry(q.incident.clone())
                        .or_default()
                        .push(self.entries.len());
                }
                self.by_id.insert(q.message_id.clone(), self.entries.len());
                self.entries.push(Entry {
                    notification: q,
                    status: Status::Queued,
                    done_at_ms: None,
                    attempts: 0,
                    last_error: None,
                    last_attempt_logged_ms: i64::MIN,
                });
            }
            Record::Sent { s, at } => {
                let Some(&i) = self.by_id.get(&s) else { return };
                let members = std::mem::take(&mut self.entries[i].notification.members);
                for m in members.iter().chain(std::iter::once(&s)) {
                    if let Some(e) = self.by_id.get(m).map(|&j| &mut self.entries[j]) {
                        e.status = Status::Sent;
                        e.done_at_ms = Some(at);
                    }
                }
                self.entries[i].notification.members = members;
            }
            Record::Failed { f, at, error } => {
                // A digest refused for good takes its members with it (they are covered:
                // nothing else would ever send them).
                let Some(&i) = self.by_id.get(&f) else { return };
                let members = std::mem::take(&mut self.entries[i].notification.members);
                for m in members.iter().chain(std::iter::once(&f)) {
                    if let Some(e) = self.by_id.get(m).map(|&j| &mut self.entries[j]) {
                        e.status = Status::Failed;
                        e.done_at_ms = Some(at);
                        e.last_error = Some(error.clone());
                    }
                }
                self.entries[i].notification.members = members;
            }
            Record::Skipped {
                x,
                incident,
                transition,
                seq,
            } => {
                self.advance(seq);
                self.last_transition
                    .entry(incident.clone())
                    .and_modify(|e| e.0 = transition.clone())
                    .or_insert_with(|| (transition.clone(), String::new()));
                if self.skipped.insert(x) {
                    *self
                        .skipped_counts
                        .entry((incident, transition))
                        .or_default() += 1;
                }
            }
            Record::Suppressed { u, at, reason } => {
                if let Some(e) = self.by_id.get(&u).map(|&i| &mut self.entries[i]) {
                    if e.status == Status::Queued {
                        e.status = Status::Suppressed;
                        e.done_at_ms = Some(at);
                        e.last_error = Some(reason);
                    }
                }
            }
            Record::SilenceAdded { si } => {
                self.silences_added += 1;
                self.silences.push(si);
            }
            Record::SilenceEnded { su, .. } => self.silences.retain(|s| s.id != su),
            Record::Attempt { a, at, error } => {
                if let Some(e) = self.by_id.get(&a).map(|&i| &mut self.entries[i]) {
                    e.attempts += 1;
                    e.last_error = Some(error);
                    e.last_attempt_logged_ms = at;
                }
            }
        }
    }

    fn append(&mut self, rec: &Record) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(rec).expect("records serialize");
        line.push(b'\n');
        let io = |source| StoreError::Io {
            path: self.path.display().to_string(),
            source,
        };
        self.file.write_all(&line).map_err(io)?;
        self.file.sync_data().map_err(io)
    }

    /// Queues `n` durably (fsynced before returning). `false` when its Message-ID is
    /// already in the outbox (queued, sent or failed): nothing is written.
    pub fn enqueue(&mut self, n: Notification) -> Result<bool, StoreError> {
        self.enqueue_from(n, None)
    }

    /// Queues `n`, reported by the incident event at log `seq` (if any), durably: the
    /// record also moves the outbox's log position past `seq`. `false` when its
    /// Message-ID is already in the outbox: nothing is written.
    pub fn enqueue_from(&mut self, n: Notification, seq: Option<u64>) -> Result<bool, StoreError> {
        if self.by_id.contains_key(&n.message_id) {
            return Ok(false);
        }
        let rec = Record::Queued { q: n, seq };
        self.append(&rec)?;
        self.apply(rec);
        Ok(true)
    }

    /// The next event-log seq the outbox has to read (`None` before its first position).
    pub fn position(&self) -> Option<u64> {
        self.position
    }

    /// Records, durably, that every incident event below `next` has been handled. Writes
    /// nothing unless it moves the position forward.
    pub fn checkpoint(&mut self, next: u64) -> Result<(), StoreError> {
        if self.position.is_some_and(|p| p >= next) {
            return Ok(());
        }
        let rec = Record::Checkpoint { c: next };
        self.append(&rec)?;
        self.apply(rec);
        Ok(())
    }

    /// Records, durably, a transition that no route wanted (its would-be Message-ID), so
    /// later transitions of the incident keep their ordinals. A known id writes nothing.
    pub fn skip(
        &mut self,
        message_id: &str,
        incident: &str,
        transition: &str,
        seq: Option<u64>,
    ) -> Result<(), StoreError> {
        if self.skipped.contains(message_id) || self.by_id.contains_key(message_id) {
            return Ok(());
        }
        let rec = Record::Skipped {
            x: message_id.to_owned(),
            incident: incident.to_owned(),
            transition: transition.to_owned(),
            seq,
        };
        self.append(&rec)?;
        self.apply(rec);
        Ok(())
    }

    /// Marks `message_id` sent, durably.
    pub fn mark_sent(&mut self, message_id: &str, at_ms: i64) -> Result<(), StoreError> {
        let rec = Record::Sent {
            s: message_id.to_owned(),
            at: at_ms,
        };
        self.append(&rec)?;
        self.apply(rec);
        Ok(())
    }

    /// Marks `message_id` failed for good, durably.
    pub fn mark_failed(
        &mut self,
        message_id: &str,
        at_ms: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        let rec = Record::Failed {
            f: message_id.to_owned(),
            at: at_ms,
            error: error.to_owned(),
        };
        self.append(&rec)?;
        self.apply(rec);
        Ok(())
    }

    /// Counts a failed attempt; written to the journal at most once a minute per message
    /// (an outage must not grow the journal by a line per retry).
    pub fn note_attempt(
        &mut self,
        message_id: &str,
        at_ms: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        let Some(&i) = self.by_id.get(message_id) else {
            return Ok(());
        };
        if at_ms.saturating_sub(self.entries[i].last_attempt_logged_ms) < 60_000 {
            let e = &mut self.entries[i];
            e.attempts += 1;
            e.last_error = Some(error.to_owned());
            return Ok(());
        }
        let rec = Record::Attempt {
            a: message_id.to_owned(),
            at: at_ms,
            error: error.to_owned(),
        };
        self.append(&rec)?;
        self.apply(rec);
        Ok(())
    }

    /// Every entry, in queue order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The queued entries due at `now_ms`, in sending order: criticals first, then the
    /// rest, each in queue order (decision 0042).
    pub fn pending(&self, now_ms: i64) -> Vec<Notification> {
        let mut out: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| {
                e.status == Status::Queued
                    && e.notification.due_at_ms <= now_ms
                    && !self.covered.contains(&e.notification.message_id)
            })
            .collect();
        // The outbox's notice about itself first: it explains what follows.
        out.sort_by_key(|e| {
            (
                e.notification.transition != "stalled",
                e.notification.severity != "critical",
                e.notification.queued_at_ms,
            )
        });
        out.into_iter().map(|e| e.notification.clone()).collect()
    }

    /// The earliest due time of a queued entry that is not due at `now_ms`, if any.
    pub fn next_due_ms(&self, now_ms: i64) -> Option<i64> {
        self.entries
            .iter()
            .filter(|e| e.status == Status::Queued && e.notification.due_at_ms > now_ms)
            .map(|e| e.notification.due_at_ms)
            .min()
    }

    /// The entries of `incident`, in queue order.
    pub fn thread(&self, incident: &str) -> impl DoubleEndedIterator<Item = &Entry> + '_ {
        self.by_incident
            .get(incident)
            .into_iter()
            .flatten()
            .map(|&i| &self.entries[i])
    }

    /// When the incident's last mail went or is due to go (sent, or queued and due),
    /// unix ms; `None` before its first.
    pub fn last_mail_at(&self, incident: &str) -> Option<i64> {
        self.thread(incident)
            .filter_map(|e| match e.status {
                Status::Sent => e.done_at_ms,
                Status::Queued => Some(e.notification.due_at_ms.max(e.notification.queued_at_ms)),
                Status::Failed | Status::Suppressed => None,
            })
            .max()
    }

    /// The incident's latest notice that is still queued and not due at `now_ms` (waiting
    /// out a group wait or interval), if any.
    pub fn waiting_notice(&self, incident: &str, now_ms: i64) -> Option<&Notification> {
        self.thread(incident)
            .rev()
            .filter(|e| e.notification.members.is_empty())
            .find(|e| e.status == Status::Queued && e.notification.due_at_ms > now_ms)
            .map(|e| &e.notification)
    }

    /// Marks `message_id` (queued) never to be sent, durably, with the reason.
    pub fn suppress(
        &mut self,
        message_id: &str,
        at_ms: i64,
        reason: &str,
    ) -> Result<(), StoreError> {
        let rec = Record::Suppressed {
            u: message_id.to_owned(),
            at: at_ms,
            reason: reason.to_owned(),
        };
        self.append(&rec)?;
        self.apply(rec);
        Ok(())
    }

    /// The last transition recorded of `incident` and its root cause (empty when unknown).
    pub fn last_transition(&self, incident: &str) -> Option<(&str, &str)> {
        self.last_transition
            .get(incident)
            .map(|(t, r)| (t.as_str(), r.as_str()))
    }

    /// Incidents whose last transition leaves them open, with their root cause.
    pub fn open_incidents(&self) -> impl Iterator<Item = (&str, &str)> {
        self.last_transition
            .iter()
            .filter(|(_, (t, _))| t != "resolved")
            .map(|(i, (_, r))| (i.as_str(), r.as_str()))
    }

    /// Adds a silence durably (its id assigned here) and returns it. Notices it covers
    /// that are still queued (waiting for a group wait, or for the server) are suppressed
    /// too: a silence stops what has not gone yet, not only what comes later.
    pub fn add_silence(&mut self, mut s: Silence) -> Result<Silence, StoreError> {
        s.id = format!("s-{}", self.silences_added + 1);
        let rec = Record::SilenceAdded { si: s.clone() };
        self.append(&rec)?;
        self.apply(rec);
        let now = s.created_ms;
        let covered: Vec<String> = self
            .entries
            .iter()
            .filter(|e| {
                e.status == Status::Queued
                    && e.notification.members.is_empty()
                    && !self.covered.contains(&e.notification.message_id)
                    && s.covers(&e.notification.incident, &e.notification.root_cause, now)
            })
            .map(|e| e.notification.message_id.clone())
            .collect();
        let reason = format!("silenced by {} ({}): {}", s.id, s.by, s.comment);
        for id in covered {
            self.suppress(&id, now, &reason)?;
        }
        Ok(s)
    }

    /// Ends silence `id`, durably; `false` when there is no such active silence.
    pub fn end_silence(&mut self, id: &str, at_ms: i64) -> Result<bool, StoreError> {
        if !self.silences.iter().any(|s| s.id == id) {
            return Ok(false);
        }
        let rec = Record::SilenceEnded {
            su: id.to_owned(),
            at: at_ms,
        };
        self.append(&rec)?;
        self.apply(rec);
        Ok(true)
    }

    /// The active silences (expired ones included until ended; see [`Silence::covers`]).
    pub fn silences(&self) -> &[Silence] {
        &self.silences
    }

    /// Queues the outbox's critical notice about itself when the oldest waiting notice
    /// was queued `after_ms` or more before `now_ms` and no such notice is waiting already
    /// (one per stall). `Ok(true)` when it queued one.
    pub fn queue_stalled_notice(
        &mut self,
        ship: &str,
        smtp: &str,
        to: Vec<String>,
        now_ms: i64,
        after_ms: i64,
    ) -> Result<bool, StoreError> {
        let (waiting, Some(oldest)) = self.backlog() else {
            return Ok(false);
        };
        if now_ms - oldest < after_ms
            || self
                .entries
                .iter()
                .any(|e| e.status == Status::Queued && e.notification.transition == "stalled")
        {
            return Ok(false);
        }
        let last_error = self
            .entries
            .iter()
            .filter(|e| e.status == Status::Queued)
            .filter_map(|e| e.last_error.clone())
            .next_back();
        let ordinal = self
            .entries
            .iter()
            .filter(|e| e.notification.transition == "stalled")
            .count()
            + 1;
        let n = super::message::stalled(
            ship,
            ordinal,
            (waiting, oldest),
            smtp,
            last_error.as_deref(),
            to,
            now_ms,
        );
        self.enqueue(n)
    }

    /// Queues a reminder for every incident still open whose route asked for repeats and
    /// whose last mail went `repeat_s` or more ago. Returns how many were queued.
    pub fn queue_reminders(&mut self, now_ms: i64) -> Result<usize, StoreError> {
        let mut due: Vec<Notification> = Vec::new();
        for (incident, _) in self.open_incidents() {
            let thread: Vec<&Entry> = self.thread(incident).collect();
            let Some(last) = thread.iter().rev().find(|e| e.status != Status::Suppressed) else {
                continue;
            };
            let Some(repeat_s) = last.notification.repeat_s.filter(|r| *r > 0.0) else {
                continue;
            };
            // Only after the last notice went out (a queued one will say it all).
            let (Status::Sent, Some(at)) = (last.status, last.done_at_ms) else {
                continue;
            };
            if now_ms - at >= (repeat_s * 1000.0) as i64 {
                let n = thread
                    .iter()
                    .filter(|e| e.notification.transition == "repeat")
                    .count();
                due.push(super::message::reminder(&last.notification, n + 1, now_ms));
            }
        }
        let mut queued = 0;
        for n in due {
            queued += usize::from(self.enqueue(n)?);
        }
        Ok(queued)
    }

    /// After an outage: the queued non-critical notifications, grouped by recipients,
    /// become one digest per group of two or more (queued durably, like any
    /// notification; its members are sent when it is). Returns the digests queued.
    pub fn make_digests(&mut self, now_ms: i64) -> Result<usize, StoreError> {
        let mut groups: Vec<(Vec<String>, Vec<Notification>)> = Vec::new();
        for n in self.pending(now_ms) {
            if n.severity == "critical" || !n.members.is_empty() {
                continue;
            }
            match groups.iter_mut().find(|(to, _)| *to == n.to) {
                Some((_, g)) => g.push(n),
                None => groups.push((n.to.clone(), vec![n])),
            }
        }
        let mut made = 0;
        for (_, group) in groups.into_iter().filter(|(_, g)| g.len() >= 2) {
            let refs: Vec<&Notification> = group.iter().collect();
            let d = super::message::digest(self.digests, &refs, now_ms);
            self.enqueue(d)?;
            made += 1;
        }
        Ok(made)
    }

    /// Queued count and the queue time of the oldest queued entry.
    pub fn backlog(&self) -> (usize, Option<i64>) {
        let q = self
            .entries
            .iter()
            .filter(|e| e.status == Status::Queued && e.notification.members.is_empty());
        let (mut n, mut oldest) = (0, None::<i64>);
        for e in q {
            n += 1;
            let t = e.notification.queued_at_ms;
            oldest = Some(oldest.map_or(t, |o| o.min(t)));
        }
        (n, oldest)
    }

    /// Number of `transition`s of `incident` recorded so far, queued or skipped (the
    /// ordinal in the Message-ID of the next one).
    pub fn transitions_of(&self, incident: &str, transition: &str) -> usize {
        let queued = self
            .thread(incident)
            .filter(|e| e.notification.transition == transition)
            .count();
        let skipped = self
            .skipped_counts
            .get(&(incident.to_owned(), transition.to_owned()))
            .copied()
            .unwrap_or(0);
        queued + skipped
    }

    /// The journal's size on disk, bytes.
    pub fn journal_bytes(&self) -> u64 {
        self.file.metadata().map(|m| m.len()).unwrap_or(0)
    }
}
