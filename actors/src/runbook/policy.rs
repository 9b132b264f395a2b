//! The remediation policy: Rego files (OPA's language) evaluated by `regorus`
//! (contracts §7).
//!
//! A policy folder holds `*.rego` files and optionally `data.json` (settings the rules read
//! as `data.…`). The node evaluates `data.seawatch.remediation.decision`, which must be an
//! object `{"allow": bool, "reasons": [string], "approvals_required": int,
//! "max_parallel": int}`. Anything else — a file that does not parse, a rule that fails,
//! a decision of the wrong shape, a missing folder — denies every execution, with the
//! error as the reason: a broken policy never lets a change through.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use regorus::{Engine, Value};
use serde::{Deserialize, Serialize};

/// The rule the node evaluates.
pub const DECISION_RULE: &str = "data.seawatch.remediation.decision";

/// What the policy decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The execution may go ahead (after its approvals).
    pub allow: bool,
    /// Why not (or notes when allowed).
    pub reasons: Vec<String>,
    /// Distinct approvers needed, never counting the requester.
    pub approvals_required: u32,
    /// Targets acted on at once.
    pub max_parallel: u32,
    /// Seconds an execution may wait for its approvals (absent: the node's default,
    /// [`super::exec::APPROVAL_TIMEOUT_MS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_timeout_s: Option<u64>,
    /// What a timeout means: `deny` (the default: the execution expires) or `approve`
    /// (it starts as if its approvals had come, recorded as approved by `policy`).
    #[serde(default, skip_serializing_if = "OnTimeout::is_deny")]
    pub on_approval_timeout: OnTimeout,
}

/// The outcome of an approval timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    /// Expire the execution (nothing runs).
    #[default]
    Deny,
    /// Start it.
    Approve,
}

impl OnTimeout {
    fn is_deny(&self) -> bool {
        *self == OnTimeout::Deny
    }
}

impl Decision {
    /// A denial for `reason`.
    pub fn deny(reason: impl Into<String>) -> Self {
        Self {
            allow: false,
            reasons: vec![reason.into()],
            approvals_required: 0,
            max_parallel: 0,
            approval_timeout_s: None,
            on_approval_timeout: OnTimeout::Deny,
        }
    }
}

/// The runbook as the policy sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunbookFacts {
    /// Its name.
    pub name: String,
    /// `low`, `medium`, `high`.
    pub risk: String,
    /// Marked as allowed to run without a human.
    pub auto: bool,
    /// Changes device state.
    pub writes: bool,
    /// `ssh`, `http`, `builtin`.
    pub driver: String,
}

/// One target as the policy sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetFacts {
    /// Device or link id.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Its zone (`it` unless the targets file says otherwise; `ot`, `bridge`, …).
    pub zone: String,
}

/// One link as the policy sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkFacts {
    /// Link id.
    pub id: String,
    /// vsat, leo, lte, …
    pub kind: String,
    /// Carries sync while up.
    pub primary: bool,
    /// `up`, `degraded`, `down`.
    pub state: String,
}

/// An open incident as the policy sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentFacts {
    /// Incident id.
    pub id: String,
    /// Its severity.
    pub severity: String,
    /// Its root cause element.
    pub root_cause: String,
}

/// A recent execution as the policy sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentExecution {
    /// The runbook.
    pub runbook: String,
    /// Who asked for it.
    pub requester: String,
    /// When, unix ms.
    pub at: i64,
}

/// The ship's state as the policy sees it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ShipFacts {
    /// Its links.
    pub links: Vec<LinkFacts>,
    /// Its open incidents.
    pub open_incidents: Vec<IncidentFacts>,
    /// Executions of the last day.
    pub recent_executions: Vec<RecentExecution>,
}

/// The policy's input (contracts §7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyInput {
    /// The runbook.
    pub runbook: RunbookFacts,
    /// Its targets.
    pub targets: Vec<TargetFacts>,
    /// Its parameters as given.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The user asking (`seawatch` for an automatic run).
    pub requester: String,
    /// Their role (`system` for an automatic run).
    pub role: String,
    /// Unix ms.
    pub now: i64,
    /// The ship's state.
    pub ship: ShipFacts,
}

/// A loaded policy: an engine ready to decide, or the error that makes it deny all.
pub struct Policy {
    engine: Result<Mutex<Engine>, String>,
    /// Where it came from, for messages.
    pub source: String,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("source", &self.source)
            .field("error", &self.error())
            .finish()
    }
}

impl Policy {
    /// A policy from Rego texts `(name, text)` and an optional `data.json` text. Never
    /// fails: a broken policy denies everything (see [`Policy::error`]).
    pub fn from_sources(source: &str, rego: &[(String, String)], data: Option<&str>) -> Self {
        Self {
            engine: Self::build(rego, data).map(Mutex::new),
            source: source.to_string(),
        }
    }

