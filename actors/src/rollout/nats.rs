//! Rollout transport over NATS JetStream, and the seams the controller and the agent use
//! ([`ShoreLink`], [`ShipLink`]).
//!
//! * `SW_ROLLOUT` (shore domain), subjects `seawatch.rollout.to.<ship>`: one message per
//!   (rollout, ship), a [`Delivery`] header and the bundle, published with the message id
//!   `rollout:ship` (a republish after a shore crash inside the dedup window is dropped).
//!   The ship reads it through its durable pull consumer `rollout-<ship>`: while the
//!   ship's link is down the message simply waits in the stream, for days if need be.
//!   The ship acks it only once its final report is stored at shore, so a ship that
//!   crashes mid-apply gets it again (and its agent does not apply it twice).
//! * `SW_ROLLOUT_REPORTS`, subjects `seawatch.rollout.report.<ship>`: the ships'
//!   [`Report`]s (message id `rollout:ship:state`), read by each shore node's controller
//!   through its own durable consumer `rollout-reports-<node>` (every node sees every
//!   report and keeps those of its rollouts) and acked after they are journaled.
//!
//! * `SW_BUNDLES`, subjects `seawatch.bundle.<sha256>.<i>`: a bundle larger than
//!   [`INLINE_MAX`] travels apart from its delivery, in chunks of [`CHUNK_BYTES`] (one
//!   message a subject, message id `sha256:i`, so a bundle sent to fifty ships is stored
//!   once), and the delivery carries only the header with `chunks` and `size`. The ship
//!   fetches each chunk by subject and writes it to its chunk folder before asking for the
//!   next, so after a dropped link or a restart it asks only for the chunks it lacks:
//!   no chunk is fetched twice once stored. The assembled bundle is checked against its
//!   SHA-256 before the agent sees it.
//!
//! A ship behind a leaf node with its own JetStream domain reaches these streams through
//! the shore domain's API (`domain: Some("shore")`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, stream};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::StreamExt;
use parking_lot::Mutex;

use super::state::Ev;
use super::{Delivery, Report};

/// The deliveries stream.
pub const DELIVERIES: &str = "SW_ROLLOUT";
/// The reports stream.
pub const REPORTS: &str = "SW_ROLLOUT_REPORTS";
/// The bundle chunks stream.
pub const BUNDLES: &str = "SW_BUNDLES";
/// The shared rollout journal (failover mode): subject `seawatch.rollout.journal.<id>`.
pub const JOURNAL: &str = "SW_ROLLOUT_JOURNAL";
/// The rollout leases (failover mode): key = rollout id, value = the node running it.
pub const LEASES: &str = "sw_rollout_owners";
/// A report not journaled by any node after this many deliveries is dropped.
const REPORT_MAX_DELIVER: i64 = 120;

fn journal_subject(id: &str) -> String {
    format!("seawatch.rollout.journal.{id}")
}
/// Bundles up to this size travel inside their delivery message (nats-server's default
/// `max_payload` is 1 MiB, and the header needs room).
pub const INLINE_MAX: usize = 900 * 1024;
/// Size of a bundle chunk (the last one may be shorter).
pub const CHUNK_BYTES: usize = 256 * 1024;

fn chunk_subject(sha: &str, i: u32) -> String {
    format!("seawatch.bundle.{sha}.{i}")
}

/// True for a lower-case hex SHA-256 (a chunk folder's name, so nothing else may pass).
fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn to_subject(ship: &str) -> String {
    format!("seawatch.rollout.to.{ship}")
}

