//! Runbook definitions: TOML files in the node's runbook folder (contracts §7), parsed and
//! validated on load. Every error names the file, the line and the field:
//! `deploy/runbooks/bounce.toml:12: action[0].timeout_s: expected 1..=3600 seconds, got 0`.
//!
//! ```toml
//! name = "bounce-access-port"
//! description = "Shut and re-enable an access port (SOP-IT-09 steps 3 and 7)"
//! driver = "ssh"                   # ssh | http | builtin
//! risk = "low"                     # low | medium | high
//! auto = false                     # may run without a human when the policy allows
//! writes = true                    # changes device state (the policy's zone rule)
//! applies_to = { incident_classes = ["flapping"], device_kinds = ["switch"] }
//!
//! [params.interface]
//! type = "string"                  # string | int | bool | enum
//! pattern = '^Gi1/0/[0-9]{1,2}$'   # every string param is matched before it is used
//!
//! [[precheck]]
//! command = "show interfaces status"
//! expect = "{interface}"           # a regex over the output, after substitution
//! timeout_s = 10
//! ```
//!
//! A step's `command` may hold several lines (sent in order, one session) and
//! `{param}` / `{target}` placeholders. A placeholder must name a declared parameter, and a
//! parameter's value must match its `pattern` (strings without one are limited to
//! `[A-Za-z0-9_./:-]`), so a value can never smuggle a second command into a step.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// Alert classes a runbook may apply to (the correlator's `AlertClass` names).
pub const INCIDENT_CLASSES: &[&str] = &[
    "unreachable",
    "down",
    "degraded",
    "errors",
    "flapping",
    "anomaly",
    "capacity",
    "outlier",
    "outage_risk",
];

/// Device and link kinds of the inventory (`DeviceSpec::kind`, `LinkSpec::kind`).
pub const ELEMENT_KINDS: &[&str] = &[
    "switch",
    "router",
    "firewall",
    "ap",
    "server",
    "modem",
    "pbx",
    "cctv",
    "pos",
    "hvac",
    "wlc",
    "vsat",
    "leo",
    "lte",
    "port-wifi",
];

/// Characters a string parameter without its own `pattern` may hold.
const SAFE_VALUE: &str = r"^[A-Za-z0-9_./:-]{1,128}$";

/// How a runbook reaches its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Driver {
    /// Commands over SSH to the device's CLI.
    Ssh,
    /// Requests to the device's HTTP API.
    Http,
    /// Actions inside seawatch.
    Builtin,
}

/// How much a runbook can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Reversible, one element.
    Low,
    /// Reversible, service-affecting while it runs.
    Medium,
    /// Hard to reverse or wide.
    High,
}

impl Risk {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        }
    }
}

/// A parameter's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    /// Text matched by `pattern`.
    String,
    /// A whole number within `min..=max`.
    Int,
    /// `true` or `false`.
    Bool,
    /// One of `values`.
    Enum,
}

/// One declared parameter.
#[derive(Debug, Clone, Serialize)]
pub struct Param {
    /// Its type.
    #[serde(rename = "type")]
    pub ty: ParamType,
    /// What it is, for the console.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Must be given (else `default` is used, if any).
    pub required: bool,
    /// The value when none is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<toml::Value>,
    /// For strings: the regex a value must match (anchored by the author).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// For enums: the allowed values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// For ints: the smallest value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    /// For ints: the largest value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    #[serde(skip)]
    regex: Option<Regex>,
}

/// One step: a command, the pattern its output must match, and how long it may take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What it does, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The command (several lines: sent in order); `{param}` and `{target}` are filled in.
    pub command: String,
    /// A regex the output must match for the step to pass (after substitution of the
    /// placeholders, each value escaped); empty: any output passes.
    pub expect: String,
    /// Seconds the step may take.
    pub timeout_s: u64,
}

/// Which incidents and elements a runbook is for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct AppliesTo {
    /// Alert classes ([`INCIDENT_CLASSES`]).
    pub incident_classes: Vec<String>,
    /// Device or link kinds ([`ELEMENT_KINDS`]).
    pub device_kinds: Vec<String>,
}

