// seawatch console: a single page over the token-protected API and /ws (contracts §2).
// No framework and no build step; every string from the server is inserted as text.
"use strict";

// The node serving the page (`<body data-node>`: ship, demo or shore; decision 0074):
// pages marked `data-nodes` show only on those nodes.
const NODE = document.body.dataset.node || "ship";
const HOME = NODE === "shore" ? "fleet" : "incidents";
const S = {
  token: sessionStorage.getItem("sw.token"),
  role: sessionStorage.getItem("sw.role"),
  user: sessionStorage.getItem("sw.user"),
  ship: localStorage.getItem("sw.ship") || "",
  incidents: new Map(), // id -> incident
  links: new Map(),     // ship/link -> link state
  runbooks: new Map(),  // id -> execution
  rollouts: new Map(),  // id -> rollout (shore, admins; pushed)
  fleet: [],
  ships: new Set(),
  ws: null, wsRetry: 500,
  sig: {},              // section -> signature of what it last drew
  renderQueued: false,
};
const RANK = { viewer: 0, operator: 1, admin: 2 };
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k instanceof Node ? k : String(k));
  return e;
}
function svg(tag, attrs, text) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text != null) e.textContent = String(text);
  return e;
}
// True when `data` differs from what section `key` last drew. Sections redraw only on a
// change, so a busy push stream does not replace a button under the operator's pointer.
function changed(key, data) {
  const sig = JSON.stringify(data, (k, v) => (k === "_fresh" ? undefined : v));
  if (S.sig[key] === sig) return false;
  S.sig[key] = sig; return true;
}
function when(t) {
  if (!t) return "—";
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}
function flash(msg) {
  const f = $("flash"); f.textContent = msg; f.hidden = false;
  clearTimeout(flash.t); flash.t = setTimeout(() => (f.hidden = true), 4000);
}

async function api(method, path, body) {
  const r = await fetch(path, {
    method, headers: Object.assign({ "Content-Type": "application/json" }, S.token ? { Authorization: "Bearer " + S.token } : {}),
    body: body ? JSON.stringify(body) : undefined,
  });
  if (r.status === 401 && path !== "/api/login") { logout("Session expired: sign in again."); throw new Error("401"); }
  return r;
}

// ---- login ----
$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  const user = $("user").value, password = $("password").value;
  try {
    const r = await api("POST", "/api/login", { user, password });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) { $("login-error").textContent = r.status === 429 ? `Too many attempts: wait ${j.retry_after_s || "a few"} s.` : "Wrong user or password."; return; }
    S.token = j.token; S.role = j.role; S.user = user;
    sessionStorage.setItem("sw.token", j.token); sessionStorage.setItem("sw.role", j.role); sessionStorage.setItem("sw.user", user);
    $("password").value = "";
    start();
  } catch (e) { $("login-error").textContent = "Cannot reach the node."; }
});
function logout(msg) {
  sessionStorage.clear(); S.token = null;
  if (S.ws) { S.ws.onclose = null; S.ws.close(); S.ws = null; }
  live(false);
  S.sig = {}; S.incidents.clear(); S.links.clear(); S.runbooks.clear(); S.rollouts.clear(); S.fleet = [];
  // Nothing rendered for the last user stays in the page (hidden pages included).
  renderAll(); $("inc-runbooks").replaceChildren(); $("inc-timeline").replaceChildren();
  $("inc-suggestions").replaceChildren(); if (window.swRemediation) swRemediation.forget();
  location.hash = "#/login"; route();
  if (msg) $("login-error").textContent = msg;
}
$("logout").addEventListener("click", () => logout());

