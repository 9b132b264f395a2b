//! Which of the ship's links its sync ships over, durably, and what the running sync has
//! applied.
//!
//! By default sync rides the inventory's primary link (its first link without one). An
//! operator — through the `builtin` runbook driver (`sync move FROM TO`) — can move it to
//! another inventoried link and back. The choice is written to `DATA/sync.link` (temp
//! file, fsync, rename) before the move is acknowledged, so a restarted ship (or a
//! restarted sync actor) rides the chosen link again. The supervised sync loop
//! ([`super::ship::run_ship_sync`]) subscribes to the choice: on every start and every
//! change it takes the link's sync rate (the configured capacity while on the primary
//! link, the inventoried capacity of any other, else the transport's) and reports the
//! link as *active*. The active link is what `show sync` and the ship's snapshots (the
//! shore's fleet view, `sync_link`) say: a move is verified by the sync itself, not by
//! the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::push::PushBus;

/// A link sync may ride.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteLink {
    /// Link id (inventory).
    pub id: String,
    /// vsat, leo, lte, port-wifi.
    pub kind: String,
    /// The inventory's primary link.
    pub primary: bool,
    /// Its capacity, bytes per second, when inventoried.
    pub capacity_bytes_per_s: Option<u64>,
}

/// The durable choice (`DATA/sync.link`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteChoice {
    /// The ship.
    pub ship: String,
    /// The link sync is to ride.
    pub link: String,
    /// The link it was moved from (`None`: never moved).
    #[serde(default)]
    pub previous: Option<String>,
    /// When it was chosen, unix ms (0: the default).
    #[serde(default)]
    pub at_ms: i64,
}

/// The ship's sync route. Cheap to clone; shared by the sync actor (every incarnation)
/// and the builtin driver.
#[derive(Clone)]
pub struct SyncRoute {
    ship: String,
    path: PathBuf,
    links: Arc<Vec<RouteLink>>,
    push: Option<PushBus>,
    choice: Arc<watch::Sender<RouteChoice>>,
    active: Arc<watch::Sender<Option<String>>>,
    write: Arc<parking_lot::Mutex<()>>,
}

impl std::fmt::Debug for SyncRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncRoute")
            .field("ship", &self.ship)
            .field("choice", &*self.choice.borrow())
            .field("active", &*self.active.borrow())
            .finish_non_exhaustive()
    }
}

/// Why a move was refused (nothing changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RouteError(pub String);

impl SyncRoute {
    /// The route of `ship` over `links`, its choice read from `path` (absent: the primary
    /// link). A choice naming a link no longer inventoried, or an unreadable file, falls
    /// back to the primary link with a warning: sync must run whatever the file says.
    /// `push` gives the links' states (the link actors' pushes).
    pub fn open(
        ship: &str,
        path: impl Into<PathBuf>,
        links: Vec<RouteLink>,
        push: Option<PushBus>,
    ) -> Self {
        let path = path.into();
        let default = links
            .iter()
            .find(|l| l.primary)
            .or(links.first())
            .map(|l| l.id.clone())
            .unwrap_or_default();
        let fallback = RouteChoice {
            ship: ship.to_owned(),
            link: default,
            previous: None,
            at_ms: 0,
        };
        let choice = match read_choice(&path) {
            Ok(Some(c)) if c.ship == ship && links.iter().any(|l| l.id == c.link) => c,
            Ok(Some(c)) => {
                tracing::warn!(%ship, file = %path.display(), link = %c.link, "sync route: the chosen link is not this ship's inventoried link; riding the primary link");
                fallback
            }
            Ok(None) => fallback,
            Err(e) => {
                tracing::warn!(%ship, file = %path.display(), error = %e, "sync route unreadable; riding the primary link");
                fallback
            }
        };
        Self {
            ship: ship.to_owned(),
            path,
            links: Arc::new(links),
            push,
            choice: Arc::new(watch::channel(choice).0),
            active: Arc::new(watch::channel(None).0),
            write: Arc::default(),
        }
    }

    /// The links sync may ride.
    pub fn links(&self) -> &[RouteLink] {
        &self.links
    }

    /// The current choice.
    pub fn choice(&self) -> RouteChoice {
        self.choice.borrow().clone()
    }

    /// Changes of the choice (the sync loop's subscription).
    pub fn subscribe(&self) -> watch::Receiver<RouteChoice> {
        self.choice.subscribe()
    }

    /// The link the running sync has applied (`None`: no sync running yet).
    pub fn active(&self) -> Option<String> {
        self.active.borrow().clone()
    }

    /// Reported by the sync loop once it rides `link` (`None` when it stops). A ship
    /// without inventoried links has no link to name: nothing is reported.
    pub fn report_active(&self, link: Option<&str>) {
        self.active
            .send_replace(link.filter(|l| !l.is_empty()).map(str::to_owned));
    }