/// A validated runbook.
#[derive(Debug, Clone, Serialize)]
pub struct Runbook {
    /// Unique name (`[a-z0-9-]`), the `{name}` of the API routes.
    pub name: String,
    /// What it does.
    pub description: String,
    /// The procedure it follows (an SOP file name), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sop: Option<String>,
    /// Where it applies.
    pub applies_to: AppliesTo,
    /// Its parameters, by name.
    pub params: BTreeMap<String, Param>,
    /// How it reaches targets.
    pub driver: Driver,
    /// How much it can break.
    pub risk: Risk,
    /// May run without a human when the policy allows it.
    pub auto: bool,
    /// Changes device state (false: read-only diagnostics).
    pub writes: bool,
    /// `ssh` only: a read-only command that prints the device's running configuration;
    /// when set, the dry run shows what each action step would change in it
    /// ([`super::config_diff`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_command: Option<String>,
    /// Checks before anything changes; a failure stops the execution, nothing to undo.
    pub precheck: Vec<Step>,
    /// The change.
    pub action: Vec<Step>,
    /// Checks after the change; a failure runs `rollback`.
    pub verify: Vec<Step>,
    /// Undoes `action`.
    pub rollback: Vec<Step>,
    /// The file it came from.
    #[serde(skip)]
    pub file: PathBuf,
}

/// A runbook file that does not load: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunbookError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The field (`action[0].timeout_s`), when known.
    pub field: Option<String>,
    /// What was expected.
    pub message: String,
}

impl fmt::Display for RunbookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for RunbookError {}

// ---- the file as written (spans kept for located errors) ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRunbook {
    name: Spanned<String>,
    description: Spanned<String>,
    #[serde(default)]
    sop: Option<String>,
    #[serde(default)]
    applies_to: Option<Spanned<RawAppliesTo>>,
    #[serde(default)]
    params: BTreeMap<String, Spanned<RawParam>>,
    driver: Driver,
    risk: Risk,
    #[serde(default)]
    auto: bool,
    #[serde(default = "yes")]
    writes: bool,
    #[serde(default)]
    config_command: Option<Spanned<String>>,
    #[serde(default)]
    precheck: Vec<Spanned<RawStep>>,
    #[serde(default)]
    action: Vec<Spanned<RawStep>>,
    #[serde(default)]
    verify: Vec<Spanned<RawStep>>,
    #[serde(default)]
    rollback: Vec<Spanned<RawStep>>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAppliesTo {
    #[serde(default)]
    incident_classes: Vec<Spanned<String>>,
    #[serde(default)]
    device_kinds: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParam {
    #[serde(rename = "type")]
    ty: ParamType,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    default: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pattern: Option<Spanned<String>>,
    #[serde(default)]
    values: Vec<String>,
    #[serde(default)]
    min: Option<i64>,
    #[serde(default)]
    max: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    name: Option<String>,
    command: Spanned<String>,
    #[serde(default)]
    expect: Option<Spanned<String>>,
    timeout_s: Spanned<u64>,
}

/// Most seconds a step may be given.
pub const MAX_STEP_TIMEOUT_S: u64 = 3600;

struct Locator<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Locator<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .bytes()
            .filter(|b| *b == b'\n')
            .count()
            + 1
    }

    fn err(&self, span: Range<usize>, field: &str, message: impl Into<String>) -> RunbookError {
        RunbookError {
            file: self.file.to_path_buf(),
            line: Some(self.line_of(span.start)),
            field: Some(field.to_string()),
            message: message.into(),
        }
    }
}

/// The placeholders `{name}` in `s`.
fn placeholders(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close)
                if after[..close]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && close > 0 =>
            {
                out.push(&after[..close]);
                rest = &after[close + 1..];
            }
            _ => rest = after,
        }
    }
    out
}

