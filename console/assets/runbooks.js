// seawatch console, remediation (contracts §2, §7): an incident's suggested runbooks
// (GET /api/incidents/{id}/runbooks) with a form for the parameters a human gives, the
// proposal (POST /api/runbooks/{name}/executions: 201 with the dry run, or 403 with the
// policy's reasons), and each execution with its plan (and, for ssh runbooks, what each
// action would change in the device's configuration), policy decision, approvals and
// step output, kept current by the WebSocket's "runbook" pushes. Approve and Reject for
// operators (never on their own request: the server refuses it, 403).
// Uses app.js's S, el(), when(), flash(), api(), apply(), renderAll().
// Every string from the server is inserted as text.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const operator = () => !!S.token && (RANK[S.role] || 0) >= RANK.operator;
  const FINAL = ["succeeded", "rolled_back", "failed", "rejected", "expired"];
  // An HTTP answer can be older than the pushes that came before it (an execution runs
  // in milliseconds): keep whichever version is further along.
  const STAGES = ["proposed", "awaiting_approval", "prechecks", "dry_run", "executing", "verifying"];
  const progress = (x) => [(x.approvals || []).length, (x.steps || []).length, FINAL.includes(x.state) ? STAGES.length : STAGES.indexOf(x.state), (x.preview || []).length];
  function applyAnswer(x) {
    const cur = S.runbooks.get(x.id);
    if (cur) {
      const [a, b] = [progress(x), progress(cur)];
      for (let k = 0; k < a.length; k++) { if (a[k] !== b[k]) { if (a[k] < b[k]) return; break; } }
    }
    apply(Object.assign({ type: "runbook" }, x), true);
  }

  // details an operator opened (or closed), by execution and part: a re-render keeps them
  const opened = new Map();
  function details(x, part, openByDefault, summary) {
    const key = x.id + ":" + part;
    const open = opened.has(key) ? opened.get(key) : openByDefault;
    const d = el("details", open ? { class: part, open: "" } : { class: part }, el("summary", {}, summary));
    d.addEventListener("toggle", () => opened.set(key, d.open));
    return d;
  }

  async function decide(x, approve) {
    const verb = approve ? "approve" : "reject";
    try {
      const res = await api("POST", `/api/runbooks/executions/${encodeURIComponent(x.id)}/${verb}`);
      if (res.ok) { applyAnswer(await res.json()); flash(approve ? "Approved." : "Rejected."); }
      else {
        let why = "";
        try { why = (await res.json()).error || ""; } catch (e) { /* no body */ }
        flash(res.status === 403 ? (why || "Not allowed.") : res.status === 409 ? "Already decided." : `${verb} failed (${res.status}). ${why}`);
      }
    } catch (e) { flash(verb + " failed."); }
    renderAll();
  }

  // One execution of the remediation engine: its state, who asked, the policy's word,
  // the dry run and the steps run so far.
  function execRow(x) {
    const state = String(x.state || "");
    const head = el("div", {}, el("strong", {}, x.runbook || x.id), " on ", el("strong", {}, (x.targets || []).join(", ") || "—"), " ",
      el("span", { class: "muted" }, `${x.id} · by ${x.requester || "—"} · incident ${x.incident || "—"} · `),
      el("span", { class: "state-" + state }, state.replace(/_/g, " ")));
    const row = el("div", { class: "runbook exec", "data-id": x.id, "data-state": state }, head);
    const reasons = (x.policy && x.policy.reasons) || [];
    if (reasons.length) row.append(el("ul", { class: "reasons" }, ...reasons.map((r) => el("li", {}, String(r)))));
    const approvals = (x.approvals || []).map((a) => `${a.approve ? "approved" : "rejected"} by ${a.by}`);
    if (approvals.length) row.append(el("div", { class: "muted" }, approvals.join(" · ")));
    if ((x.plan || []).length) {
      const plan = details(x, "plan", false, `Dry run: ${x.plan.length} step(s)`);
      for (const s of x.plan) plan.append(el("div", { class: "step" }, el("span", { class: "muted" }, `${s.target} · ${s.phase} ${s.index + 1}${s.name ? " · " + s.name : ""}`), el("pre", {}, s.command)));
      row.append(plan);
    }
    if ((x.preview || []).length) row.append(previewBox(x));
    if ((x.steps || []).length) {
      const done = x.steps.filter((s) => s.status !== "started");
      const steps = details(x, "steps", !FINAL.includes(state), `Steps: ${done.length} run`);
      for (const s of x.steps) steps.append(el("div", { class: "step step-" + s.status }, el("span", {}, `${s.target} · ${s.phase} ${s.index + 1} · ${s.status}`), s.output ? el("pre", {}, s.output) : ""));
      row.append(steps);
    }
    if (state === "awaiting_approval") {
      if (operator() && x.requester !== S.user) {
        row.append(el("button", { class: "approve", "data-id": x.id, onclick: () => decide(x, true) }, "Approve"),
          el("button", { class: "reject", "data-id": x.id, onclick: () => decide(x, false) }, "Reject"));
      } else {
        row.append(el("span", { class: "muted" }, x.requester === S.user ? "another operator approves" : "an operator approves"));
      }
    }
    return row;
  }

  // A section before and after a step: removed lines "-", added "+", the rest " ".
  function diffText(before, after) {
    const out = [];
    for (const l of before) out.push((after.includes(l) ? "  " : "- ") + l);
    for (const l of after) if (!before.includes(l)) out.push("+ " + l);
    return out.join("\n");
  }

  // The dry run's device part: what each action would change in a target's running
  // configuration (read before approval), or why it could not be read.
  function previewBox(x) {
    const box = details(x, "preview", x.state === "awaiting_approval", "Dry run: device configuration");
    for (const p of x.preview) {
      if (p.error) { box.append(el("div", { class: "step step-failed" }, `${p.target} · not read: ${p.error}`)); continue; }
      for (const st of p.steps || []) {
        const head = `${p.target} · action ${st.step + 1}`;
        if (st.unknown) box.append(el("div", { class: "muted" }, `${head} · not predicted (${st.unknown})`));
        else if (!(st.changes || []).length) box.append(el("div", { class: "muted" }, `${head} · no change to the configuration`));
        else for (const c of st.changes) box.append(el("div", { class: "step" }, el("span", { class: "muted" }, head), el("pre", { class: "diff" }, diffText(c.before || [], c.after || []))));
      }
    }
    return box;
  }

  async function propose(s, form) {
    const params = Object.assign({}, s.params);
    for (const inp of form.querySelectorAll("input[name]")) if (inp.value.trim()) params[inp.name] = inp.value.trim();
    try {
      const res = await api("POST", `/api/runbooks/${encodeURIComponent(s.runbook)}/executions`, { targets: s.targets, params, incident: s.incident });
      let body = null;
      try { body = await res.json(); } catch (e) { /* no body */ }
      if (res.status === 201 && body) { applyAnswer(body); flash("Proposed: the dry run is shown; it waits for approval or runs if the policy allows."); }
      else if (res.status === 403 && body && body.execution) { applyAnswer(body.execution); flash("Denied by policy: " + (body.reasons || []).join("; ")); }
      else flash(`Not proposed (${res.status}): ${(body && body.error) || ""}`);
    } catch (e) { flash("Not proposed."); }
    loaded = null;
    renderAll();
  }

  function suggestionRow(s) {
    const form = el("form", { class: "suggest", "data-runbook": s.runbook });
    form.append(el("div", {}, el("strong", {}, s.runbook), " on ", el("strong", {}, s.targets.join(", ")), " ",
      el("span", { class: "muted" }, `${s.risk} risk${s.auto ? " · automatic" : ""}${s.sop ? " · SOP " + s.sop : ""}`)),
      el("div", { class: "muted" }, s.description));
    for (const m of s.missing || []) form.append(el("label", {}, m + " ", el("input", { name: m, required: "", autocomplete: "off" })));
    if (s.executions && s.executions.length) form.append(el("div", { class: "muted" }, "proposed: " + s.executions.join(", ")));
    if (operator()) form.append(el("button", { type: "submit", class: "propose" }, "Dry run and propose"));
    form.addEventListener("submit", (ev) => { ev.preventDefault(); propose(s, form); });
    return form;
  }

  let loaded = null; // incident id whose suggestions are shown
  async function loadSuggestions(id) {
    if (loaded === id) return;
    loaded = id;
    const box = $("inc-suggestions");
    if (!box) return;
    box.replaceChildren(el("p", { class: "muted" }, "Looking for runbooks…"));
    try {
      const r = await api("GET", `/api/incidents/${encodeURIComponent(id)}/runbooks`);
      const list = r.ok ? await r.json() : null;
      if (!Array.isArray(list)) { box.replaceChildren(el("p", { class: "muted" }, r.status === 404 ? "No runbooks on this node." : "Suggestions unavailable.")); return; }
      box.replaceChildren(...list.map(suggestionRow));
      if (!list.length) box.append(el("p", { class: "muted" }, "No runbook in the catalogue applies to this root cause."));
    } catch (e) { box.replaceChildren(el("p", { class: "muted" }, "Suggestions unavailable.")); }
  }

  window.swRemediation = {
    execRow,
    loadSuggestions,
    forget: () => { loaded = null; },
  };
})();