    /// Waits up to `limit` for the running sync to ride `link`; the active link then.
    pub async fn wait_active(&self, link: &str, limit: Duration) -> Option<String> {
        let mut rx = self.active.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|a| a.as_deref() == Some(link))).await;
        self.active()
    }

    /// The inventoried link `id`.
    pub fn link(&self, id: &str) -> Option<&RouteLink> {
        self.links.iter().find(|l| l.id == id)
    }

    /// The sync rate's capacity for riding `id`: `None` on the primary link (the
    /// transport's configured capacity applies), else the link's inventoried capacity.
    pub fn capacity_of(&self, id: &str) -> Option<u64> {
        self.link(id)
            .filter(|l| !l.primary)
            .and_then(|l| l.capacity_bytes_per_s)
    }

    /// The link's state from its latest push (`up`, `degraded`, `down`), `unknown`
    /// before any.
    pub fn link_state(&self, id: &str) -> String {
        self.push
            .as_ref()
            .and_then(|p| {
                p.latest_links_shared(Some(&self.ship))
                    .into_iter()
                    .find(|p| p.body.get("link").and_then(|l| l.as_str()) == Some(id))
                    .and_then(|p| p.body.get("state")?.as_str().map(str::to_owned))
            })
            .unwrap_or_else(|| "unknown".into())
    }

    /// Moves sync from `from` to `to`: durable before it returns. Idempotent: already on
    /// `to` is a success that changes nothing. Refused (nothing changed) when `to` is not
    /// an inventoried link or sync is on neither `from` nor `to` (someone else moved it:
    /// a human decides).
    pub fn move_sync(&self, from: &str, to: &str, now_ms: i64) -> Result<String, RouteError> {
        let _one_writer = self.write.lock();
        if self.link(to).is_none() {
            return Err(RouteError(format!(
                "no link {to:?} in this ship's inventory (links: {})",
                self.links
                    .iter()
                    .map(|l| l.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let cur = self.choice();
        if cur.link == to {
            return Ok(format!("sync already on {to}"));
        }
        if cur.link != from {
            return Err(RouteError(format!(
                "sync is on {}, not {from}: nothing changed",
                cur.link
            )));
        }
        let next = RouteChoice {
            ship: self.ship.clone(),
            link: to.to_owned(),
            previous: Some(from.to_owned()),
            at_ms: now_ms,
        };
        write_choice(&self.path, &next).map_err(|e| {
            RouteError(format!(
                "cannot write {}: {e}: nothing changed",
                self.path.display()
            ))
        })?;
        self.choice.send_replace(next);
        Ok(format!("sync moved from {from} to {to}"))
    }
}

fn read_choice(path: &Path) -> Result<Option<RouteChoice>, String> {
    match std::fs::read_to_string(path) {
        Ok(t) => serde_json::from_str(&t)
            .map(Some)
            .map_err(|e| format!("{}:{}: {e}", path.display(), e.line())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

fn write_choice(path: &Path, c: &RouteChoice) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(serde_json::to_string(c).unwrap_or_default().as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> Vec<RouteLink> {
        vec![
            RouteLink {
                id: "vsat-1".into(),
                kind: "vsat".into(),
                primary: true,
                capacity_bytes_per_s: Some(6_250_000),
            },
            RouteLink {
                id: "leo-1".into(),
                kind: "leo".into(),
                primary: false,
                capacity_bytes_per_s: Some(25_000_000),
            },
        ]
    }

    #[test]
    fn moves_are_durable_idempotent_and_refused_when_sync_is_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync.link");
        let r = SyncRoute::open("aurora", &path, links(), None);
        assert_eq!(r.choice().link, "vsat-1", "the primary link by default");
        assert_eq!(r.capacity_of("vsat-1"), None, "the configured capacity");
        assert_eq!(r.capacity_of("leo-1"), Some(25_000_000));
        assert_eq!(r.link_state("leo-1"), "unknown");
        let e = r.move_sync("vsat-1", "lte-9", 5).unwrap_err();
        assert!(e.0.contains("no link \"lte-9\""), "{e}");
        assert!(!path.exists(), "a refused move writes nothing");
        assert_eq!(
            r.move_sync("vsat-1", "leo-1", 5).unwrap(),
            "sync moved from vsat-1 to leo-1"
        );
        assert_eq!(
            r.move_sync("vsat-1", "leo-1", 6).unwrap(),
            "sync already on leo-1"
        );
        // a restart reads the choice back
        let again = SyncRoute::open("aurora", &path, links(), None);
        assert_eq!(again.choice().link, "leo-1");
        assert_eq!(again.choice().previous.as_deref(), Some("vsat-1"));
        // moving back is the rollback; once back, moving back again changes nothing
        assert!(again.move_sync("leo-1", "vsat-1", 7).is_ok());
        assert_eq!(
            again.move_sync("leo-1", "vsat-1", 8).unwrap(),
            "sync already on vsat-1"
        );
        // a file naming another ship's or a removed link is not followed
        std::fs::write(
            &path,
            r#"{"ship":"aurora","link":"gone-1","previous":null,"at_ms":1}"#,
        )
        .unwrap();
        assert_eq!(
            SyncRoute::open("aurora", &path, links(), None)
                .choice()
                .link,
            "vsat-1"
        );
        std::fs::write(&path, "{").unwrap();
        assert_eq!(
            SyncRoute::open("aurora", &path, links(), None)
                .choice()
                .link,
            "vsat-1"
        );
    }
}