impl Runbook {
    /// Parses and validates one runbook file's text; `file` names it in errors.
    pub fn parse(file: &Path, text: &str) -> Result<Runbook, RunbookError> {
        let loc = Locator { file, text };
        let raw: RawRunbook = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| loc.line_of(s.start));
            RunbookError {
                file: file.to_path_buf(),
                line,
                field: None,
                message: e.message().trim().to_string(),
            }
        })?;
        let name = raw.name.get_ref();
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(loc.err(
                raw.name.span(),
                "name",
                format!("expected 1 to 64 of [a-z0-9-], got {name:?}"),
            ));
        }
        if raw.description.get_ref().trim().is_empty() {
            return Err(loc.err(raw.description.span(), "description", "must not be empty"));
        }
        let mut applies_to = AppliesTo::default();
        if let Some(a) = &raw.applies_to {
            for c in &a.get_ref().incident_classes {
                if !INCIDENT_CLASSES.contains(&c.get_ref().as_str()) {
                    return Err(loc.err(
                        c.span(),
                        "applies_to.incident_classes",
                        format!(
                            "{:?}: expected one of {}",
                            c.get_ref(),
                            INCIDENT_CLASSES.join(", ")
                        ),
                    ));
                }
                applies_to.incident_classes.push(c.get_ref().clone());
            }
            for k in &a.get_ref().device_kinds {
                if !ELEMENT_KINDS.contains(&k.get_ref().as_str()) {
                    return Err(loc.err(
                        k.span(),
                        "applies_to.device_kinds",
                        format!(
                            "{:?}: expected one of {}",
                            k.get_ref(),
                            ELEMENT_KINDS.join(", ")
                        ),
                    ));
                }
                applies_to.device_kinds.push(k.get_ref().clone());
            }
        }
        let mut params = BTreeMap::new();
        for (pname, p) in &raw.params {
            let field = format!("params.{pname}");
            if pname == "target" {
                return Err(loc.err(
                    p.span(),
                    &field,
                    "`target` is reserved (the element a step acts on)",
                ));
            }
            let rp = p.get_ref();
            let regex = match (&rp.ty, &rp.pattern) {
                (ParamType::String, Some(pat)) => Some(Regex::new(pat.get_ref()).map_err(|e| {
                    loc.err(
                        pat.span(),
                        &format!("{field}.pattern"),
                        format!("not a regex: {e}"),
                    )
                })?),
                (ParamType::String, None) => None,
                (_, Some(pat)) => {
                    return Err(loc.err(
                        pat.span(),
                        &format!("{field}.pattern"),
                        "only string params take a pattern",
                    ))
                }
                _ => None,
            };
            if rp.ty == ParamType::Enum && rp.values.is_empty() {
                return Err(loc.err(
                    p.span(),
                    &format!("{field}.values"),
                    "an enum needs at least one value",
                ));
            }
            if let (Some(lo), Some(hi)) = (rp.min, rp.max) {
                if lo > hi {
                    return Err(loc.err(
                        p.span(),
                        &format!("{field}.min"),
                        format!("min {lo} is above max {hi}"),
                    ));
                }
            }
            let param = Param {
                ty: rp.ty,
                description: rp.description.clone(),
                required: rp.required,
                default: rp.default.as_ref().map(|d| d.get_ref().clone()),
                pattern: rp.pattern.as_ref().map(|s| s.get_ref().clone()),
                values: rp.values.clone(),
                min: rp.min,
                max: rp.max,
                regex,
            };
            if let Some(d) = &rp.default {
                param
                    .check(d.get_ref())
                    .map_err(|m| loc.err(d.span(), &format!("{field}.default"), m))?;
            }
            params.insert(pname.clone(), param);
        }
        let steps = |list: &[Spanned<RawStep>], phase: &str| -> Result<Vec<Step>, RunbookError> {
            list.iter()
                .enumerate()
                .map(|(i, s)| {
                    let at = |f: &str| format!("{phase}[{i}].{f}");
                    let st = s.get_ref();
                    let cmd = st.command.get_ref();
                    if cmd.trim().is_empty() {
                        return Err(loc.err(
                            st.command.span(),
                            &at("command"),
                            "must not be empty",
                        ));
                    }
                    let expect = st
                        .expect
                        .as_ref()
                        .map(|e| e.get_ref().clone())
                        .unwrap_or_default();
                    for (text, f, span) in [
                        (cmd.as_str(), "command", st.command.span()),
                        (
                            expect.as_str(),
                            "expect",
                            st.expect.as_ref().map(|e| e.span()).unwrap_or(s.span()),
                        ),
                    ] {
                        for ph in placeholders(text) {
                            if ph != "target" && !params.contains_key(ph) {
                                return Err(loc.err(
                                    span.clone(),
                                    &at(f),
                                    format!("{{{ph}}} names no declared parameter"),
                                ));
                            }
                        }
                    }
                    // the pattern must compile with any safe value in its placeholders
                    let probe = placeholders_filled(&expect, &|_| "x".to_string(), true);
                    if let Err(e) = Regex::new(&probe) {
                        return Err(loc.err(
                            st.expect.as_ref().map(|e| e.span()).unwrap_or(s.span()),
                            &at("expect"),
                            format!("not a regex: {e}"),
                        ));
                    }
                    let t = *st.timeout_s.get_ref();
                    if t == 0 || t > MAX_STEP_TIMEOUT_S {
                        return Err(loc.err(
                            st.timeout_s.span(),
                            &at("timeout_s"),
                            format!("expected 1..={MAX_STEP_TIMEOUT_S} seconds, got {t}"),
                        ));
                    }
                    Ok(Step {
                        name: st.name.clone(),
                        command: cmd.clone(),
                        expect,
                        timeout_s: t,
                    })
                })
                .collect()
        };
        let precheck = steps(&raw.precheck, "precheck")?;
        let action = steps(&raw.action, "action")?;
        let verify = steps(&raw.verify, "verify")?;
        let rollback = steps(&raw.rollback, "rollback")?;
        if action.is_empty() {
            return Err(RunbookError {
                file: file.to_path_buf(),
                line: None,
                field: Some("action".into()),
                message: "a runbook needs at least one action step".into(),
            });
        }
        if raw.writes && rollback.is_empty() {
            return Err(RunbookError {
                file: file.to_path_buf(),
                line: None,
                field: Some("rollback".into()),
                message: "a runbook that writes needs at least one rollback step".into(),
            });
        }
        if raw.writes && verify.is_empty() {
            return Err(RunbookError {
                file: file.to_path_buf(),
                line: None,
                field: Some("verify".into()),
                message: "a runbook that writes needs at least one verify step".into(),
            });
        }
        let config_command = match raw.config_command {
            None => None,
            Some(c) => {
                let why = if raw.driver != Driver::Ssh {
                    Some("only ssh runbooks read a device's configuration")
                } else if c.get_ref().trim().is_empty() || c.get_ref().contains('\n') {
                    Some("expected one command line, e.g. \"show running-config\"")
                } else if c.get_ref().contains('{') {
                    Some("no placeholders: it is read before any parameter is trusted")
                } else {
                    None
                };
                if let Some(message) = why {
                    return Err(loc.err(c.span(), "config_command", message));
                }
                Some(c.into_inner().trim().to_string())
            }
        };
        Ok(Runbook {
            name: name.clone(),
            description: raw.description.get_ref().clone(),
            sop: raw.sop,
            applies_to,
            params,
            driver: raw.driver,
            risk: raw.risk,
            auto: raw.auto,
            writes: raw.writes,
            config_command,
            precheck,
            action,
            verify,
            rollback,
            file: file.to_path_buf(),
        })
    }

    /// Checks `given` against the declared parameters and fills in defaults: every
    /// required one present, no unknown one, each value of its type and pattern.
    pub fn resolve_params(
        &self,
        given: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<BTreeMap<String, String>, String> {
        for k in given.keys() {
            if !self.params.contains_key(k) {
                return Err(format!(
                    "params.{k}: not a parameter of runbook {}",
                    self.name
                ));
            }
        }
        let mut out = BTreeMap::new();
        for (name, p) in &self.params {
            let v = match given.get(name) {
                Some(v) => json_to_toml(v)
                    .ok_or_else(|| format!("params.{name}: unsupported value {v}"))?,
                None => match &p.default {
                    Some(d) => d.clone(),
                    None if p.required => return Err(format!("params.{name}: required")),
                    None => continue,
                },
            };
            p.check(&v).map_err(|m| format!("params.{name}: {m}"))?;
            out.insert(name.clone(), value_text(&v));
        }
        Ok(out)
    }

    /// Every step of the runbook, in the order of a full run, with its commands filled
    /// in for `target` and `params` (the dry run's plan for one target).
    pub fn render(&self, target: &str, params: &BTreeMap<String, String>) -> Vec<(Phase, Step)> {
        let lookup = |k: &str| {
            if k == "target" {
                target.to_string()
            } else {
                params.get(k).cloned().unwrap_or_default()
            }
        };
        [
            (Phase::Precheck, &self.precheck),
            (Phase::Action, &self.action),
            (Phase::Verify, &self.verify),
            (Phase::Rollback, &self.rollback),
        ]
        .into_iter()
        .flat_map(|(phase, steps)| {
            steps.iter().map(move |s| {
                (
                    phase,
                    Step {
                        name: s.name.clone(),
                        command: placeholders_filled(&s.command, &lookup, false),
                        expect: placeholders_filled(&s.expect, &lookup, true),
                        timeout_s: s.timeout_s,
                    },
                )
            })
        })
        .collect()
    }
}

