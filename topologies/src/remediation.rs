//! A ship's remediation service (contracts §7), built once ([`remediation_service`]) for
//! `seawatch ship` ([`crate::ship::ShipNode`]) and for every ship of `seawatch demo`
//! ([`crate::demo::Demo`]): the catalogue and policy reload, the executor with its
//! drivers, the audit log's shipping into the event log and the automatic proposals,
//! under one `runbooks` supervisor, plus the [`ExecApi`] the console's routes serve.
//!
//! ```text
//! runbooks — one_for_one
//! ├─ reload       runbooks and policies, re-read every 5 s (hot reload)
//! ├─ executor     runs approved executions: ssh, http and builtin drivers
//! ├─ audit-to-log every audit record into the ship's event log (synced to shore)
//! └─ auto         automatic runbooks of open incidents, when the policy allows
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use include_dir::{include_dir, Dir};
use parking_lot::Mutex;
use seawatch_actors::incident::{IncidentBoard, StateFilter};
use seawatch_actors::log_service::LogService;
use seawatch_actors::mail::Outbox;
use seawatch_actors::push::PushBus;
use seawatch_actors::runbook::auto::{auto_child, AutoSources, PredictedOutage};
use seawatch_actors::runbook::builtin::BuiltinDriver;
use seawatch_actors::runbook::exec::{
    executor_child, DriverSet, ExecError, Executions, Proposal, TargetAccess,
};
use seawatch_actors::runbook::http::HttpDriver;
use seawatch_actors::runbook::policy::{IncidentFacts, LinkFacts, ShipFacts};
use seawatch_actors::runbook::service::{
    reload_child, Remediation, RemediationMetrics, RemediationPaths,
};
use seawatch_actors::runbook::ssh::SshDriver;
use seawatch_actors::runbook::to_log::to_log_child;
use seawatch_actors::sync::route::SyncRoute;
use seawatch_actors::sync::ship::CommandHandler;
use seawatch_actors::sync::wire::{Action, Command};
use seawatch_console::runbooks::ExecApi;
use seawatch_model::ShipId;
use seawatch_runtime::supervision::ChildSpec;
use seawatch_runtime::Clock;

/// The starter runbooks (`deploy/runbooks`), built into the binary for the demo.
pub static STARTER_RUNBOOKS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../deploy/runbooks");
/// The starter policy (`deploy/policies`), built into the binary for the demo.
pub static STARTER_POLICIES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../deploy/policies");

/// Writes the starter runbooks into `runbooks` and the starter policy into `policies`,
/// each only where that folder does not exist yet (an operator's edits are kept).
pub fn provision_starters(runbooks: &Path, policies: &Path) -> std::io::Result<()> {
    for (dir, files) in [(runbooks, &STARTER_RUNBOOKS), (policies, &STARTER_POLICIES)] {
        if dir.exists() {
            continue;
        }
        // written beside, then renamed: a crash leaves no half-provisioned folder
        let tmp = dir.with_extension("provisioning");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        for f in files.files() {
            std::fs::write(tmp.join(f.path()), f.contents())?;
        }
        std::fs::rename(&tmp, dir)?;
    }
    Ok(())
}

/// What one ship's remediation service is built from.
pub struct RemediationArgs {
    /// The ship.
    pub ship: ShipId,
    /// The node's data folder: ssh keys in `DATA/ssh`, http tokens in `DATA/http`.
    pub data: PathBuf,
    /// Runbook, policy and audit folders.
    pub paths: RemediationPaths,
    /// Registered once per metrics registry, shared by a node's ships.
    pub metrics: RemediationMetrics,
    /// Element id → device or link kind (the inventory).
    pub kinds: Arc<HashMap<String, String>>,
    /// The inventory's links: id, kind, primary.
    pub links: Vec<(String, String, bool)>,
    /// Time for proposals, approvals and the policy.
    pub clock: Clock,
    /// Execution changes go out as `runbook` pushes; link pushes give the links' state.
    pub push: PushBus,
    /// The ship's incidents (a fleet's board holds every ship's; this ship's are used).
    pub incidents: IncidentBoard,
    /// The mail outbox the builtin driver silences through (`None`: builtin steps fail).
    pub outbox: Option<Arc<Mutex<Outbox>>>,
    /// The ship's event log: every audit record is appended to it.
    pub log: LogService,
    /// The ship's sync route: builtin `sync move` steps move it (`None`: they fail).
    pub sync_route: Option<SyncRoute>,
}