fn report_subject(ship: &str) -> String {
    format!("seawatch.rollout.report.{ship}")
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Shore's side of the rollout transport.
pub trait ShoreLink: Send + Sync + 'static {
    /// Puts a delivery in the ship's queue; returns its stream sequence.
    fn deliver<'a>(
        &'a self,
        d: &'a Delivery,
        bundle: &'a [u8],
    ) -> BoxFuture<'a, Result<u64, String>>;
    /// Takes a delivery back (after an abort, before the ship took it).
    fn withdraw(&self, seq: u64) -> BoxFuture<'_, Result<(), String>>;
    /// Reports waiting, held until [`ack_reports`](Self::ack_reports).
    fn reports(&self) -> BoxFuture<'_, Result<Vec<Report>, String>>;
    /// Acknowledges the reports returned so far (they are journaled), except those at
    /// the indexes in `later` (of the last [`reports`](Self::reports)), which come again
    /// in a second (another shore node runs their rollout and has not journaled them yet).
    fn ack_reports<'a>(&'a self, later: &'a [usize]) -> BoxFuture<'a, ()>;

    /// The shared journal's rollouts and how many events each has (failover mode).
    fn journal_ids(&self) -> BoxFuture<'_, Result<Vec<(String, u64)>, String>> {
        Box::pin(async { Err("no shared journal".to_string()) })
    }
    /// A rollout's events after journal sequence `after`, with their sequences.
    fn journal_read<'a>(
        &'a self,
        _id: &'a str,
        _after: u64,
    ) -> BoxFuture<'a, Result<Vec<(u64, Ev)>, String>> {
        Box::pin(async { Err("no shared journal".to_string()) })
    }
    /// Appends `ev` to its rollout's journal if the rollout's last event is still at
    /// `expect_last` (fencing: a node that lost the rollout cannot write); its sequence.
    fn journal_append<'a>(
        &'a self,
        _ev: &'a Ev,
        _expect_last: Option<u64>,
    ) -> BoxFuture<'a, Result<u64, Fenced>> {
        Box::pin(async { Err(Fenced::Io("no shared journal".to_string())) })
    }
    /// Takes or renews this node's lease on a rollout (`held`: the revision we hold).
    fn lease<'a>(
        &'a self,
        _id: &'a str,
        _held: Option<u64>,
    ) -> BoxFuture<'a, Result<Lease, String>> {
        Box::pin(async { Err("no leases".to_string()) })
    }
    /// Stores a bundle where every shore node can read it (failover mode: the node
    /// taking a rollout over may not have had it uploaded).
    fn store_bundle<'a>(
        &'a self,
        _sha: &'a str,
        _bytes: &'a [u8],
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Err("no shared bundle store".to_string()) })
    }
    /// A bundle stored by [`store_bundle`](Self::store_bundle), checked against its hash.
    fn fetch_bundle<'a>(&'a self, _sha: &'a str) -> BoxFuture<'a, Result<Vec<u8>, String>> {
        Box::pin(async { Err("no shared bundle store".to_string()) })
    }
    /// Gives a lease up (only if still ours).
    fn release<'a>(&'a self, _id: &'a str, _rev: u64) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// Why a journal append failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fenced {
    /// Someone else wrote to the rollout's journal: this node no longer runs it.
    Lost,
    /// The journal could not be reached.
    Io(String),
}

/// A lease's state as seen by this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    /// Ours, at this revision.
    Held(u64),
    /// Another node's.
    Other(String),
}

/// The ship's side of the rollout transport.
pub trait ShipLink: Send + Sync + 'static {
    /// The next delivery message, if one waits (held until [`ack`](Self::ack)).
    fn next(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, String>>;
    /// Acknowledges the held delivery.
    fn ack(&self) -> BoxFuture<'_, Result<(), String>>;
    /// Stores a report at shore (an error when the link is down).
    fn report<'a>(&'a self, r: &'a Report) -> BoxFuture<'a, Result<(), String>>;
}

/// Creates the rollout streams if missing (idempotent).
pub async fn ensure_streams(js: &jetstream::Context, replicas: usize) -> Result<(), String> {
    for (name, subjects, per_subject, days) in [
        (DELIVERIES, "seawatch.rollout.to.>", 0, 90),
        (REPORTS, "seawatch.rollout.report.>", 0, 90),
        (BUNDLES, "seawatch.bundle.>", 1, 90),
        // the rollouts' history stays
        (JOURNAL, "seawatch.rollout.journal.*", 0, 0),
    ] {
        js.get_or_create_stream(stream::Config {
            name: name.into(),
            subjects: vec![subjects.into()],
            storage: stream::StorageType::File,
            num_replicas: replicas,
            max_age: Duration::from_secs(days * 86_400),
            duplicate_window: Duration::from_secs(600),
            max_messages_per_subject: per_subject,
            ..Default::default()
        })
        .await
        .map_err(err)?;
    }
    Ok(())
}

/// The controller's NATS link.
pub struct NatsShoreLink {
    js: jetstream::Context,
    reports: consumer::PullConsumer,
    held: Mutex<Vec<jetstream::Message>>,
    node: String,
    /// Rollout leases, when the link was opened with [`NatsShoreLink::with_leases`].
    leases: Option<kv::Store>,
}