/// The phase of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Before the change.
    Precheck,
    /// The change.
    Action,
    /// After the change.
    Verify,
    /// Undoing the change.
    Rollback,
}

fn placeholders_filled(s: &str, lookup: &dyn Fn(&str) -> String, escape: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close)
                if close > 0
                    && after[..close]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                let v = lookup(&after[..close]);
                out.push_str(&if escape { regex::escape(&v) } else { v });
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn json_to_toml(v: &serde_json::Value) -> Option<toml::Value> {
    Some(match v {
        serde_json::Value::String(s) => toml::Value::String(s.clone()),
        serde_json::Value::Bool(b) => toml::Value::Boolean(*b),
        serde_json::Value::Number(n) => toml::Value::Integer(n.as_i64()?),
        _ => return None,
    })
}

/// A parameter value as it is substituted into commands.
pub fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Param {
    fn check(&self, v: &toml::Value) -> Result<(), String> {
        match (self.ty, v) {
            (ParamType::String, toml::Value::String(s)) => {
                let ok = match &self.regex {
                    Some(re) => re.is_match(s),
                    None => Regex::new(SAFE_VALUE)
                        .map(|re| re.is_match(s))
                        .unwrap_or(false),
                };
                // Newlines never pass, whatever the pattern: a step is one command a line.
                if ok && !s.contains(['\n', '\r']) {
                    Ok(())
                } else {
                    Err(format!(
                        "{s:?} does not match {}",
                        self.pattern.as_deref().unwrap_or(SAFE_VALUE)
                    ))
                }
            }
            (ParamType::Int, toml::Value::Integer(i)) => {
                if self.min.is_some_and(|lo| *i < lo) || self.max.is_some_and(|hi| *i > hi) {
                    Err(format!(
                        "{i} is outside {}..={}",
                        self.min.map(|v| v.to_string()).unwrap_or_default(),
                        self.max.map(|v| v.to_string()).unwrap_or_default()
                    ))
                } else {
                    Ok(())
                }
            }
            (ParamType::Bool, toml::Value::Boolean(_)) => Ok(()),
            (ParamType::Enum, toml::Value::String(s)) if self.values.contains(s) => Ok(()),
            (ParamType::Enum, _) => Err(format!("expected one of {}", self.values.join(", "))),
            (ty, v) => Err(format!("expected {ty:?}, got {}", v.type_str()).to_lowercase()),
        }
    }
}

