//! The `builtin` driver: actions inside seawatch rather than on a device. A step's command
//! is one line:
//!
//! - `silence TARGET MINUTES` — silences the mail notices of incidents rooted at TARGET
//!   for MINUTES (1 to 10080), as user `runbook`, through the node's durable outbox
//!   (contracts §9); the output names the silence and its end.
//! - `unsilence TARGET` — ends the active silences of TARGET that runbooks added (an
//!   operator's own silences are left alone); idempotent, so fit for a rollback.
//! - `show silences TARGET` — the active silences of TARGET, one a line (`none` when there
//!   are none): read-only, for prechecks and verify steps.
//!
//! - `show link LINK` — an inventoried link's kind, state (from the link actors' latest
//!   push; `unknown` before any) and whether sync rides it (`sync=active`), was told to
//!   (`sync=chosen`) or not (`sync=standby`): read-only, for prechecks.
//! - `sync move FROM TO` — moves the ship's sync from link FROM to link TO
//!   ([`crate::sync::route`]): durable before it answers, idempotent (already on TO is a
//!   success), refused when sync is on neither. One of FROM and TO must be the step's
//!   target, so that the policy sees the link that is left (or returned to).
//! - `show sync` — the link the running sync rides (`active`), the one it was told to
//!   ride (`chosen`) and the one before (`previous`): once the sync has applied the
//!   choice, or after the step's timeout (at most 30 s) with what it rides then; for
//!   verify steps.
//!
//! A node without `[email]` has no outbox: silence steps fail with that reason and
//! nothing changes; a node without a sync route fails the sync steps the same way.
//! TARGET must be the step's own target (a runbook cannot reach another element through
//! a parameter).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use seawatch_runtime::Clock;

use super::exec::{Driver, TargetAccess};
use crate::mail::store::{Outbox, Silence};
use crate::sync::route::SyncRoute;

/// Who builtin silences are added as.
pub const BY: &str = "runbook";
/// The longest silence a step may add, in minutes (a week).
pub const MAX_MINUTES: i64 = 7 * 24 * 60;

/// The builtin driver over a node's outbox (`None` without `[email]`).
#[derive(Clone)]
pub struct BuiltinDriver {
    outbox: Option<Arc<Mutex<Outbox>>>,
    clock: Clock,
    sync: Option<SyncRoute>,
}

impl std::fmt::Debug for BuiltinDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinDriver")
            .field("outbox", &self.outbox.is_some())
            .field("sync", &self.sync.is_some())
            .finish_non_exhaustive()
    }
}

impl BuiltinDriver {
    /// The driver over `outbox`, with times from `clock`.
    pub fn new(outbox: Option<Arc<Mutex<Outbox>>>, clock: Clock) -> Self {
        Self {
            outbox,
            clock,
            sync: None,
        }
    }

    /// With the ship's sync route: the `sync` and `show link` commands.
    pub fn with_sync(mut self, route: SyncRoute) -> Self {
        self.sync = Some(route);
        self
    }

    fn route(&self) -> Result<&SyncRoute, String> {
        self.sync.as_ref().ok_or_else(|| {
            "builtin: this node's sync has no route (no sync): nothing to move".into()
        })
    }

    fn show_sync(&self) -> Result<String, String> {
        let r = self.route()?;
        let c = r.choice();
        Ok(format!(
            "sync link: active {}, chosen {}, previous {}",
            r.active().as_deref().unwrap_or("none"),
            c.link,
            c.previous.as_deref().unwrap_or("none")
        ))
    }

    fn outbox(&self) -> Result<&Arc<Mutex<Outbox>>, String> {
        self.outbox
            .as_ref()
            .ok_or_else(|| "builtin: this node has no [email] outbox: nothing to silence".into())
    }

