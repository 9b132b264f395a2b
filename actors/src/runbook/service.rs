//! A node's remediation state: the runbook catalogue, the policy and the audit log, shared
//! by the API routes and the executor. Every policy decision goes into the audit log with
//! its full input before it is returned: a decision that cannot be recorded is a denial.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use seawatch_runtime::{Clock, Metrics};

use super::audit::{AuditError, AuditLog, AuditRecord, OpenReport};
use super::policy::{Decision, PolicyHandle, PolicyInput};
use super::spec::Catalogue;

/// `{outcome}` label of `seawatch_policy_decisions_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `allow`, `deny`, `error` (the policy is broken).
    pub outcome: &'static str,
}

/// Remediation metrics.
#[derive(Debug, Clone, Default)]
pub struct RemediationMetrics {
    /// `seawatch_policy_decisions_total{outcome}`.
    pub decisions: Family<OutcomeLabel, Counter>,
    /// `seawatch_runbook_load_errors`: runbook files left out of the catalogue.
    pub load_errors: Gauge,
    /// `seawatch_policy_broken`: 1 while the policy denies everything because it is broken.
    pub policy_broken: Gauge,
    /// `seawatch_audit_records_total`: records appended.
    pub audit_records: Counter,
    /// `seawatch_audit_errors_total`: appends that failed (the action was refused).
    pub audit_errors: Counter,
}

impl RemediationMetrics {
    /// Registers the metrics in `metrics`; every outcome exports 0 from the start.
    pub fn register(metrics: &Metrics) -> Self {
        let m = Self::default();
        for outcome in ["allow", "deny", "error"] {
            let _ = m.decisions.get_or_create(&OutcomeLabel { outcome });
        }
        metrics.register(
            "seawatch_policy_decisions",
            "Remediation policy decisions, by outcome",
            m.decisions.clone(),
        );
        metrics.register(
            "seawatch_runbook_load_errors",
            "Runbook files that did not load",
            m.load_errors.clone(),
        );
        metrics.register(
            "seawatch_policy_broken",
            "1 while the remediation policy is broken (everything is denied)",
            m.policy_broken.clone(),
        );
        metrics.register(
            "seawatch_audit_records",
            "Audit records appended",
            m.audit_records.clone(),
        );
        metrics.register(
            "seawatch_audit_errors",
            "Audit appends that failed",
            m.audit_errors.clone(),
        );
        m
    }
}

/// Where a node keeps its remediation files.
#[derive(Debug, Clone)]
pub struct RemediationPaths {
    /// Runbook folder.
    pub runbooks: PathBuf,
    /// Policy folder.
    pub policies: PathBuf,
    /// Audit log folder.
    pub audit: PathBuf,
}

impl RemediationPaths {
    /// The defaults under `data`: `runbooks/`, `policies/`, `audit/`.
    pub fn under(data: &Path) -> Self {
        Self {
            runbooks: data.join("runbooks"),
            policies: data.join("policies"),
            audit: data.join("audit"),
        }
    }
}

/// Catalogue, policy and audit log of a node. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Remediation {
    paths: RemediationPaths,
    catalogue: Arc<RwLock<Arc<Catalogue>>>,
    /// The policy.
    pub policy: PolicyHandle,
    audit: Arc<Mutex<AuditLog>>,
    clock: Clock,
    metrics: RemediationMetrics,
}

impl Remediation {
    /// Loads the catalogue and the policy and opens the audit log. Bad runbooks and a
    /// broken policy are logged (and deny or are left out); only an audit log that cannot
    /// be opened is an error.
    pub fn open(
        paths: RemediationPaths,
        clock: Clock,
        metrics: RemediationMetrics,
    ) -> Result<(Self, OpenReport), AuditError> {
        let (audit, report) = AuditLog::open(&paths.audit, clock.now_ms())?;
        let r = Self {
            catalogue: Arc::default(),
            policy: PolicyHandle::load(&paths.policies),
            audit: Arc::new(Mutex::new(audit)),
            paths,
            clock,
            metrics,
        };
        r.reload();
        Ok((r, report))
    }