/// The outages the link actors predict, from their latest pushes: links whose
/// `LinkRisk` alert fires with a predicted start (`predicted_outage_ms`), named by the
/// alert's firing time (`risk_alert_since_ms`).
pub fn predicted_outages<P: std::borrow::Borrow<seawatch_actors::push::Push>>(
    links: &[P],
) -> Vec<PredictedOutage> {
    links
        .iter()
        .map(|p| p.borrow())
        .filter(|p| p.body.get("risk_alert").and_then(|v| v.as_bool()) == Some(true))
        .filter_map(|p| {
            let b = &p.body;
            Some(PredictedOutage {
                link: b.get("link")?.as_str()?.to_string(),
                since_ms: b.get("risk_alert_since_ms")?.as_i64()?,
                start_ms: b.get("predicted_outage_ms")?.as_i64()?,
                end_ms: b.get("predicted_end_ms").and_then(|v| v.as_i64()),
                cause: b
                    .get("risk_cause")
                    .and_then(|v| v.as_str())
                    .unwrap_or("none")
                    .to_string(),
            })
        })
        .collect()
}

/// One ship's remediation service.
pub struct RemediationService {
    /// Catalogue, policy and audit log (bundles from shore reload it).
    pub remediation: Remediation,
    /// The executions (WebSocket snapshots read them).
    pub executions: Executions,
    /// What the console's runbook routes serve.
    pub api: ExecApi,
    /// Shore's commands to the ship: runbook proposals (given to the ship's sync).
    pub commands: Arc<dyn CommandHandler>,
    /// The `runbooks` supervisor and its children.
    pub supervisor: ChildSpec,
}

/// Why the remediation service could not be built.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RemediationError(pub String);