    fn build(rego: &[(String, String)], data: Option<&str>) -> Result<Engine, String> {
        if rego.is_empty() {
            return Err("no .rego file".into());
        }
        let mut engine = Engine::new();
        for (name, text) in rego {
            engine
                .add_policy(name.clone(), text.clone())
                .map_err(|e| format!("{name}: {e}"))?;
        }
        if let Some(d) = data {
            engine
                .add_data_json(d)
                .map_err(|e| format!("data.json: {e}"))?;
        }
        // Evaluate once with an empty input: a rule that cannot run at all (an undefined
        // function, a type error in a constant) shows up now, not at the first change.
        engine.set_input(Value::new_object());
        engine
            .eval_rule(DECISION_RULE.to_string())
            .map(|_| ())
            .or_else(|e| {
                // an empty input may legitimately leave the decision undefined
                let msg = e.to_string();
                if msg.contains("undefined") {
                    Ok(())
                } else {
                    Err(format!("{DECISION_RULE}: {msg}"))
                }
            })?;
        Ok(engine)
    }

    /// Loads every `*.rego` of `dir` (sorted by name) and `dir/data.json` if present.
    pub fn load_dir(dir: &Path) -> Self {
        let source = dir.display().to_string();
        let files = match std::fs::read_dir(dir) {
            Ok(rd) => {
                let mut v: Vec<PathBuf> = rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "rego"))
                    .collect();
                v.sort();
                v
            }
            Err(e) => {
                return Self {
                    engine: Err(format!("policy folder {source}: {e}")),
                    source,
                }
            }
        };
        let mut rego = Vec::new();
        for f in files {
            match std::fs::read_to_string(&f) {
                Ok(t) => rego.push((f.display().to_string(), t)),
                Err(e) => {
                    return Self {
                        engine: Err(format!("{}: {e}", f.display())),
                        source,
                    }
                }
            }
        }
        let data_path = dir.join("data.json");
        let data = match std::fs::read_to_string(&data_path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Self {
                    engine: Err(format!("{}: {e}", data_path.display())),
                    source,
                }
            }
        };
        if rego.is_empty() {
            return Self {
                engine: Err(format!("policy folder {source}: no .rego file")),
                source,
            };
        }
        Self::from_sources(&source, &rego, data.as_deref())
    }

    /// Why this policy denies everything, if it does.
    pub fn error(&self) -> Option<&str> {
        self.engine.as_ref().err().map(String::as_str)
    }

    /// The decision for `input`. Never panics and never allows on an error.
    pub fn decide(&self, input: &PolicyInput) -> Decision {
        let engine = match &self.engine {
            Ok(e) => e,
            Err(e) => return Decision::deny(format!("policy is broken, denying everything: {e}")),
        };
        let input = match serde_json::to_string(input) {
            Ok(s) => s,
            Err(e) => return Decision::deny(format!("policy input: {e}")),
        };
        let value = {
            let mut engine = engine.lock();
            if let Err(e) = engine.set_input_json(&input) {
                return Decision::deny(format!("policy input: {e}"));
            }
            engine.eval_rule(DECISION_RULE.to_string())
        };
        match value {
            Ok(v) => Self::read(&v),
            Err(e) => Decision::deny(format!("policy evaluation failed, denying: {e}")),
        }
    }

    fn read(v: &Value) -> Decision {
        if *v == Value::Undefined {
            return Decision::deny(format!(
                "{DECISION_RULE} is undefined for this input, denying"
            ));
        }
        let json = match v.to_json_str() {
            Ok(s) => s,
            Err(e) => return Decision::deny(format!("policy decision: {e}")),
        };
        match serde_json::from_str::<Decision>(&json) {
            Ok(d) if d.allow && d.max_parallel == 0 => {
                Decision::deny("policy decision allows with max_parallel 0, denying")
            }
            Ok(d) => d,
            Err(e) => Decision::deny(format!(
                "{DECISION_RULE} is not {{allow, reasons, approvals_required, max_parallel}} ({e}): {json}"
            )),
        }
    }
}

/// The node's current policy, replaced whole on reload. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PolicyHandle {
    current: Arc<RwLock<Arc<Policy>>>,
    dir: Option<PathBuf>,
}

impl PolicyHandle {
    /// A handle on the policy of `dir`, loaded now.
    pub fn load(dir: &Path) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(Policy::load_dir(dir)))),
            dir: Some(dir.to_path_buf()),
        }
    }

    /// A handle on a fixed policy.
    pub fn fixed(p: Policy) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(p))),
            dir: None,
        }
    }

    /// The policy now.
    pub fn get(&self) -> Arc<Policy> {
        self.current.read().clone()
    }

    /// Reads the folder again; the new policy (working or not) replaces the old one, so
    /// a broken edit denies everything until it is fixed. Returns its error, if any.
    pub fn reload(&self) -> Option<String> {
        let dir = self.dir.as_ref()?;
        let p = Policy::load_dir(dir);
        let err = p.error().map(str::to_string);
        *self.current.write() = Arc::new(p);
        err
    }

    /// The decision of the current policy.
    pub fn decide(&self, input: &PolicyInput) -> Decision {
        self.get().decide(input)
    }
}

#[cfg(test)]
mod tests;