/// The runbooks of a folder, by name, and the files that did not load.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    /// Loaded runbooks, by name.
    pub runbooks: BTreeMap<String, Runbook>,
    /// Files that did not load (they are left out of the catalogue).
    pub errors: Vec<RunbookError>,
}

impl Catalogue {
    /// Loads every `*.toml` of `dir` (sorted by file name). A missing folder is an empty
    /// catalogue; a bad file is left out and reported in `errors`, as is a second file
    /// with a name already taken.
    pub fn load_dir(dir: &Path) -> Catalogue {
        let mut cat = Catalogue::default();
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return cat,
            Err(e) => {
                cat.errors.push(RunbookError {
                    file: dir.to_path_buf(),
                    line: None,
                    field: None,
                    message: e.to_string(),
                });
                return cat;
            }
        };
        files.sort();
        for f in files {
            let text = match std::fs::read_to_string(&f) {
                Ok(t) => t,
                Err(e) => {
                    cat.errors.push(RunbookError {
                        file: f,
                        line: None,
                        field: None,
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            match Runbook::parse(&f, &text) {
                Ok(rb) => {
                    if let Some(first) = cat.runbooks.get(&rb.name) {
                        cat.errors.push(RunbookError {
                            file: f,
                            line: None,
                            field: Some("name".into()),
                            message: format!(
                                "{} is already defined in {}",
                                rb.name,
                                first.file.display()
                            ),
                        });
                    } else {
                        cat.runbooks.insert(rb.name.clone(), rb);
                    }
                }
                Err(e) => cat.errors.push(e),
            }
        }
        cat
    }

    /// One runbook.
    pub fn get(&self, name: &str) -> Option<&Runbook> {
        self.runbooks.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "bounce-port"
description = "Shut and re-enable a port"
driver = "ssh"
risk = "low"
applies_to = { incident_classes = ["flapping"], device_kinds = ["switch"] }

[params.interface]
type = "string"
required = true
pattern = '^Gi1/0/[0-9]{1,2}$'

[[precheck]]
command = "show interfaces status"
expect = "{interface}"
timeout_s = 10

[[action]]
command = """
interface {interface}
shutdown
no shutdown"""
timeout_s = 20

[[verify]]
command = "show interfaces status"
expect = '{interface}\s+connected'
timeout_s = 10

[[rollback]]
command = "interface {interface}\nno shutdown"
timeout_s = 10
"#;

    fn parse(text: &str) -> Result<Runbook, RunbookError> {
        Runbook::parse(Path::new("rb/x.toml"), text)
    }

    #[test]
    fn config_command_is_one_plain_line_of_an_ssh_runbook() {
        let base = "name = \"x\"\ndescription = \"d\"\ndriver = \"DRIVER\"\nrisk = \"low\"\nwrites = false\nconfig_command = CMD\n[[action]]\ncommand = \"show version\"\ntimeout_s = 5\n";
        let rb =
            |driver: &str, cmd: &str| parse(&base.replace("DRIVER", driver).replace("CMD", cmd));
        assert_eq!(
            rb("ssh", "\"show running-config\"")
                .unwrap()
                .config_command
                .as_deref(),
            Some("show running-config")
        );
        for (driver, cmd, why) in [
            ("http", "\"GET /config\"", "only ssh"),
            ("ssh", "\"\"", "one command line"),
            ("ssh", "\"show run {interface}\"", "no placeholders"),
        ] {
            let e = rb(driver, cmd).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("config_command"), "{e}");
            assert_eq!(e.line, Some(6), "{e}");
            assert!(e.message.contains(why), "{e}");
        }
    }

    #[test]
    fn a_good_runbook_renders_its_plan_with_escaped_patterns() {
        let rb = parse(GOOD).unwrap();
        assert_eq!(rb.name, "bounce-port");
        let mut given = serde_json::Map::new();
        given.insert("interface".into(), "Gi1/0/7".into());
        let params = rb.resolve_params(&given).unwrap();
        let plan = rb.render("acc-sw-3", &params);
        assert_eq!(plan.len(), 4);
        assert_eq!(plan[1].0, Phase::Action);
        assert_eq!(
            plan[1].1.command,
            "interface Gi1/0/7\nshutdown\nno shutdown"
        );
        assert_eq!(plan[2].1.expect, r"Gi1/0/7\s+connected");
        let v = serde_json::to_value(&rb).unwrap();
        assert_eq!(v["params"]["interface"]["type"], "string");
        assert_eq!(v["risk"], "low");
    }

    #[test]
    fn params_are_typed_and_cannot_smuggle_commands() {
        let rb = parse(GOOD).unwrap();
        for (bad, why) in [
            (serde_json::json!({}), "params.interface: required"),
            (
                serde_json::json!({"interface": "Gi1/0/7\nreload"}),
                "does not match",
            ),
            (
                serde_json::json!({"interface": "Gi1/0/7; reload"}),
                "does not match",
            ),
            (serde_json::json!({"interface": 7}), "expected string"),
            (
                serde_json::json!({"interface": "Gi1/0/7", "x": 1}),
                "params.x: not a parameter",
            ),
        ] {
            let err = rb.resolve_params(bad.as_object().unwrap()).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "timeout_s = 20",
                "timeout_s = 0",
                "rb/x.toml:23: action[0].timeout_s: expected 1..=3600 seconds, got 0",
            ),
            ("risk = \"low\"", "risk = \"huge\"", "rb/x.toml:5: "),
            (
                "name = \"bounce-port\"",
                "name = \"Bounce Port\"",
                "rb/x.toml:2: name: expected 1 to 64 of [a-z0-9-]",
            ),
            (
                "[\"flapping\"]",
                "[\"flaping\"]",
                "rb/x.toml:6: applies_to.incident_classes: \"flaping\": expected one of",
            ),
            (
                "expect = \"{interface}\"",
                "expect = \"{iface}\"",
                "rb/x.toml:15: precheck[0].expect: {iface} names no declared parameter",
            ),
            (
                "pattern = '^Gi1/0/[0-9]{1,2}$'",
                "pattern = '^Gi1/0/[0-9'",
                "rb/x.toml:11: params.interface.pattern: not a regex",
            ),
            (
                "driver = \"ssh\"",
                "driver = \"ssh\"\ncolour = 1",
                "rb/x.toml:5: unknown field `colour`",
            ),
        ];
        for (from, to, want) in cases {
            let text = GOOD.replacen(from, to, 1);
            assert_ne!(text, GOOD, "{from}");
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.starts_with(want), "want {want:?}\n got {err:?}");
        }
        let no_rollback = GOOD.split("[[rollback]]").next().unwrap();
        assert_eq!(
            parse(no_rollback).unwrap_err().to_string(),
            "rb/x.toml: rollback: a runbook that writes needs at least one rollback step"
        );
    }

    #[test]
    fn the_catalogue_keeps_good_files_and_reports_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), GOOD).unwrap();
        std::fs::write(dir.path().join("b.toml"), GOOD).unwrap();
        std::fs::write(dir.path().join("c.toml"), "name = 1").unwrap();
        std::fs::write(dir.path().join("notes.md"), "not a runbook").unwrap();
        let cat = Catalogue::load_dir(dir.path());
        assert_eq!(cat.runbooks.len(), 1);
        assert_eq!(cat.errors.len(), 2, "{:?}", cat.errors);
        assert!(cat.errors[0].to_string().contains("already defined in"));
        assert!(
            cat.errors[1].to_string().contains("c.toml:1"),
            "{}",
            cat.errors[1]
        );
        assert!(Catalogue::load_dir(&dir.path().join("none"))
            .runbooks
            .is_empty());
    }

    /// The starter set in deploy/runbooks loads without an error.
    #[test]
    fn the_starter_runbooks_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/runbooks");
        let cat = Catalogue::load_dir(&dir);
        assert!(cat.errors.is_empty(), "{:#?}", cat.errors);
        for name in [
            "bounce-access-port",
            "wan-failover-to-leo",
            "clear-full-disk",
            "restart-pbx-trunk",
            "move-ap-to-controller",
            "silence-device-mail",
        ] {
            assert!(cat.get(name).is_some(), "{name} missing");
        }
    }
}