// ---- data ----
async function loadIncidents() {
  const q = new URLSearchParams({ state: "all" });
  if (S.ship) q.set("ship", S.ship);
  try {
    const r = await api("GET", "/api/incidents?" + q);
    if (r.ok) { const list = await r.json(); if (Array.isArray(list)) for (const i of list) upsertIncident(i, false); }
  } catch (e) { /* shown as empty */ }
  renderIncidents();
}
async function loadRunbooks() {
  try {
    const r = await api("GET", "/api/runbooks/executions");
    if (r.ok) { const list = await r.json(); if (Array.isArray(list)) for (const x of list) if (x.id != null) S.runbooks.set(x.id, x); }
  } catch (e) { /* shown as empty */ }
  renderRunbooks();
}
async function loadFleet() {
  try {
    const r = await api("GET", "/api/fleet");
    if (r.ok) { const j = await r.json(); S.fleet = Array.isArray(j) ? j : (j.ships || []); for (const s of S.fleet) S.ships.add(s.id || s.ship); }
  } catch (e) { /* none */ }
  renderShips(); renderFleet();
}
function upsertIncident(i, fresh) {
  if (!i || i.id == null) return;
  const old = S.incidents.get(i.id) || {};
  S.incidents.set(i.id, Object.assign(old, i, { _fresh: fresh }));
  if (i.ship) S.ships.add(i.ship);
}
function apply(m, fresh) {
  switch (m.type) {
    case "incident": upsertIncident(m, fresh); break;
    case "link": S.links.set((m.ship || "") + "/" + (m.link || m.id), m); if (m.ship) S.ships.add(m.ship); break;
    case "runbook": if (m.id != null) S.runbooks.set(m.id, m); break;
    case "rollout": if (m.id != null) S.rollouts.set(m.id, m); break;
    case "fleet": {
      const ships = Array.isArray(m.ships) ? m.ships : [m];
      for (const s of ships) { const id = s.id || s.ship; const i = S.fleet.findIndex((x) => (x.id || x.ship) === id); if (i >= 0) S.fleet[i] = Object.assign(S.fleet[i], s); else S.fleet.push(s); S.ships.add(id); }
      break;
    }
  }
}

