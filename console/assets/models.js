// seawatch console, Models page (shore): the model registry (GET /api/models), each
// model's aliases, versions and append-only history, and its challenger's live shadow
// scores (GET /api/models/{name}/shadow, refreshed every 5 s). Admins move aliases, roll
// back the champion and evaluate the gates. Uses app.js's el(), when(), flash(), api(),
// changed(). Every string from the server is inserted as text.
"use strict";
(function () {
  const onPage = () => location.hash === "#/models";
  const admin = () => !!S.token && (RANK[S.role] || 0) >= RANK.admin;
  const short = (sha) => (sha ? sha.slice(0, 12) : "—");
  const num = (v) => (v == null ? "—" : Number.isInteger(v) ? String(v) : v.toFixed(3));

  function evText(e) {
    switch (e.event) {
      case "registered": return `version ${short(e.version.sha256)} registered by ${e.version.by}`;
      case "alias": return `${e.alias} ${short(e.previous)} → ${short(e.version)} (${e.cause}, ${e.by})`;
      case "gates": return `gates set by ${e.by}: ${e.gates.map((g) => g.metric + " " + g.direction).join(", ") || "none"}`;
      case "evaluated": return `gates ${e.evaluation.pass ? "passed" : "held"} for ${short(e.evaluation.challenger)}: ` +
        e.evaluation.gates.map((g) => `${g.metric} ${g.pass ? "✓" : "✗"} ${g.reason}`).join("; ");
      default: return e.event;
    }
  }

  async function act(path, body, done) {
    const r = await api("POST", path, body);
    const j = await r.json().catch(() => ({}));
    flash(r.ok ? done(j) : j.error || "Refused.");
    S.sig["models"] = null; load();
  }

  function modelCard(m, shadow) {
    const base = "/api/models/" + encodeURIComponent(m.name);
    const rows = m.versions.map((v) => {
      const role = v.sha256 === m.champion ? "champion" : v.sha256 === m.challenger ? "challenger" : "";
      const btns = admin() && !role ? el("span", {},
        el("button", { class: "set-challenger", onclick: () => act(base + "/aliases/challenger", { version: v.sha256 }, () => "Challenger set.") }, "Challenger"),
        " ",
        el("button", { class: "set-champion", onclick: () => act(base + "/aliases/champion", { version: v.sha256 }, () => "Champion set.") }, "Champion")) : "";
      return el("tr", { "data-sha": v.sha256 },
        el("td", { title: v.sha256 }, short(v.sha256)), el("td", {}, el("span", { class: "state state-" + role }, role)),
        el("td", {}, when(v.registered_ms)), el("td", {}, v.by),
        el("td", {}, Object.entries(v.metrics || {}).map(([k, x]) => `${k}=${num(x)}`).join(" ")),
        el("td", {}, Object.entries(v.metadata || {}).map(([k, x]) => `${k}: ${x}`).join(", ")), el("td", {}, btns));
    });
    const versions = el("table", { class: "grid" },
      el("thead", {}, el("tr", {}, ...["Version", "Alias", "Registered", "By", "Metrics", "Metadata", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows));
    const sc = shadow && shadow.challenger ? shadowTable(shadow) : el("p", { class: "muted" }, "No challenger in shadow.");
    const hist = el("ol", { class: "timeline models-history" },
      ...m.history.slice().reverse().slice(0, 50).map((e) => el("li", {}, el("span", { class: "muted" }, when(e.at_ms) + " "), evText(e))));
    const tools = admin() ? el("p", {},
      el("button", { class: "rollback", onclick: () => act(base + "/rollback", null, (j) => "Champion rolled back to " + short(j.champion) + ".") }, "Roll back champion"), " ",
      el("button", { class: "evaluate", onclick: () => act(base + "/evaluate", null, (j) => j.promoted ? "Promoted: every gate passed." : "Held: " + j.evaluation.gates.filter((g) => !g.pass).map((g) => g.metric + ": " + g.reason).join("; ")) }, "Evaluate gates"), " ",
      el("button", { class: "shadow-all", onclick: () => act(base + "/shadow", { all: true }, (j) => "Shadow rollout " + j.id + " started.") }, "Shadow on all ships")) : "";
    return el("div", { class: "card model", "data-model": m.name },
      el("h2", {}, `${m.name} `, el("span", { class: "muted" }, m.kind)),
      el("p", {}, "Champion ", el("code", { title: m.champion || "" }, short(m.champion)), " · challenger ", el("code", { title: m.challenger || "" }, short(m.challenger)),
        " · gates: " + (m.gates.map((g) => `${g.metric} ${g.direction}${g.threshold != null ? " ≥/≤ " + g.threshold : ""}${g.min_relative_change != null ? " Δ" + (g.min_relative_change * 100) + "%" : ""}${g.min_exposure ? " min " + g.min_exposure : ""}`).join(", ") || "none")),
      tools, el("h3", {}, "Versions"), versions, el("h3", {}, "Shadow scores"), sc, el("h3", {}, "History"), hist);
  }

  function shadowTable(s) {
    const metrics = ["precision", "recall", "alerts_per_1k", "agreement"];
    const gates = new Map(((s.evaluation || {}).gates || []).map((g) => [g.metric, g]));
    const head = el("tr", {}, ...["Metric", "Champion", "Challenger", "Gate"].map((h) => el("th", {}, h)));
    const body = metrics.map((k) => {
      const g = gates.get(k);
      return el("tr", {}, el("td", {}, k), el("td", {}, num((s.metrics.champion || {})[k])), el("td", {}, num((s.metrics.challenger || {})[k])),
        el("td", { class: g ? (g.pass ? "state-succeeded" : "state-failed") : "muted" }, g ? (g.pass ? "pass: " : "hold: ") + g.reason : "—"));
    });
    return el("div", {},
      el("p", { class: "muted" }, `${s.summary.ships.length} ship(s) reporting: ${s.summary.ships.join(", ") || "none yet"}; exposure ${s.summary.exposure}`),
      el("table", { class: "grid shadow" }, el("thead", {}, head), el("tbody", {}, ...body)));
  }

  async function load() {
    if (!onPage() || !S.token) return;
    try {
      const r = await api("GET", "/api/models");
      if (!r.ok) { $("models-empty").hidden = false; $("models-empty").textContent = "No model registry on this node."; return; }
      const models = await r.json();
      const shadows = await Promise.all(models.map(async (m) => {
        const x = await api("GET", "/api/models/" + encodeURIComponent(m.name) + "/shadow");
        return x.ok ? x.json() : null;
      }));
      if (!changed("models", [models, shadows])) return;
      $("models-list").replaceChildren(...models.map((m, i) => modelCard(m, shadows[i])));
      $("models-empty").hidden = models.length > 0;
    } catch (e) { /* 401 already signed out; otherwise try again on the next tick */ }
  }

  window.addEventListener("hashchange", load);
  setInterval(() => { if (onPage() && !document.hidden) load(); }, 5000);
  load();
})();
