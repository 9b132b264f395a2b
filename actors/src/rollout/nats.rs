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
//! A ship behind a leaf node with its own JetStream domain reaches these streams through
//! the shore domain's API (`domain: Some("shore")`).

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::StreamExt;
use parking_lot::Mutex;

use super::{Delivery, Report};

/// The deliveries stream.
pub const DELIVERIES: &str = "SW_ROLLOUT";
/// The reports stream.
pub const REPORTS: &str = "SW_ROLLOUT_REPORTS";

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
    /// Acknowledges the reports returned so far (they are journaled).
    fn ack_reports(&self) -> BoxFuture<'_, ()>;
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
    for (name, subjects) in [
        (DELIVERIES, "seawatch.rollout.to.>"),
        (REPORTS, "seawatch.rollout.report.>"),
    ] {
        js.get_or_create_stream(stream::Config {
            name: name.into(),
            subjects: vec![subjects.into()],
            storage: stream::StorageType::File,
            num_replicas: replicas,
            max_age: Duration::from_secs(90 * 86_400),
            duplicate_window: Duration::from_secs(600),
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
}

impl NatsShoreLink {
    /// Connects to `url`, creates the streams (with `replicas`) and node `node`'s reports
    /// consumer.
    pub async fn connect(url: &str, replicas: usize, node: &str) -> Result<Self, String> {
        let durable = format!("rollout-reports-{node}");
        let client = async_nats::connect(url).await.map_err(err)?;
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
                    ..Default::default()
                },
            )
            .await
            .map_err(err)?;
        Ok(Self {
            js,
            reports,
            held: Mutex::new(Vec::new()),
        })
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
            h.insert("Nats-Msg-Id", format!("{}:{}", d.rollout, d.ship).as_str());
            let ack = self
                .js
                .publish_with_headers(to_subject(&d.ship), h, Bytes::from(d.encode(bundle)))
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

    fn ack_reports(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let held: Vec<_> = std::mem::take(&mut *self.held.lock());
            for m in held {
                if let Err(e) = m.ack().await {
                    // Not acked: it comes again and is applied again, which changes nothing.
                    tracing::warn!(error = %e, "rollout: report ack failed");
                }
            }
        })
    }
}

/// The agent's NATS link.
pub struct NatsShipLink {
    js: jetstream::Context,
    ship: String,
    consumer: Mutex<Option<consumer::PullConsumer>>,
    held: Mutex<Option<jetstream::Message>>,
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
        let client = async_nats::connect(url).await.map_err(err)?;
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
        })
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
            if let Some(m) = self.held.lock().as_ref() {
                return Ok(Some(m.payload.to_vec()));
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
                    let payload = m.payload.to_vec();
                    *self.held.lock() = Some(m);
                    Ok(Some(payload))
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
            if let Some(m) = m {
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
            h.insert(
                "Nats-Msg-Id",
                format!("{}:{}:{state}", r.rollout, r.ship).as_str(),
            );
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
