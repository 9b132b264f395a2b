//! Guarded remediation (contracts §7): runbooks as validated files ([`spec`]), the Rego
//! policy ([`policy`]), the hash-chained audit log ([`audit`]), the catalogue, policy and
//! audit of a node together ([`service`]), and executions ([`exec`]): proposed with their
//! dry run and the policy's decision, approved by a quorum of other operators, run step by
//! step through the `ssh` ([`ssh`]), `http` ([`http`]) and `builtin` ([`builtin`])
//! drivers, every transition journaled in the audit log and resumed from it after a crash;
//! an ssh runbook's dry run also shows what its actions would change in each target's
//! running configuration ([`config_diff`]).
//! [`auto`] proposes automatic runbooks for open incidents; [`to_log`] ships the audit
//! records into the ship's event log (and so to shore); [`remote`] folds them back into
//! executions at shore. Every change of an execution is
//! pushed to the console's WebSocket sessions as `{"type":"runbook", ...}`.

pub mod audit;
pub mod auto;
pub mod builtin;
pub mod config_diff;
pub mod exec;
pub mod http;
pub mod policy;
pub mod remote;
pub mod service;
pub mod spec;
pub mod ssh;
pub mod to_log;