/// Builds `args.ship`'s remediation service: opens the catalogue, policy and audit log,
/// recovers the executions from the audit journal (decision 0045) and wires the
/// `runbooks` supervisor's children and the console's [`ExecApi`]. The one place this is
/// assembled.
pub fn remediation_service(args: RemediationArgs) -> Result<RemediationService, RemediationError> {
    let ship = args.ship.as_str().to_string();
    let runbooks_dir = args.paths.runbooks.clone();
    let (remediation, report) = Remediation::open(args.paths, args.clock.clone(), args.metrics)
        .map_err(|e| RemediationError(e.to_string()))?;
    if let Some(b) = report.first_break {
        tracing::error!(%ship, line = b.line, reason = %b.reason, "audit log chain broken");
    }
    let executions = Executions::recover(
        &ship,
        remediation.clone(),
        remediation_targets(&args.kinds, &runbooks_dir)?,
    )
    .map_err(|e| RemediationError(e.to_string()))?
    .with_push(args.push.clone());
    let facts = ship_facts(
        ship.clone(),
        args.links,
        args.push.clone(),
        args.incidents.clone(),
    );
    let now_ms: Arc<dyn Fn() -> i64 + Send + Sync> = {
        let clock = args.clock.clone();
        Arc::new(move || clock.now_ms())
    };
    let auto = AutoSources {
        open_incidents: {
            let (incidents, ship) = (args.incidents.clone(), ship.clone());
            Arc::new(move || incidents.list(Some(&ship), StateFilter::Open))
        },
        ship: facts.clone(),
        now_ms: now_ms.clone(),
        predicted_outages: {
            let (push, ship) = (args.push.clone(), ship.clone());
            Arc::new(move || predicted_outages(&push.latest_links_shared(Some(&ship))))
        },
    };
    let drivers = DriverSet {
        // ssh with DATA/ssh/id_ed25519 and DATA/ssh/known_hosts (strict); a target without
        // an address in targets.json fails its first step, nothing sent
        ssh: Arc::new(SshDriver::in_data(&args.data, "seawatch")),
        // http to device APIs with tokens from DATA/http/tokens/<target>
        http: Some(Arc::new(HttpDriver::in_data(&args.data))),
        // silences through the mail outbox (those steps fail without one), sync moves
        // through the sync route (those fail without one)
        builtin: Some(Arc::new({
            let b = BuiltinDriver::new(args.outbox, args.clock.clone());
            match args.sync_route {
                Some(r) => b.with_sync(r),
                None => b,
            }
        })),
    };
    let children = vec![
        reload_child(remediation.clone(), Duration::from_secs(5)),
        executor_child(executions.clone(), Arc::new(drivers)),
        // every audit record into the event log (Control: the urgent lane to shore), from
        // a durable position
        to_log_child(
            remediation.clone(),
            args.log.clone(),
            args.log.reader(),
            remediation.audit_path().with_file_name("shipped"),
            Duration::from_secs(1),
        ),
        // automatic runbooks of open incidents, proposed as `seawatch` (role `system`);
        // the policy decides whether they run
        auto_child(
            executions.clone(),
            auto,
            args.push.clone(),
            Duration::from_secs(10),
        ),
    ];
    let commands: Arc<dyn CommandHandler> = Arc::new(ShoreProposals {
        executions: executions.clone(),
        ship: facts.clone(),
        now_ms: now_ms.clone(),
    });
    let api = ExecApi {
        executions: executions.clone(),
        ship: facts,
        now_ms,
        incident: {
            let (incidents, ship) = (args.incidents, ship);
            Arc::new(move |id: &str| incidents.get(id).filter(|i| i.ship == ship))
        },
    };
    Ok(RemediationService {
        remediation,
        executions,
        api,
        commands,
        supervisor: crate::ship::one_for_one("runbooks", &args.ship, children),
    })
}