// ---- live updates ----
function connect() {
  if (!S.token) return;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws?token=${encodeURIComponent(S.token)}`);
  S.ws = ws;
  // Live once the first snapshot arrives: from then on the session is subscribed.
  ws.onopen = () => { S.wsRetry = 500; ws.send(JSON.stringify({ type: "subscribe", ship: S.ship || null })); };
  ws.onmessage = (ev) => {
    let m; try { m = JSON.parse(ev.data); } catch (e) { return; }
    if (m.type === "snapshot") { live(true); for (const it of m.items || []) apply(it, false); }
    else if (m.type === "error") { flash(m.error + (m.ship ? ": " + m.ship : "")); }
    else apply(m, true);
    scheduleRender();
  };
  ws.onclose = (ev) => {
    live(false);
    if (ev.code === 1008 && ev.reason === "token_expired") return logout("Session expired: sign in again.");
    setTimeout(connect, S.wsRetry); S.wsRetry = Math.min(S.wsRetry * 2, 15000);
  };
}
function live(on) { const l = $("live"); l.className = "live " + (on ? "on" : "off"); l.textContent = on ? "live" : "offline"; }

// ---- pages ----
// Pushes arrive in bursts: draw at most once per 100 ms.
function scheduleRender() {
  if (S.renderQueued) return;
  S.renderQueued = true;
  setTimeout(() => { S.renderQueued = false; renderAll(); }, 100);
}
function renderAll() {
  renderIncidents(); renderLinks(); renderRunbooks(); renderFleet(); renderShips();
  if (window.swRollouts) swRollouts.render();
  const m = location.hash.match(/^#\/incident\/(.+)$/); if (m) renderIncident(decodeURIComponent(m[1]));
}
function sevClass(s) { return "sev sev-" + String(s || "").toLowerCase(); }
function renderIncidents() {
  const f = $("state-filter").value;
  const rows = [...S.incidents.values()]
    .filter((i) => (!S.ship || i.ship === S.ship) && (f === "all" || (f === "open" ? i.state !== "resolved" : i.state === "resolved")))
    .sort((a, b) => String(b.opened_at).localeCompare(String(a.opened_at)));
  if (!changed("incidents", rows)) return;
  const tb = $("incident-rows"); tb.replaceChildren();
  for (const i of rows) {
    const open = () => (location.hash = "#/incident/" + encodeURIComponent(i.id));
    const tr = el("tr", { class: i._fresh ? "new" : "", "data-id": i.id, tabindex: "0", onclick: open, onkeydown: (ev) => { if (ev.key === "Enter") open(); } },
      el("td", { class: sevClass(i.severity) }, i.severity), el("td", {}, i.ship), el("td", {}, el("strong", {}, i.root_cause)),
      el("td", { class: "state-" + i.state }, i.state), el("td", {}, i.alerts), el("td", {}, when(i.opened_at)));
    tb.append(tr); i._fresh = false;
  }
  $("incident-empty").hidden = rows.length > 0;
}
// One incident with its ranked candidates and evidence (GET /api/incidents/{id}), once
// per visit of its page; pushes keep it current after that.
async function loadIncident(id) {
  if (S.detailFor === id && Date.now() - (S.detailAt || 0) < 5000) return;
  S.detailFor = id; S.detailAt = Date.now();
  try {
    const r = await api("GET", "/api/incidents/" + encodeURIComponent(id));
    if (r.ok) { upsertIncident(await r.json(), false); renderIncident(id); }
  } catch (e) { /* the list's copy stays */ }
}
function renderIncident(id) {
  loadIncident(id);
  if (window.swRemediation) swRemediation.loadSuggestions(id);
  const i = S.incidents.get(id);
  if (!i) { S.sig.incident = null; $("inc-title").textContent = "Incident " + id + " (loading)"; return; }
  const runbooks = [...S.runbooks.values()].filter((r) => r.incident === i.id);
  // re-render only for what the page shows of its executions: a push that repeats an
  // execution in another shape (the WebSocket's, with "type" and "ship") changes nothing
  const shown = runbooks.map((r) => [r.id, r.state, (r.steps || []).length, (r.approvals || []).length, (r.preview || []).length]);
  if (!changed("incident", [i, shown, S.role])) return;
  $("inc-title").replaceChildren(el("span", { class: sevClass(i.severity) }, i.severity), " ", "Root cause: ", el("a", { id: "inc-root-link", href: window.swElements ? swElements.href(i.ship, i.root_cause) : "#" }, el("strong", { id: "inc-root" }, i.root_cause)));
  const f = $("inc-fields"); f.replaceChildren();
  for (const [k, v] of [["Incident", i.id], ["Ship", i.ship], ["State", i.state], ["Alerts", i.alerts], ["Opened", when(i.opened_at)], ["Resolved", when(i.resolved_at)]])
    f.append(el("dt", {}, k), el("dd", {}, v));
  // The root device's log lines from 10 minutes before the incident to 10 minutes after
  // it resolved (no end while it is open).
  const opened = Date.parse(i.opened_at), resolved = i.resolved_at ? Date.parse(i.resolved_at) : NaN;
  const lq = new URLSearchParams({ device: i.root_cause, ship: i.ship || "" });
  if (!isNaN(opened)) lq.set("from", new Date(opened - 600000).toISOString());
  if (!isNaN(resolved)) lq.set("to", new Date(resolved + 600000).toISOString());
  $("inc-logs").href = "#/logs?" + lq;
  $("inc-logs").textContent = `Logs of ${i.root_cause} around the incident`;
  parentLogs(i, lq);
  // The correlator's steps (GET /api/incidents/{id} `timeline`) and the runbook
  // executions proposed for it, in time order.
  const tl = $("inc-timeline"); tl.replaceChildren();
  const events = (i.timeline || []).map((t) => ({ at: t.at, kind: t.kind, source: t.source, text: t.text }));
  for (const r of runbooks) {
    const at = new Date(Number(r.proposed_at_ms) || 0).toISOString();
    events.push({ at, kind: "runbook", source: (r.targets || []).join(", "), text: `runbook ${r.runbook} proposed by ${r.requester} (now ${String(r.state || "").replace(/_/g, " ")})` });
    for (const a of r.approvals || []) events.push({ at: a.at, kind: "runbook", source: a.by, text: `runbook ${r.runbook} ${a.approve ? "approved" : "rejected"}` });
  }
  events.sort((a, b) => String(a.at).localeCompare(String(b.at)));
  for (const a of events) tl.append(el("li", { class: "tl-" + a.kind, "data-kind": a.kind },
    el("span", { class: "muted" }, when(a.at)), " ", el("span", { class: "tl-kind" }, a.kind.replace("_", " ")), " ", el("strong", {}, a.source || ""), " ", a.text || ""));
  if (!events.length) tl.append(el("li", { class: "muted" }, `${i.alerts ?? 0} alert(s); no timeline recorded.`));
  const cands = $("inc-candidates"); cands.replaceChildren();
  for (const c of i.candidates || []) {
    const pct = Math.round(100 * Math.max(0, Math.min(1, Number(c.score) || 0)));
    const bar = el("span", { class: "risk" + (pct >= 80 ? " high" : pct >= 50 ? " warn" : "") }, el("span", {}));
    bar.firstChild.style.width = pct + "%"; // CSSOM, not a style attribute (CSP)
    cands.append(el("li", {}, window.swElements ? swElements.link(i.ship, c.element) : el("strong", {}, c.element), " ", bar, el("span", { class: "muted" }, (Number(c.score) || 0).toFixed(2))));
  }
  if (!cands.childNodes.length) cands.append(el("li", { class: "muted" }, "No ranking recorded."));
  const evid = $("inc-evidence"); evid.replaceChildren();
  for (const e of i.evidence || []) evid.append(el("li", {}, String(e)));
  if (!evid.childNodes.length) evid.append(el("li", { class: "muted" }, "No evidence recorded."));
  drawTopology(i);
  const rb = $("inc-runbooks"); rb.replaceChildren();
  for (const r of runbooks) rb.append(runbookRow(r));
  if (!rb.childNodes.length) rb.append(el("p", { class: "muted" }, "No runbook proposed."));
}
// The same window's logs of what the root depends on: a dead device logs nothing of its
// own, its parent logs the port to it going down (GET /api/devices/{id} `parents`).
async function parentLogs(i, lq) {
  const box = $("inc-parent-logs");
  const key = i.ship + "/" + i.root_cause;
  if (box.dataset.key === key) return;
  box.dataset.key = key; box.replaceChildren();
  try {
    const r = await api("GET", `/api/devices/${encodeURIComponent(i.root_cause)}?ship=${encodeURIComponent(i.ship || "")}&hours=1&points=2`);
    if (!r.ok || box.dataset.key !== key) return;
    const d = await r.json();
    for (const p of d.parents || []) {
      const q = new URLSearchParams(lq); q.set("device", p);
      box.append(" ", el("a", { class: "button-link parent-logs", "data-device": p, href: "#/logs?" + q }, `Logs of ${p} (its parent)`));
    }
  } catch (_) { /* the root's own link stays */ }
}
// Affected devices around the root cause: the root in the middle, what it carries on a ring.
function drawTopology(i) {
  const g = $("inc-topology"); g.replaceChildren();
  const root = i.root_cause;
  const affected = (i.affected || i.affected_devices || i.members || []).filter((d) => d !== root);
  const edges = i.edges || affected.map((d) => [root, d]);
  const pos = new Map([[root, [300, 180]]]);
  affected.forEach((d, k) => { const a = (2 * Math.PI * k) / Math.max(affected.length, 1) - Math.PI / 2; pos.set(d, [300 + 220 * Math.cos(a), 180 + 140 * Math.sin(a)]); });
  for (const [a, b] of edges) { const p = pos.get(a), q = pos.get(b); if (p && q) g.append(svg("line", { class: "edge", x1: p[0], y1: p[1], x2: q[0], y2: q[1] })); }
  for (const [d, [x, y]] of pos) {
    // each element opens its device or link page
    const a = svg("a", { href: window.swElements ? swElements.href(i.ship, d) : "#", "data-id": d });
    a.append(svg("circle", { class: "node" + (d === root ? " root" : " hit"), cx: x, cy: y, r: d === root ? 22 : 14 }));
    a.append(svg("text", { x: x, y: y + (d === root ? 40 : 30), "text-anchor": "middle" }, d));
    g.append(a);
  }
  if (!affected.length) g.append(svg("text", { x: 300, y: 330, "text-anchor": "middle" }, "no other device affected"));
}
function renderLinks() {
  const rows = [...S.links.values()].filter((l) => !S.ship || l.ship === S.ship);
  const sparks = window.swElements ? rows.map((l) => swElements.linkSpark(l.ship, l.link || l.id).dataset.points) : [];
  if (!changed("links", [rows, sparks])) return;
  const tb = $("link-rows"); tb.replaceChildren();
  for (const l of rows) {
    const risk = Number(l.risk ?? l.outage_risk ?? 0);
    const bar = el("span", { class: "risk" + (risk >= 0.7 ? " high" : risk >= 0.3 ? " warn" : "") }, el("span", {}));
    bar.firstChild.style.width = Math.round(Math.min(Math.max(risk, 0), 1) * 100) + "%";
    const up = l.up ?? (l.state === "up");
    const id = l.link || l.id, open = () => (location.hash = `#/link/${encodeURIComponent(l.ship || "")}/${encodeURIComponent(id)}`);
    tb.append(el("tr", { "data-link": id, "data-ship": l.ship, tabindex: "0", onclick: open, onkeydown: (ev) => { if (ev.key === "Enter") open(); } },
      el("td", {}, l.ship), el("td", {}, el("a", { href: `#/link/${encodeURIComponent(l.ship || "")}/${encodeURIComponent(id)}` }, id)), el("td", { class: up ? "state-resolved" : "sev sev-critical" }, l.state || (up ? "up" : "down")),
      el("td", {}, window.swElements ? swElements.linkSpark(l.ship, id) : ""),
      el("td", {}, bar, (risk * 100).toFixed(0) + "%", l.predicted_outage_at ? " · outage " + when(l.predicted_outage_at) : ""), el("td", {}, when(l.at || l.updated_at))));
  }
  $("link-empty").hidden = rows.length > 0;
}
// An execution of the remediation engine (runbooks.js draws it, with Approve and Reject
// for operators other than its requester).
function runbookRow(r) {
  return window.swRemediation ? swRemediation.execRow(r) : el("div", { class: "runbook", "data-id": r.id }, r.runbook || r.id);
}
function renderRunbooks() {
  const waiting = (r) => r.state === "awaiting_approval";
  const rows = [...S.runbooks.values()].filter((r) => !S.ship || r.ship === S.ship)
    .sort((a, b) => waiting(a) - waiting(b) || (Number(a.proposed_at_ms) || 0) - (Number(b.proposed_at_ms) || 0)).reverse();
  if (!changed("runbooks", [rows, S.role])) return;
  const list = $("runbook-list"); list.replaceChildren();
  for (const r of rows) list.append(runbookRow(r));
  $("runbook-empty").hidden = rows.some(waiting);
}
// The fleet: the table here, the map in fleetmap.js (swFleetMap).
const posOf = (s) => { const p = s.position; return p && Number.isFinite(+p.lat) && Number.isFinite(+p.lon) ? p : null; };
const openOf = (s) => Array.isArray(s.open_incidents) ? s.open_incidents.length : (+s.open_incidents || 0);
function renderFleet() {
  if (!changed("fleet", [S.fleet])) return;
  if (window.swFleetMap) swFleetMap.render(S.fleet);
  const tb = $("fleet-rows"); tb.replaceChildren();
  for (const s of S.fleet) {
    const id = s.id || s.ship, open = openOf(s), p = posOf(s);
    const links = (s.links || []).map((l) => `${l.id} ${l.status}`).join(", ");
    tb.append(el("tr", { "data-ship": id, onclick: () => { pickShip(id); if (onNode("incidents")) location.hash = "#/incidents"; } }, el("td", {}, el("strong", {}, id)), el("td", {}, links || s.link_state || "—"),
      el("td", {}, when(s.last_sync || s.last_sync_at)), el("td", {}, s.sync_backlog ?? s.backlog ?? "—"),
      el("td", { class: open > 0 ? "sev sev-critical" : "" }, open), el("td", {}, p ? `${(+p.lat).toFixed(2)}, ${(+p.lon).toFixed(2)}` : "—")));
  }
  $("fleet-empty").hidden = S.fleet.length > 0;
}
function renderShips() {
  const sel = $("ship"); const cur = S.ship;
  const opts = ["", ...[...S.ships].filter(Boolean).sort()];
  if (sel.options.length === opts.length) return;
  sel.replaceChildren(...opts.map((s) => el("option", { value: s }, s || "all ships")));
  sel.value = cur;
}
function pickShip(s) {
  S.ship = s; localStorage.setItem("sw.ship", s); $("ship").value = s;
  if (S.ws && S.ws.readyState === 1) S.ws.send(JSON.stringify({ type: "subscribe", ship: s || null }));
  renderAll();
}
$("ship").addEventListener("change", (e) => pickShip(e.target.value));
$("state-filter").addEventListener("change", renderIncidents);