impl NatsShoreLink {
    /// Connects to `url`, creates the streams (with `replicas`) and node `node`'s reports
    /// consumer.
    pub async fn connect(url: &str, replicas: usize, node: &str) -> Result<Self, String> {
        let durable = format!("rollout-reports-{node}");
        let client = crate::sync::nats::connect_url(url).await?;
        let js = jetstream::new(client);
        ensure_streams(&js, replicas).await?;
        let reports = js
            .get_stream(REPORTS)
            .await
            .map_err(err)?
            .get_or_create_consumer(
                &durable,
                consumer::pull::Config {
                    durable_name: Some(durable.clone()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(30),
                    max_deliver: REPORT_MAX_DELIVER,
                    ..Default::default()
                },
            )
            .await
            .map_err(err)?;
        Ok(Self {
            js,
            reports,
            held: Mutex::new(Vec::new()),
            node: node.to_owned(),
            leases: None,
        })
    }

    /// Opens the rollout leases bucket (a lease runs out `lease` after its last renewal):
    /// the shared journal and leases of failover mode.
    pub async fn with_leases(mut self, lease: Duration, replicas: usize) -> Result<Self, String> {
        let kv = match self.js.get_key_value(LEASES).await {
            Ok(kv) => kv,
            Err(_) => self
                .js
                .create_key_value(kv::Config {
                    bucket: LEASES.into(),
                    history: 1,
                    max_age: lease,
                    num_replicas: replicas,
                    ..Default::default()
                })
                .await
                .map_err(err)?,
        };
        self.leases = Some(kv);
        Ok(self)
    }
}

impl NatsShoreLink {
    /// Stores `bundle`'s chunks in `SW_BUNDLES` (idempotent: one message a subject, and
    /// a message id); returns their number.
    async fn put_chunks(&self, sha: &str, bundle: &[u8]) -> Result<u32, String> {
        let n = bundle.len().div_ceil(CHUNK_BYTES);
        // Sent to another ship before: every chunk is there already (one subject each).
        let mut stored = self
            .js
            .get_stream(BUNDLES)
            .await
            .map_err(err)?
            .info_with_subjects(format!("seawatch.bundle.{sha}.*"))
            .await
            .map_err(err)?;
        let mut have = 0;
        while let Some(x) = stored.next().await {
            x.map_err(err)?;
            have += 1;
        }
        if have == n {
            return u32::try_from(n).map_err(err);
        }
        let mut acks = Vec::new();
        for (i, chunk) in bundle.chunks(CHUNK_BYTES).enumerate() {
            let i = u32::try_from(i).map_err(err)?;
            let mut h = HeaderMap::new();
            h.insert("Nats-Msg-Id", format!("{sha}:{i}").as_str());
            acks.push(
                self.js
                    .publish_with_headers(chunk_subject(sha, i), h, Bytes::copy_from_slice(chunk))
                    .await
                    .map_err(err)?,
            );
        }
        let n = acks.len() as u32;
        for a in acks {
            a.await.map_err(err)?;
        }
        Ok(n)
    }
}

/// A delivery's message id (`Nats-Msg-Id`): a retry is a new message (its own id), a
/// repeat of the same try is not.
pub fn delivery_id(d: &Delivery) -> String {
    match d.attempt {
        0 => format!("{}:{}", d.rollout, d.ship),
        n => format!("{}:{}:{n}", d.rollout, d.ship),
    }
}

impl ShoreLink for NatsShoreLink {
    fn deliver<'a>(
        &'a self,
        d: &'a Delivery,
        bundle: &'a [u8],
    ) -> BoxFuture<'a, Result<u64, String>> {
        Box::pin(async move {
            let mut h = HeaderMap::new();
            let id = delivery_id(d);
            h.insert("Nats-Msg-Id", id.as_str());
            let msg = if bundle.len() > INLINE_MAX {
                let chunks = self.put_chunks(&d.sha256, bundle).await?;
                let mut d = d.clone();
                d.chunks = chunks;
                d.size = bundle.len() as u64;
                d.encode(&[])
            } else {
                d.encode(bundle)
            };
            let ack = self
                .js
                .publish_with_headers(to_subject(&d.ship), h, Bytes::from(msg))
                .await
                .map_err(err)?
                .await
                .map_err(err)?;
            Ok(ack.sequence)
        })
    }

    fn withdraw(&self, seq: u64) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let s = self.js.get_stream(DELIVERIES).await.map_err(err)?;
            s.delete_message(seq).await.map_err(err)?;
            Ok(())
        })
    }

    fn reports(&self) -> BoxFuture<'_, Result<Vec<Report>, String>> {
        Box::pin(async move {
            let mut batch = self
                .reports
                .fetch()
                .max_messages(256)
                .expires(Duration::from_millis(200))
                .messages()
                .await
                .map_err(err)?;
            let mut out = Vec::new();
            while let Some(m) = batch.next().await {
                let m = m.map_err(err)?;
                match serde_json::from_slice::<Report>(&m.payload) {
                    Ok(r) => out.push(r),
                    Err(e) => tracing::warn!(error = %e, "rollout: bad report dropped"),
                }
                self.held.lock().push(m);
            }
            Ok(out)
        })
    }

    fn ack_reports<'a>(&'a self, later: &'a [usize]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let held: Vec<_> = std::mem::take(&mut *self.held.lock());
            for (i, m) in held.into_iter().enumerate() {
                let r = if later.contains(&i) {
                    m.ack_with(jetstream::AckKind::Nak(Some(Duration::from_secs(1))))
                        .await
                } else {
                    m.ack().await
                };
                if let Err(e) = r {
                    // Not acked: it comes again and is applied again, which changes nothing.
                    tracing::warn!(error = %e, "rollout: report ack failed");
                }
            }
        })
    }

    fn journal_ids(&self) -> BoxFuture<'_, Result<Vec<(String, u64)>, String>> {
        Box::pin(async move {
            let mut subjects = self
                .js
                .get_stream(JOURNAL)
                .await
                .map_err(err)?
                .info_with_subjects("seawatch.rollout.journal.*")
                .await
                .map_err(err)?;
            let mut out = Vec::new();
            while let Some(x) = subjects.next().await {
                let (subject, n) = x.map_err(err)?;
                if let Some(id) = subject.strip_prefix("seawatch.rollout.journal.") {
                    out.push((id.to_owned(), n as u64));
                }
            }
            out.sort();
            Ok(out)
        })
    }

    fn journal_read<'a>(
        &'a self,
        id: &'a str,
        after: u64,
    ) -> BoxFuture<'a, Result<Vec<(u64, Ev)>, String>> {
        Box::pin(async move {
            let stream = self.js.get_stream(JOURNAL).await.map_err(err)?;
            let c = stream
                .create_consumer(consumer::pull::Config {
                    filter_subject: journal_subject(id),
                    deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                        start_sequence: after + 1,
                    },
                    ack_policy: consumer::AckPolicy::None,
                    inactive_threshold: Duration::from_secs(30),
                    ..Default::default()
                })
                .await
                .map_err(err)?;
            let mut out = Vec::new();
            'batches: loop {
                let mut batch = c
                    .fetch()
                    .max_messages(1_000)
                    .expires(Duration::from_millis(300))
                    .messages()
                    .await
                    .map_err(err)?;
                let mut got = 0;
                while let Some(m) = batch.next().await {
                    let m = m.map_err(err)?;
                    got += 1;
                    let info = m.info().map_err(err)?;
                    let (seq, pending) = (info.stream_sequence, info.pending);
                    let ev: Ev = serde_json::from_slice(&m.payload)
                        .map_err(|e| format!("rollout journal {id} seq {seq}: {e}"))?;
                    out.push((seq, ev));
                    if pending == 0 {
                        break 'batches;
                    }
                }
                if got == 0 {
                    break;
                }
            }
            let _ = stream.delete_consumer(&c.cached_info().name).await;
            Ok(out)
        })
    }

    fn journal_append<'a>(
        &'a self,
        ev: &'a Ev,
        expect_last: Option<u64>,
    ) -> BoxFuture<'a, Result<u64, Fenced>> {
        Box::pin(async move {
            let mut h = HeaderMap::new();
            if let Some(seq) = expect_last {
                h.insert(
                    "Nats-Expected-Last-Subject-Sequence",
                    seq.to_string().as_str(),
                );
            }
            let body = serde_json::to_vec(ev).map_err(|e| Fenced::Io(e.to_string()))?;
            let ack = self
                .js
                .publish_with_headers(journal_subject(ev.id()), h, Bytes::from(body))
                .await
                .map_err(|e| Fenced::Io(e.to_string()))?
                .await
                .map_err(|e| match e.kind() {
                    jetstream::context::PublishErrorKind::WrongLastSequence => Fenced::Lost,
                    _ => Fenced::Io(e.to_string()),
                })?;
            Ok(ack.sequence)
        })
    }

    fn lease<'a>(&'a self, id: &'a str, held: Option<u64>) -> BoxFuture<'a, Result<Lease, String>> {
        Box::pin(async move {
            let kv = self.leases.as_ref().ok_or("no leases bucket")?;
            let me = Bytes::from(self.node.clone());
            let r = match held {
                Some(rev) => kv.update(id, me, rev).await.map_err(err),
                None => kv.create(id, me).await.map_err(err),
            };
            match r {
                Ok(rev) => Ok(Lease::Held(rev)),
                Err(e) => match kv.entry(id).await.map_err(err)? {
                    Some(x) if x.operation == kv::Operation::Put => {
                        if x.value == self.node.as_bytes() {
                            // Ours from an earlier incarnation of this node: renew it.
                            kv.update(id, Bytes::from(self.node.clone()), x.revision)
                                .await
                                .map(Lease::Held)
                                .map_err(err)
                        } else {
                            Ok(Lease::Other(String::from_utf8_lossy(&x.value).into_owned()))
                        }
                    }
                    _ => Err(e),
                },
            }
        })
    }

    fn store_bundle<'a>(
        &'a self,
        sha: &'a str,
        bytes: &'a [u8],
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.put_chunks(sha, bytes).await.map(|_| ()) })
    }

    fn fetch_bundle<'a>(&'a self, sha: &'a str) -> BoxFuture<'a, Result<Vec<u8>, String>> {
        Box::pin(async move {
            if !is_sha256(sha) {
                return Err(format!("bundle {sha:?}: not a SHA-256"));
            }
            let stream = self.js.get_stream(BUNDLES).await.map_err(err)?;
            let mut out = Vec::new();
            for i in 0u32.. {
                match stream
                    .get_last_raw_message_by_subject(&chunk_subject(sha, i))
                    .await
                {
                    Ok(m) => out.extend_from_slice(&m.payload),
                    Err(_) if i > 0 => break,
                    Err(e) => return Err(format!("bundle {sha}: {e}")),
                }
                if out.len() > super::bundle::MAX_BUNDLE_BYTES {
                    return Err(format!("bundle {sha}: over the size limit"));
                }
            }
            let got = super::bundle::sha256_hex(&out);
            if got != sha {
                return Err(format!("bundle {sha}: stored chunks hash to {got}"));
            }
            Ok(out)
        })
    }

    fn release<'a>(&'a self, id: &'a str, rev: u64) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(kv) = &self.leases {
                let _ = kv.delete_expect_revision(id, Some(rev)).await;
            }
        })
    }
}