/// Shore's commands to a ship, as its sync delivers them: `propose_execution` proposes a
/// runbook execution here, requested by the shore user with their shore role, and the
/// ship's own policy decides, as for a proposal made on the ship. The reply is the JSON
/// `{"execution","state","reasons"}` (`ok` false when denied) or `{"error"}`. A command
/// shore sends again is answered from the execution it proposed the first time, even
/// after a restart (the journal records the command's id). Other actions are refused.
pub struct ShoreProposals {
    executions: Executions,
    ship: Arc<dyn Fn() -> ShipFacts + Send + Sync>,
    now_ms: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl CommandHandler for ShoreProposals {
    fn apply(&self, action: &Action) -> Result<String, String> {
        let name = serde_json::to_value(action)
            .ok()
            .and_then(|v| v.get("action").and_then(|a| a.as_str()).map(str::to_string))
            .unwrap_or_default();
        Err(format!(
            "this ship takes propose_execution commands only, not {name}"
        ))
    }

    fn apply_command(&self, cmd: &Command) -> Result<String, String> {
        let Action::ProposeExecution {
            runbook,
            targets,
            params,
            requester,
            role,
            incident,
        } = &cmd.action
        else {
            return self.apply(&cmd.action);
        };
        let answer = |e: &seawatch_actors::runbook::exec::Exec| {
            serde_json::json!({"execution": e.id, "state": e.state, "reasons": e.policy.reasons})
                .to_string()
        };
        if requester.trim().is_empty() {
            return Err(serde_json::json!({"error": "no requester"}).to_string());
        }
        let p = Proposal {
            runbook: runbook.clone(),
            targets: targets.clone(),
            params: params.clone(),
            requester: requester.clone(),
            role: role.clone(),
            incident: incident.clone(),
        };
        match self
            .executions
            .propose_from_shore(p, cmd.id, (self.ship)(), (self.now_ms)())
        {
            Ok(e) => Ok(answer(&e)),
            Err(ExecError::Denied(e)) => Err(answer(&e)),
            Err(e) => Err(serde_json::json!({"error": e.to_string()}).to_string()),
        }
    }
}

/// The remediation targets: every inventoried element (zone `it`), overridden by
/// `RUNBOOKS/targets.json` (`[{"id","kind","zone","address","user"}]`) when present.
fn remediation_targets(
    kinds: &HashMap<String, String>,
    runbooks: &Path,
) -> Result<Vec<TargetAccess>, RemediationError> {
    let mut out: BTreeMap<String, TargetAccess> = kinds
        .iter()
        .map(|(id, kind)| {
            (
                id.clone(),
                TargetAccess {
                    id: id.clone(),
                    kind: kind.clone(),
                    zone: "it".into(),
                    address: None,
                    user: None,
                },
            )
        })
        .collect();
    let path = runbooks.join("targets.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let list: Vec<TargetAccess> = serde_json::from_str(&text)
                .map_err(|e| RemediationError(format!("{}:{}: {e}", path.display(), e.line())))?;
            for t in list {
                out.insert(t.id.clone(), t);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(RemediationError(format!("{}: {e}", path.display()))),
    }
    Ok(out.into_values().collect())
}

/// The ship's state for the remediation policy: its links (primary flag from the
/// inventory, state from the latest link push) and its open incidents.
fn ship_facts(
    ship: String,
    links: Vec<(String, String, bool)>,
    push: PushBus,
    incidents: IncidentBoard,
) -> Arc<dyn Fn() -> ShipFacts + Send + Sync> {
    Arc::new(move || {
        let latest = push.latest_links_shared(Some(&ship));
        ShipFacts {
            links: links
                .iter()
                .map(|(id, kind, primary)| LinkFacts {
                    id: id.clone(),
                    kind: kind.clone(),
                    primary: *primary,
                    state: latest
                        .iter()
                        .find(|p| p.body["link"] == id.as_str())
                        .and_then(|p| p.body["state"].as_str().map(str::to_string))
                        .unwrap_or_else(|| "up".into()),
                })
                .collect(),
            open_incidents: incidents
                .list(Some(&ship), StateFilter::Open)
                .iter()
                .map(|i| IncidentFacts {
                    id: i.id.clone(),
                    severity: i.severity.as_str().into(),
                    root_cause: i.root_cause.clone(),
                })
                .collect(),
            recent_executions: Vec::new(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starters_are_every_deploy_file_and_provisioning_keeps_an_existing_folder() {
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
        for (dir, embedded) in [
            ("runbooks", &STARTER_RUNBOOKS),
            ("policies", &STARTER_POLICIES),
        ] {
            let on_disk = std::fs::read_dir(deploy.join(dir)).unwrap().count();
            assert_eq!(embedded.files().count(), on_disk, "{dir}");
        }
        let tmp = tempfile::tempdir().unwrap();
        let (rb, pol) = (tmp.path().join("runbooks"), tmp.path().join("policies"));
        std::fs::create_dir_all(&pol).unwrap();
        std::fs::write(pol.join("mine.rego"), "package mine").unwrap();
        provision_starters(&rb, &pol).unwrap();
        assert!(rb.join("silence-device-mail.toml").is_file());
        let kept: Vec<_> = std::fs::read_dir(&pol).unwrap().collect();
        assert_eq!(kept.len(), 1, "an existing policy folder is left alone");
        // a second start changes nothing
        std::fs::remove_file(rb.join("silence-device-mail.toml")).unwrap();
        provision_starters(&rb, &pol).unwrap();
        assert!(!rb.join("silence-device-mail.toml").exists());
    }
}