    /// Reads the runbook and policy folders again (hot reload).
    pub fn reload(&self) {
        let cat = Catalogue::load_dir(&self.paths.runbooks);
        for e in &cat.errors {
            tracing::error!(error = %e, "runbook left out of the catalogue");
        }
        self.metrics.load_errors.set(cat.errors.len() as i64);
        *self.catalogue.write() = Arc::new(cat);
        let broken = self.policy.reload();
        if let Some(e) = &broken {
            tracing::error!(error = %e, "remediation policy is broken: every execution is denied");
        }
        self.metrics.policy_broken.set(i64::from(broken.is_some()));
    }

    /// Unix ms now, on the node's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The catalogue now.
    pub fn catalogue(&self) -> Arc<Catalogue> {
        self.catalogue.read().clone()
    }

    /// Appends an audit record (fsynced).
    pub fn audit(
        &self,
        kind: &str,
        actor: &str,
        detail: serde_json::Value,
    ) -> Result<AuditRecord, AuditError> {
        let r = self
            .audit
            .lock()
            .append(self.clock.now_ms(), kind, actor, detail);
        match &r {
            Ok(_) => {
                self.metrics.audit_records.inc();
            }
            Err(e) => {
                self.metrics.audit_errors.inc();
                tracing::error!(error = %e, kind, "audit append failed");
            }
        };
        r
    }

    /// Audit records with `seq > since`, at most `limit`.
    pub fn audit_since(&self, since: u64, limit: usize) -> Result<Vec<AuditRecord>, AuditError> {
        self.audit.lock().read_since(since, limit)
    }

    /// The audit file.
    pub fn audit_path(&self) -> PathBuf {
        self.audit.lock().path().to_path_buf()
    }

    /// The policy's decision on `input`, recorded with the input (`policy.decision`)
    /// before it is returned. If it cannot be recorded, the answer is a denial.
    pub fn decide(&self, input: &PolicyInput, subject: &str) -> Decision {
        let policy = self.policy.get();
        let d = policy.decide(input);
        let outcome = match (d.allow, policy.error()) {
            (_, Some(_)) => "error",
            (true, None) => "allow",
            (false, None) => "deny",
        };
        let rec = self.audit(
            "policy.decision",
            &input.requester,
            serde_json::json!({
                "subject": subject,
                "input": input,
                "decision": d,
            }),
        );
        let d = match rec {
            Ok(_) => d,
            Err(e) => Decision::deny(format!("the decision could not be audited: {e}")),
        };
        let outcome = if d.allow {
            outcome
        } else if outcome == "allow" {
            "deny"
        } else {
            outcome
        };
        self.metrics
            .decisions
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
        d
    }
}

/// What identifies the contents of a folder for reloading: each `(name, length, mtime)`.
fn fingerprint(dir: &Path) -> Vec<(String, u64, Option<std::time::SystemTime>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| {
                    let m = e.metadata().ok()?;
                    Some((
                        e.file_name().to_string_lossy().into_owned(),
                        m.len(),
                        m.modified().ok(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Hot reload: a supervised task that looks at the runbook and policy folders every
/// `every` and reloads both when a file was added, removed or changed. A broken edit
/// denies everything until it is fixed (see [`PolicyHandle::reload`]).
pub fn reload_child(
    remediation: Remediation,
    every: std::time::Duration,
) -> seawatch_runtime::supervision::ChildSpec {
    seawatch_runtime::supervision::ChildSpec::task(
        "remediation-reload",
        "reload",
        move |mut stop| {
            let r = remediation.clone();
            async move {
                let look = |r: &Remediation| {
                    (
                        fingerprint(&r.paths.runbooks),
                        fingerprint(&r.paths.policies),
                    )
                };
                let mut seen = look(&r);
                let mut tick = tokio::time::interval(every);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stop.stopped() => return Ok(()),
                    }
                    let now = look(&r);
                    if now != seen {
                        seen = now;
                        r.reload();
                        tracing::info!("runbooks and policy reloaded");
                    }
                }
            }
        },
    )
}