    /// Runs one command for `target` (see the module docs).
    pub fn apply(&self, target: &str, command: &str) -> Result<String, String> {
        let words: Vec<&str> = command.split_whitespace().collect();
        let check = |t: &str| {
            if t == target {
                Ok(())
            } else {
                Err(format!(
                    "builtin: {t:?} is not this step's target {target:?}"
                ))
            }
        };
        let now = self.clock.now_ms();
        match words.as_slice() {
            ["silence", t, minutes] => {
                check(t)?;
                let m: i64 = minutes
                    .parse()
                    .ok()
                    .filter(|m| (1..=MAX_MINUTES).contains(m))
                    .ok_or_else(|| {
                        format!("builtin: silence minutes {minutes:?}: expected 1 to {MAX_MINUTES}")
                    })?;
                let s = self
                    .outbox()?
                    .lock()
                    .add_silence(Silence {
                        id: String::new(),
                        incident: None,
                        element: Some(target.to_string()),
                        until_ms: Some(now + m * 60_000),
                        until_resolved: false,
                        by: BY.into(),
                        comment: "added by a runbook execution".into(),
                        created_ms: now,
                    })
                    .map_err(|e| format!("builtin: silence {target}: {e}"))?;
                Ok(format!(
                    "silenced {target} until {} ({})",
                    seawatch_model::time::rfc3339(now + m * 60_000),
                    s.id
                ))
            }
            ["unsilence", t] => {
                check(t)?;
                let outbox = self.outbox()?;
                let mut ob = outbox.lock();
                let ids: Vec<String> = active(&ob, target, now)
                    .filter(|s| s.by == BY)
                    .map(|s| s.id.clone())
                    .collect();
                for id in &ids {
                    ob.end_silence(id, now)
                        .map_err(|e| format!("builtin: unsilence {target}: {e}"))?;
                }
                Ok(format!("ended {} silence(s) of {target}", ids.len()))
            }
            ["show", "silences", t] => {
                check(t)?;
                let outbox = self.outbox()?;
                let ob = outbox.lock();
                let lines: Vec<String> = active(&ob, target, now)
                    .map(|s| {
                        format!(
                            "{} {target} until {} by {}",
                            s.id,
                            s.until_ms
                                .map_or("resolved".into(), seawatch_model::time::rfc3339),
                            s.by
                        )
                    })
                    .collect();
                Ok(if lines.is_empty() {
                    "none".into()
                } else {
                    lines.join("\n")
                })
            }
            ["show", "link", link] => {
                let r = self.route()?;
                let l = r
                    .link(link)
                    .ok_or_else(|| format!("builtin: no link {link:?} in this ship's inventory"))?;
                let sync = if r.active().as_deref() == Some(*link) {
                    "active"
                } else if r.choice().link == *link {
                    "chosen"
                } else {
                    "standby"
                };
                Ok(format!(
                    "{link} kind={} state={} sync={sync}",
                    l.kind,
                    r.link_state(link)
                ))
            }
            ["sync", "move", from, to] => {
                if *from != target && *to != target {
                    return Err(format!(
                        "builtin: neither {from:?} nor {to:?} is this step's target {target:?}"
                    ));
                }
                self.route()?
                    .move_sync(from, to, now)
                    .map_err(|e| format!("builtin: sync move {from} {to}: {e}"))
            }
            ["show", "sync"] => self.show_sync(),
            _ => Err(format!(
                "builtin: unknown command {command:?}: expected `silence TARGET MINUTES`, `unsilence TARGET`, `show silences TARGET`, `show link LINK`, `sync move FROM TO` or `show sync`"
            )),
        }
    }
}

fn active<'a>(ob: &'a Outbox, target: &'a str, now: i64) -> impl Iterator<Item = &'a Silence> {
    ob.silences()
        .iter()
        .filter(move |s| s.element.as_deref() == Some(target) && s.until_ms.is_none_or(|u| u > now))
}

impl Driver for BuiltinDriver {
    fn run<'a>(
        &'a self,
        target: &'a TargetAccess,
        command: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            if command.split_whitespace().eq(["show", "sync"]) {
                // the running sync applies a move asynchronously: give it the step's time
                let r = self.route()?;
                r.wait_active(&r.choice().link, timeout.min(Duration::from_secs(30)))
                    .await;
                return self.show_sync();
            }
            // journal appends and file writes are local and short: no task, no timeout
            self.apply(&target.id, command)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::exec::{DriverSet, ExecState, Proposal};
    use crate::runbook::policy::ShipFacts;

    const T0: i64 = 1_741_921_200_000;

