# seawatch remediation policy (contracts §7). The node evaluates
# data.seawatch.remediation.decision for every proposed execution; the input is
#   {"runbook": {"name","risk","auto","writes","driver","applies_to"},
#    "targets": [{"id","kind","zone"}], "params": {...},
#    "requester", "role" ("viewer"|"operator"|"admin"; "system" for an automatic run),
#    "now" (unix ms),
#    "ship": {"links": [{"id","kind","primary","state"}],
#             "open_incidents": [{"id","severity","root_cause"}],
#             "recent_executions": [{"runbook","requester","at"}]}}
# and the settings are data.seawatch.config (data.json beside this file).
package seawatch.remediation

cfg := data.seawatch.config

risk := input.runbook.risk

automatic if input.role == "system"

# ---- time: hour of the day, ship time ----
hour := (floor(input.now / 3600000) + cfg.utc_offset_hours) % 24

in_window if {
	some w in cfg.change_windows
	hour >= w.start_hour
	hour < w.end_hour
}

# An emergency change (SOP-IT-15): an open critical incident on one of the targets.
emergency if {
	some inc in input.ship.open_incidents
	inc.severity == "critical"
	some t in input.targets
	inc.root_cause == t.id
}

primary_down if {
	some l in input.ship.links
	l.primary
	l.state == "down"
}

# ---- deny rules: each adds one reason ----
deny contains "no requester" if {
	not input.requester
}

deny contains "no requester" if {
	input.requester == ""
}

deny contains sprintf("role %s may not run %s-risk runbooks (allowed: %s)", [input.role, risk, concat(", ", cfg.roles[risk])]) if {
	not automatic
	not input.role in cfg.roles[risk]
}

deny contains sprintf("outside the change window (hour %d ship time) for a %s-risk runbook and no critical incident on the targets", [hour, risk]) if {
	risk != "low"
	not in_window
	not emergency
}

deny contains sprintf("blast radius: %d targets, at most %d for %s risk", [count(input.targets), cfg.max_targets[risk], risk]) if {
	count(input.targets) > cfg.max_targets[risk]
}

deny contains "no targets" if {
	count(input.targets) == 0
}

deny contains sprintf("target %s is in zone %s: no write path into %s", [t.id, t.zone, concat("/", cfg.protected_zones)]) if {
	input.runbook.writes
	some t in input.targets
	t.zone in cfg.protected_zones
}

deny contains sprintf("rate limit: %s ran %d times in the last hour, at most %d", [input.runbook.name, n, cfg.max_runs_per_hour]) if {
	n := count([e | some e in input.ship.recent_executions; e.runbook == input.runbook.name; e.at > input.now - 3600000])
	n >= cfg.max_runs_per_hour
}

deny contains sprintf("runbook %s is not marked auto", [input.runbook.name]) if {
	automatic
	not input.runbook.auto
}

deny contains "no automatic run while the primary link is down" if {
	automatic
	primary_down
	not cfg.auto_when_primary_down
}

deny contains sprintf("no automatic run of a %s-risk runbook", [risk]) if {
	automatic
	risk != "low"
}

# ---- the decision ----
approvals_required := 0 if automatic

approvals_required := cfg.approvals[risk] if not automatic

max_parallel := min([cfg.max_parallel[risk], count(input.targets)])

# How long an execution waits for its approvals, and what a timeout means ("deny": it
# expires; "approve": it starts, recorded as approved by the policy).
approval_timeout_s := cfg.approval_timeout_s[risk]

decision := {
	"allow": count(deny) == 0,
	"reasons": sort([r | some r in deny]),
	"approvals_required": approvals_required,
	"max_parallel": max_parallel,
	"approval_timeout_s": approval_timeout_s,
	"on_approval_timeout": cfg.on_approval_timeout,
}