/// The bulk lane's share of the link: chunk fetches are paced to at most `bytes_per_s` on
/// average (a chunk may go at once after a quiet spell, the next waits its turn), so a
/// rollout's bundle does not take the bandwidth the urgent and state lanes of the sync
/// need.
#[derive(Debug)]
pub struct Pacer {
    bytes_per_s: u64,
    next: Mutex<Option<tokio::time::Instant>>,
}

impl Pacer {
    /// A pacer of `bytes_per_s` (at least 1).
    pub fn new(bytes_per_s: u64) -> Self {
        Self {
            bytes_per_s: bytes_per_s.max(1),
            next: Mutex::new(None),
        }
    }

    /// The rate.
    pub fn bytes_per_s(&self) -> u64 {
        self.bytes_per_s
    }

    /// Waits for `bytes`' turn.
    pub async fn wait(&self, bytes: usize) {
        let now = tokio::time::Instant::now();
        let start = {
            let mut next = self.next.lock();
            let start = next.map_or(now, |n| n.max(now));
            let cost = Duration::from_secs_f64(bytes as f64 / self.bytes_per_s as f64);
            *next = Some(start + cost);
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

/// The agent's NATS link.
pub struct NatsShipLink {
    js: jetstream::Context,
    ship: String,
    consumer: Mutex<Option<consumer::PullConsumer>>,
    /// The delivery being worked on, and its payload with the bundle inline.
    held: Mutex<Option<(jetstream::Message, Arc<Vec<u8>>)>>,
    /// Where fetched chunks wait for the rest (`<dir>/<sha256>/<i>`); `None`: in memory.
    chunk_dir: Option<PathBuf>,
    chunks_fetched: Arc<AtomicU64>,
    /// The bulk lane's share, when set.
    pacer: Option<Arc<Pacer>>,
}

/// Assembles a chunked bundle: every chunk not yet in `dir/<sha256>/` (when a folder is
/// given) is fetched with `fetch` and written there (temporary file, rename) before the
/// next is asked for, so an interrupted transfer resumes at the first missing chunk.
/// The result is checked against the delivery's size and SHA-256; a mismatch removes the
/// chunks (they are fetched again). `fetched` counts the chunks fetched (and stored).
pub async fn assemble<F, Fut>(
    d: &Delivery,
    dir: Option<&Path>,
    fetched: &AtomicU64,
    fetch: F,
) -> Result<Vec<u8>, String>
where
    F: Fn(u32) -> Fut,
    Fut: std::future::Future<Output = Result<Bytes, String>>,
{
    if !is_sha256(&d.sha256) {
        return Err(format!("delivery for bundle {:?}: not a SHA-256", d.sha256));
    }
    let size = usize::try_from(d.size).map_err(err)?;
    if size > super::bundle::MAX_BUNDLE_BYTES || (d.chunks as usize) != size.div_ceil(CHUNK_BYTES) {
        return Err(format!(
            "delivery for bundle {}: {} chunks of {} bytes do not fit",
            d.sha256, d.chunks, d.size
        ));
    }
    let folder = dir.map(|p| p.join(&d.sha256));
    if let Some(f) = &folder {
        tokio::fs::create_dir_all(f).await.map_err(err)?;
    }
    let mut out = Vec::with_capacity(size);
    for i in 0..d.chunks {
        let want = CHUNK_BYTES.min(size - i as usize * CHUNK_BYTES);
        let path = folder.as_ref().map(|f| f.join(i.to_string()));
        if let Some(p) = &path {
            if let Ok(b) = tokio::fs::read(p).await {
                if b.len() == want {
                    out.extend_from_slice(&b);
                    continue;
                }
            }
        }
        let b = fetch(i).await?;
        if b.len() != want {
            return Err(format!(
                "bundle {} chunk {i}: {} bytes, expected {want}",
                d.sha256,
                b.len()
            ));
        }
        if let Some(p) = &path {
            let tmp = p.with_extension("part");
            tokio::fs::write(&tmp, &b).await.map_err(err)?;
            tokio::fs::rename(&tmp, p).await.map_err(err)?;
        }
        fetched.fetch_add(1, Ordering::Relaxed);
        out.extend_from_slice(&b);
    }
    let got = super::bundle::sha256_hex(&out);
    if got != d.sha256 {
        if let Some(f) = &folder {
            let _ = tokio::fs::remove_dir_all(f).await;
        }
        return Err(format!(
            "bundle {}: assembled chunks hash to {got}",
            d.sha256
        ));
    }
    Ok(out)
}

impl NatsShipLink {
    /// Connects to the ship's server at `url`; `domain` is the shore's JetStream domain
    /// when the ship's server is a leaf with its own (production: `Some("shore")`).
    /// Connecting succeeds with the link down; the consumer is looked up when first used.
    pub async fn connect(url: &str, ship: &str, domain: Option<&str>) -> Result<Self, String> {
        if ship.is_empty()
            || !ship
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "ship id {ship:?}: use letters, digits, '-' and '_'"
            ));
        }
        let client = crate::sync::nats::connect_url(url).await?;
        let mut js = match domain {
            Some(d) => jetstream::with_domain(client, d),
            None => jetstream::new(client),
        };
        js.set_timeout(Duration::from_secs(3));
        Ok(Self {
            js,
            ship: ship.to_owned(),
            consumer: Mutex::new(None),
            held: Mutex::new(None),
            chunk_dir: None,
            chunks_fetched: Arc::new(AtomicU64::new(0)),
            pacer: None,
        })
    }