    #[test]
    fn commands_silence_show_and_unsilence_only_their_target() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Arc::new(Mutex::new(
            Outbox::open(&dir.path().join("outbox")).unwrap(),
        ));
        let clock = Clock::manual(T0);
        let d = BuiltinDriver::new(Some(ob.clone()), clock.clone());
        assert_eq!(
            d.apply("acc-sw-1", "show silences acc-sw-1").unwrap(),
            "none"
        );
        let out = d.apply("acc-sw-1", "silence acc-sw-1 30").unwrap();
        assert!(
            out.starts_with("silenced acc-sw-1 until 2025-03-14T03:30:00"),
            "{out}"
        );
        assert!(d
            .apply("acc-sw-1", "show silences acc-sw-1")
            .unwrap()
            .contains("by runbook"));
        // an operator's own silence is not the runbook's to end
        ob.lock()
            .add_silence(Silence {
                id: String::new(),
                incident: None,
                element: Some("acc-sw-1".into()),
                until_ms: Some(T0 + 3_600_000),
                until_resolved: false,
                by: "alice".into(),
                comment: String::new(),
                created_ms: T0,
            })
            .unwrap();
        assert_eq!(
            d.apply("acc-sw-1", "unsilence acc-sw-1").unwrap(),
            "ended 1 silence(s) of acc-sw-1"
        );
        assert_eq!(
            d.apply("acc-sw-1", "unsilence acc-sw-1").unwrap(),
            "ended 0 silence(s) of acc-sw-1"
        );
        assert!(d
            .apply("acc-sw-1", "show silences acc-sw-1")
            .unwrap()
            .contains("by alice"));
        // expired silences are not active
        clock.advance_ms(3_600_001);
        assert_eq!(
            d.apply("acc-sw-1", "show silences acc-sw-1").unwrap(),
            "none"
        );
        for (bad, why) in [
            ("silence core-sw-1 30", "not this step's target"),
            ("silence acc-sw-1 0", "expected 1 to"),
            ("silence acc-sw-1 99999", "expected 1 to"),
            ("silence acc-sw-1 ten", "expected 1 to"),
            ("reboot acc-sw-1", "unknown command"),
            ("", "unknown command"),
        ] {
            let e = d.apply("acc-sw-1", bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        let none = BuiltinDriver::new(None, clock);
        assert!(none
            .apply("acc-sw-1", "silence acc-sw-1 5")
            .unwrap_err()
            .contains("no [email] outbox"));
    }

    #[test]
    fn sync_commands_need_a_route_and_the_steps_target_on_one_end() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::manual(T0);
        let bare = BuiltinDriver::new(None, clock.clone());
        assert!(bare
            .apply("vsat-1", "sync move vsat-1 leo-1")
            .unwrap_err()
            .contains("no route"));
        let link = |id: &str, kind: &str, primary| crate::sync::route::RouteLink {
            id: id.into(),
            kind: kind.into(),
            primary,
            capacity_bytes_per_s: None,
        };
        let route = SyncRoute::open(
            "aurora",
            dir.path().join("sync.link"),
            vec![link("vsat-1", "vsat", true), link("leo-1", "leo", false)],
            None,
        );
        let d = BuiltinDriver::new(None, clock).with_sync(route.clone());
        assert_eq!(
            d.apply("vsat-1", "show link leo-1").unwrap(),
            "leo-1 kind=leo state=unknown sync=standby"
        );
        assert_eq!(
            d.apply("vsat-1", "show link vsat-1").unwrap(),
            "vsat-1 kind=vsat state=unknown sync=chosen"
        );
        assert!(d
            .apply("vsat-1", "show link lte-1")
            .unwrap_err()
            .contains("no link \"lte-1\""));
        // a step may not move sync between two links that are not its target
        assert!(d
            .apply("lte-1", "sync move vsat-1 leo-1")
            .unwrap_err()
            .contains("neither"));
        assert_eq!(
            d.apply("vsat-1", "sync move vsat-1 leo-1").unwrap(),
            "sync moved from vsat-1 to leo-1"
        );
        assert_eq!(
            d.apply("vsat-1", "show sync").unwrap(),
            "sync link: active none, chosen leo-1, previous vsat-1"
        );
        route.report_active(Some("leo-1"));
        assert!(d
            .apply("vsat-1", "show link leo-1")
            .unwrap()
            .ends_with("sync=active"));
    }

    #[tokio::test]
    async fn the_starter_silence_runbook_runs_through_the_executor() {
        let dir = tempfile::tempdir().unwrap();
        let (_r, ex) = crate::runbook::exec::tests::open_with(
            dir.path(),
            vec![crate::runbook::exec::tests::access("ap-17", "ap", "it")],
        );
        let mut params = serde_json::Map::new();
        params.insert("minutes".into(), 45.into());
        let e = ex
            .propose(
                Proposal {
                    runbook: "silence-device-mail".into(),
                    targets: vec!["ap-17".into()],
                    params,
                    requester: "alice".into(),
                    role: "operator".into(),
                    incident: None,
                },
                ShipFacts::default(),
                T0,
            )
            .unwrap();
        assert_eq!(e.driver, crate::runbook::spec::Driver::Builtin);
        ex.decide(&e.id, "bob", true).unwrap();
        let ob = Arc::new(Mutex::new(
            Outbox::open(&dir.path().join("outbox")).unwrap(),
        ));
        let drivers = DriverSet {
            ssh: Arc::new(crate::runbook::ssh::SshDriver::in_data(dir.path(), "x")),
            http: None,
            builtin: Some(Arc::new(BuiltinDriver::new(
                Some(ob.clone()),
                Clock::manual(T0),
            ))),
        };
        assert_eq!(ex.run(&e.id, &drivers).await.unwrap(), ExecState::Succeeded);
        let s = ob.lock().silences()[0].clone();
        assert_eq!(s.element.as_deref(), Some("ap-17"));
        assert_eq!(s.until_ms, Some(T0 + 45 * 60_000));
        // without an outbox the precheck fails and nothing is silenced
        let e = ex
            .propose(
                Proposal {
                    runbook: "silence-device-mail".into(),
                    targets: vec!["ap-17".into()],
                    params: serde_json::Map::new(),
                    requester: "alice".into(),
                    role: "operator".into(),
                    incident: None,
                },
                ShipFacts::default(),
                T0,
            )
            .unwrap();
        ex.decide(&e.id, "bob", true).unwrap();
        let bare = DriverSet {
            builtin: Some(Arc::new(BuiltinDriver::new(None, Clock::manual(T0)))),
            ..drivers
        };
        assert_eq!(ex.run(&e.id, &bare).await.unwrap(), ExecState::Failed);
    }
}