// ---- routing ----
// Whether page `id` exists on this node (no `data-nodes`: on every node).
function onNode(id) {
  const p = $(id);
  return !!p && (!p.dataset.nodes || p.dataset.nodes.split(" ").includes(NODE));
}
function route() {
  const authed = !!S.token;
  let page = (location.hash.match(/^#\/([a-z]+)/) || [])[1] || HOME;
  if (!authed) page = "login";
  else if (page === "login" || !onNode(page)) {
    // the address says where we are: scripts watching it (live tail, refreshes) stop
    if (page !== "login") history.replaceState(null, "", "#/" + HOME);
    page = HOME;
  }
  for (const p of document.querySelectorAll(".page")) p.hidden = p.id !== page;
  for (const a of document.querySelectorAll("nav a")) {
    a.hidden = !onNode(a.dataset.page);
    a.classList.toggle("active", a.dataset.page === page || (page === "incident" && a.dataset.page === "incidents") || (page === "link" && a.dataset.page === "links") || (page === "device" && a.dataset.page === "topology") || (page === "rollout" && a.dataset.page === "rollouts"));
  }
  $("nav").hidden = $("logout").hidden = $("ship-pick").hidden = !authed;
  $("who").textContent = authed ? `${S.user || ""} (${S.role})` : "";
  if (page === "incident") renderIncident(decodeURIComponent(location.hash.split("/")[2] || ""));
  if (authed && window.swElements && NODE !== "shore") swElements.route();
  if (authed && window.swRollouts) swRollouts.route(page);
}
window.addEventListener("hashchange", route);
// The open incident's details (its timeline grows) are fetched again every 5 s.
setInterval(() => {
  const m = location.hash.match(/^#\/incident\/(.+)$/);
  if (m && S.token && !document.hidden) renderIncident(decodeURIComponent(m[1]));
}, 5000);
function start() {
  route();
  if (!S.token) return;
  if (S.ship) S.ships.add(S.ship);
  if (onNode("incidents")) { loadIncidents(); loadRunbooks(); }
  loadFleet(); connect();
}
start();