    /// Keeps the chunks of a bundle being fetched in `dir` (so a transfer interrupted by
    /// the link or a restart resumes); without it they are held in memory.
    pub fn with_chunk_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.chunk_dir = Some(dir.into());
        self
    }

    /// Paces chunk fetches to at most `bytes_per_s` (the bulk lane's share of the link).
    pub fn with_bulk_rate(mut self, bytes_per_s: Option<u64>) -> Self {
        self.pacer = bytes_per_s.map(|r| Arc::new(Pacer::new(r)));
        self
    }

    /// Counts fetched chunks into `counter` (shared by several links, say).
    pub fn with_chunk_counter(mut self, counter: Arc<AtomicU64>) -> Self {
        self.chunks_fetched = counter;
        self
    }

    /// Chunks fetched from shore by this link.
    pub fn chunks_fetched(&self) -> u64 {
        self.chunks_fetched.load(Ordering::Relaxed)
    }

    /// The payload of a delivery message with its bundle inline (fetching the chunks of a
    /// chunked one).
    async fn inline(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        let (d, bytes) = Delivery::decode(payload)?;
        if d.chunks == 0 {
            return Ok(payload.to_vec());
        }
        if !bytes.is_empty() {
            return Err("a chunked delivery with bytes after its header".into());
        }
        let stream = self.js.get_stream(BUNDLES).await.map_err(err)?;
        let bundle = assemble(&d, self.chunk_dir.as_deref(), &self.chunks_fetched, |i| {
            let (stream, subject) = (&stream, chunk_subject(&d.sha256, i));
            let pacer = self.pacer.clone();
            let want = CHUNK_BYTES.min(d.size as usize - i as usize * CHUNK_BYTES);
            async move {
                if let Some(p) = pacer {
                    p.wait(want).await;
                }
                stream
                    .get_last_raw_message_by_subject(&subject)
                    .await
                    .map(|m| m.payload)
                    .map_err(|e| format!("{subject}: {e}"))
            }
        })
        .await?;
        let mut inline = d.clone();
        inline.chunks = 0;
        inline.size = 0;
        Ok(inline.encode(&bundle))
    }

    async fn consumer(&self) -> Result<consumer::PullConsumer, String> {
        if let Some(c) = self.consumer.lock().clone() {
            return Ok(c);
        }
        let name = format!("rollout-{}", self.ship);
        let c = self
            .js
            .get_stream(DELIVERIES)
            .await
            .map_err(err)?
            .get_or_create_consumer(
                &name,
                consumer::pull::Config {
                    durable_name: Some(name.clone()),
                    filter_subject: to_subject(&self.ship),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(60),
                    max_ack_pending: 1,
                    ..Default::default()
                },
            )
            .await
            .map_err(err)?;
        *self.consumer.lock() = Some(c.clone());
        Ok(c)
    }
}

