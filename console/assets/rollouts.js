// seawatch console, Rollouts pages (shore, admins): the list (#/rollouts) and one rollout
// (#/rollout/ID) with its waves, each ship's state and attempt, its history and the admin's
// buttons (pause, resume, approve, abort, retry). GET /api/rollouts once at sign-in and on
// opening a page; after that the shore pushes every change of a rollout over the WebSocket
// (`{"type":"rollout", ...the whole rollout}`, admins' sessions only; decision 0074), which
// app.js keeps in S.rollouts, so the pages follow a rollout live without a reload. Uses
// app.js's el(), when(), flash(), api(), changed(). Every string from the server is text.
"use strict";
window.swRollouts = (function () {
  const admin = () => !!S.token && (RANK[S.role] || 0) >= RANK.admin;
  const short = (sha) => (sha ? String(sha).slice(0, 12) : "—");
  const words = (s) => String(s || "").replace(/_/g, " ");
  const total = (c) => Object.values(c || {}).reduce((a, b) => a + (+b || 0), 0);
  const openId = () => { const m = location.hash.match(/^#\/rollout\/(.+)$/); return m ? decodeURIComponent(m[1]) : null; };

  async function load() {
    if (NODE !== "shore" || !admin()) return;
    try {
      const r = await api("GET", "/api/rollouts");
      if (!r.ok) return;
      const list = await r.json();
      for (const ro of Array.isArray(list) ? list : []) if (ro.id != null) S.rollouts.set(ro.id, ro);
    } catch (e) { /* the pushes fill it */ }
    render();
  }

  // The button's request; the answer is the rollout as it stands after it.
  async function act(id, op, done) {
    try {
      const r = await api("POST", `/api/rollouts/${encodeURIComponent(id)}/${op}`);
      const j = await r.json().catch(() => ({}));
      if (r.ok && j.id != null) { S.rollouts.set(j.id, j); render(); }
      flash(r.ok ? done : j.error || "Refused.");
    } catch (e) { flash("Cannot reach the node."); }
  }

  function progress(ro) {
    const c = ro.counts || {}, n = total(c);
    return `${c.succeeded || 0}/${n} succeeded` + (c.failed ? `, ${c.failed} failed` : "") +
      (c.sent || c.applying ? `, ${(c.sent || 0) + (c.applying || 0)} in flight` : "") + (c.skipped ? `, ${c.skipped} skipped` : "");
  }

  function renderList() {
    const rows = [...S.rollouts.values()].sort((a, b) => (+b.created_ms || 0) - (+a.created_ms || 0));
    $("rollouts-denied").hidden = admin();
    if (!changed("rollouts", [rows, S.role])) return;
    const tb = $("rollout-rows"); tb.replaceChildren();
    for (const ro of rows) {
      const open = () => (location.hash = "#/rollout/" + encodeURIComponent(ro.id));
      tb.append(el("tr", { "data-id": ro.id, tabindex: "0", onclick: open, onkeydown: (ev) => { if (ev.key === "Enter") open(); } },
        el("td", {}, el("a", { href: "#/rollout/" + encodeURIComponent(ro.id) }, ro.id)),
        el("td", { title: ro.bundle || "" }, `${ro.kind || ""} ${short(ro.bundle)}`),
        el("td", { class: "state state-" + ro.state }, words(ro.state)),
        el("td", {}, progress(ro)),
        el("td", {}, (ro.waves || []).map((w) => `${w.wave}: ${words(w.state)}`).join(" · ")),
        el("td", {}, `${when(ro.created_ms)} by ${ro.created_by || "?"}`),
        el("td", {}, when(ro.updated_ms))));
    }
    $("rollouts-empty").hidden = rows.length > 0;
  }

  // The buttons a rollout in its state allows (the server decides; 409 says why not).
  function tools(ro) {
    if (!admin()) return [el("span", { class: "muted" }, "Only admins control rollouts.")];
    const id = ro.id, c = ro.counts || {}, out = [];
    const b = (op, label, done) => el("button", { id: "rollout-" + label.toLowerCase(), "data-op": op, onclick: () => act(id, op, done) }, label);
    if (ro.state === "awaiting_approval") out.push(b("resume", "Approve", "Wave approved."));
    if (ro.state === "running") out.push(b("pause", "Pause", "Paused."));
    if (ro.state === "paused") out.push(b("resume", "Resume", "Resumed."));
    if (ro.state !== "aborted" && ro.state !== "completed") out.push(b("abort", "Abort", "Aborted."));
    if ((c.failed || 0) + (c.skipped || 0) > 0 || (ro.state === "aborted" && (c.pending || 0) > 0)) out.push(b("retry", "Retry", "Sent again to the ships that failed or were not sent."));
    return out.flatMap((x) => [x, " "]);
  }

  function wave(w) {
    const spec = `${w.percent}% of the fleet · success ≥ ${w.success_threshold}% · error ≥ ${w.error_threshold}% · timeout ${w.timeout_s} s` +
      (w.incident_window_s != null ? ` · incident watch ${w.incident_window_s} s` : "") + (w.approval ? " · needs approval" : "");
    const rows = (w.ships || []).map((s) => el("tr", { "data-ship": s.ship },
      el("td", {}, el("strong", {}, s.ship)),
      el("td", { class: "ship-state state state-" + s.state }, words(s.state)),
      el("td", { class: "ship-attempt" }, String((+s.attempt || 0) + 1)),
      el("td", {}, when(s.sent_ms)), el("td", {}, when(s.received_ms)), el("td", {}, when(s.done_ms)),
      el("td", {}, s.detail || "")));
    return el("div", { class: "card wave", "data-wave": w.wave },
      el("h2", {}, `Wave ${w.wave} `, el("span", { class: "wave-state state state-" + w.state }, words(w.state))),
      el("p", { class: "hint" }, spec),
      el("table", { class: "grid" },
        el("thead", {}, el("tr", {}, ...["Ship", "State", "Attempt", "Sent", "Taken", "Done", "Detail"].map((h) => el("th", {}, h)))),
        el("tbody", {}, ...rows)));
  }

  function renderOne(id) {
    const ro = S.rollouts.get(id);
    if (!ro) { S.sig.rollout = null; $("rollout-title").textContent = `Rollout ${id} (${admin() ? "loading" : "for admins"})`; return; }
    if (!changed("rollout", [ro, S.role])) return;
    $("rollout-title").replaceChildren(`Rollout ${ro.id} `, el("span", { id: "rollout-state", class: "state state-" + ro.state }, words(ro.state)));
    const f = $("rollout-fields"); f.replaceChildren();
    for (const [k, v] of [["Bundle", `${ro.kind || ""} ${ro.bundle || ""}`], ["Progress", progress(ro)], ["Why", ro.reason || "—"],
      ["On error", words(ro.on_error)], ["Created", `${when(ro.created_ms)} by ${ro.created_by || "?"}`], ["Updated", when(ro.updated_ms)], ["Shore node", ro.node || "—"]])
      f.append(el("dt", {}, k), el("dd", {}, v));
    $("rollout-tools").replaceChildren(...tools(ro));
    $("rollout-waves").replaceChildren(...(ro.waves || []).map(wave));
    $("rollout-history").replaceChildren(...(ro.history || []).slice().reverse().map((h) =>
      el("li", {}, el("span", { class: "muted" }, when(h.at_ms) + " "), h.what)));
  }

  function render() {
    if (NODE !== "shore") return;
    renderList();
    const id = openId(); if (id) renderOne(id);
    if (window.swFleetMap) swFleetMap.panel();
  }

  // app.js's router calls this on every address change (and at sign-in).
  function route(page) {
    if (NODE !== "shore") return;
    if (page === "rollouts" || page === "rollout" || !S.rollouts.size) { S.sig.rollout = null; load(); }
    render();
  }

  if (S.token && NODE === "shore") setTimeout(load, 0);
  return { render, route, load };
})();