impl ShipLink for NatsShipLink {
    fn next(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, String>> {
        Box::pin(async move {
            if let Some((_, p)) = self.held.lock().as_ref() {
                return Ok(Some(p.to_vec()));
            }
            let c = match self.consumer().await {
                Ok(c) => c,
                Err(e) => {
                    *self.consumer.lock() = None;
                    return Err(e);
                }
            };
            let mut batch = match c
                .fetch()
                .max_messages(1)
                .expires(Duration::from_millis(500))
                .messages()
                .await
            {
                Ok(b) => b,
                Err(e) => {
                    *self.consumer.lock() = None;
                    return Err(err(e));
                }
            };
            let next = tokio::time::timeout(Duration::from_secs(3), batch.next()).await;
            match next {
                Ok(Some(Ok(m))) => {
                    // Not acked until applied: when the chunks cannot all be fetched now
                    // the message comes again after its ack wait, and the chunks stored
                    // so far are not fetched again.
                    let payload = Arc::new(self.inline(&m.payload).await?);
                    *self.held.lock() = Some((m, payload.clone()));
                    Ok(Some(payload.to_vec()))
                }
                Ok(Some(Err(e))) => Err(err(e)),
                Ok(None) => Ok(None),
                Err(_) => {
                    *self.consumer.lock() = None;
                    Err("fetch not answered (link down?)".into())
                }
            }
        })
    }

    fn ack(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let m = self.held.lock().take();
            if let Some((m, _)) = m {
                if let (Some(dir), Ok((d, _))) = (&self.chunk_dir, Delivery::decode(&m.payload)) {
                    if d.chunks > 0 && is_sha256(&d.sha256) {
                        let _ = tokio::fs::remove_dir_all(dir.join(&d.sha256)).await;
                    }
                }
                if let Err(e) = m.double_ack().await {
                    // Not acked: it comes again; the agent answers from its records.
                    return Err(err(e));
                }
            }
            Ok(())
        })
    }

    fn report<'a>(&'a self, r: &'a Report) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let mut h = HeaderMap::new();
            let state = serde_json::to_value(r.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let id = match r.attempt {
                0 => format!("{}:{}:{state}", r.rollout, r.ship),
                n => format!("{}:{}:{state}:{n}", r.rollout, r.ship),
            };
            h.insert("Nats-Msg-Id", id.as_str());
            let body = serde_json::to_vec(r).map_err(err)?;
            self.js
                .publish_with_headers(report_subject(&self.ship), h, Bytes::from(body))
                .await
                .map_err(err)?
                .await
                .map_err(err)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::bundle::{sha256_hex, BundleKind};

    fn delivery(bundle: &[u8]) -> Delivery {
        Delivery {
            rollout: "r".into(),
            ship: "s".into(),
            sha256: sha256_hex(bundle),
            kind: BundleKind::Model,
            timeout_s: 1,
            chunks: bundle.len().div_ceil(CHUNK_BYTES) as u32,
            size: bundle.len() as u64,
            incident_window_s: 0,
            attempt: 0,
        }
    }

    #[tokio::test]
    async fn an_interrupted_transfer_resumes_at_the_first_missing_chunk() {
        let bundle: Vec<u8> = (0..(CHUNK_BYTES * 4 + 1000))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let d = delivery(&bundle);
        assert_eq!(d.chunks, 5);
        let dir = tempfile::tempdir().unwrap();
        let fetched = AtomicU64::new(0);
        let chunk = |i: u32| {
            let lo = i as usize * CHUNK_BYTES;
            Bytes::copy_from_slice(&bundle[lo..(lo + CHUNK_BYTES).min(bundle.len())])
        };
        // The link drops after three chunks.
        let err = assemble(&d, Some(dir.path()), &fetched, |i| async move {
            if i < 3 {
                Ok(chunk(i))
            } else {
                Err("link down".to_string())
            }
        })
        .await
        .unwrap_err();
        assert!(err.contains("link down"));
        assert_eq!(fetched.load(Ordering::Relaxed), 3);
        // Back: only chunks 3 and 4 are asked for.
        let asked = Mutex::new(Vec::new());
        let got = assemble(&d, Some(dir.path()), &fetched, |i| {
            asked.lock().push(i);
            async move { Ok(chunk(i)) }
        })
        .await
        .unwrap();
        assert!(got == bundle);
        assert_eq!(*asked.lock(), vec![3, 4]);
        assert_eq!(fetched.load(Ordering::Relaxed), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn the_bulk_share_paces_chunk_fetches() {
        // 5 chunks at one chunk a second: the last starts 4 s after the first.
        let bundle: Vec<u8> = (0..CHUNK_BYTES * 5).map(|i| (i % 253) as u8).collect();
        let d = delivery(&bundle);
        let pacer = Pacer::new(CHUNK_BYTES as u64);
        let t0 = tokio::time::Instant::now();
        let starts = Mutex::new(Vec::new());
        let fetched = AtomicU64::new(0);
        let got = assemble(&d, None, &fetched, |i| {
            let (pacer, starts, bundle) = (&pacer, &starts, &bundle);
            async move {
                pacer.wait(CHUNK_BYTES).await;
                starts.lock().push(t0.elapsed().as_millis());
                let lo = i as usize * CHUNK_BYTES;
                Ok(Bytes::copy_from_slice(&bundle[lo..lo + CHUNK_BYTES]))
            }
        })
        .await
        .unwrap();
        assert!(got == bundle);
        assert_eq!(*starts.lock(), vec![0, 1000, 2000, 3000, 4000]);
        // After a quiet spell the next chunk goes at once, then the pace holds again.
        tokio::time::sleep(Duration::from_secs(60)).await;
        let t1 = tokio::time::Instant::now();
        pacer.wait(CHUNK_BYTES / 2).await;
        pacer.wait(CHUNK_BYTES).await;
        assert_eq!(t1.elapsed().as_millis(), 500);
    }

    #[tokio::test]
    async fn chunks_that_do_not_hash_to_the_bundle_are_refused_and_dropped() {
        let bundle = vec![1u8; CHUNK_BYTES * 2];
        let d = delivery(&bundle);
        let dir = tempfile::tempdir().unwrap();
        let fetched = AtomicU64::new(0);
        let err = assemble(&d, Some(dir.path()), &fetched, |_| async {
            Ok(Bytes::from(vec![2u8; CHUNK_BYTES]))
        })
        .await
        .unwrap_err();
        assert!(err.contains("hash to"), "{err}");
        assert!(!dir.path().join(&d.sha256).exists());
        // A wrong-sized chunk, a header whose counts disagree, a name that is not a hash.
        let short = assemble(&d, None, &fetched, |_| async {
            Ok(Bytes::from(vec![1u8; 10]))
        });
        assert!(short.await.unwrap_err().contains("expected"));
        let mut bad = d.clone();
        bad.chunks = 7;
        let r = assemble(&bad, None, &fetched, |_| async { Ok(Bytes::new()) });
        assert!(r.await.unwrap_err().contains("do not fit"));
        bad = d.clone();
        bad.sha256 = "../etc".into();
        let r = assemble(&bad, None, &fetched, |_| async { Ok(Bytes::new()) });
        assert!(r.await.unwrap_err().contains("not a SHA-256"));
    }
}
