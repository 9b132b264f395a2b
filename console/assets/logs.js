// seawatch console, Logs page: search the ships' stored log lines (GET /api/logs) with a
// query, a device, a time range and a live tail that re-runs the search every 2 s.
// The page's state is in its address (#/logs?q=&device=&from=&to=&ship=), so the
// incident page links to "the root device's logs around the incident" and a search can
// be bookmarked. Uses app.js's el(), when(), api(), sevClass(); strings go in as text.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const onPage = () => /^#\/logs(\?|$)/.test(location.hash);
  const FIELDS = ["q", "device", "from", "to", "limit"];
  let seen = new Set(), busy = false, lastHash = null;

  function params() {
    const p = new URLSearchParams();
    for (const f of FIELDS) { const v = $("logs-" + f).value.trim(); if (v) p.set(f, v); }
    if (S.ship) p.set("ship", S.ship);
    return p;
  }
  // The form from the address (#/logs?...): a link or a bookmark fills it in.
  function fromHash() {
    const q = location.hash.split("?")[1] || "";
    if (q === lastHash) return false;
    lastHash = q;
    const p = new URLSearchParams(q);
    $("logs-q").value = p.get("q") || "";
    $("logs-device").value = p.get("device") || "";
    $("logs-from").value = p.get("from") || "-1h";
    $("logs-to").value = p.get("to") || "";
    if (p.get("limit")) $("logs-limit").value = p.get("limit");
    if (p.get("ship") && typeof pickShip === "function" && p.get("ship") !== S.ship) pickShip(p.get("ship"));
    return true;
  }
  function row(l, fresh) {
    return el("tr", { "data-seq": l.ship + "/" + l.seq, class: fresh ? "new" : "" },
      el("td", { class: "when" }, when(l.ts)), el("td", {}, l.ship), el("td", {}, el("strong", {}, l.device)),
      el("td", {}, el("span", { class: sevClass(l.severity) }, l.severity)), el("td", { class: "line" }, l.text));
  }
  async function search(tail) {
    if (!S.token || !onPage() || busy) return;
    busy = true;
    const p = params();
    try {
      const t0 = performance.now();
      const r = await api("GET", "/api/logs?" + p);
      const j = await r.json().catch(() => null);
      if (!r.ok) {
        $("logs-error").textContent = (j && j.error) || `Search failed (${r.status}).`;
        if (!tail) { $("logs-rows").replaceChildren(); $("logs-count").textContent = ""; }
        return;
      }
      $("logs-error").textContent = "";
      const lines = Array.isArray(j) ? j : [];
      const key = (l) => l.ship + "/" + l.seq;
      const fresh = tail ? lines.filter((l) => !seen.has(key(l))) : [];
      if (!tail || fresh.length) $("logs-rows").replaceChildren(...lines.map((l) => row(l, tail && !seen.has(key(l)))));
      seen = new Set(lines.map(key));
      const ms = Math.round(performance.now() - t0);
      $("logs-count").textContent = `${lines.length} line${lines.length === 1 ? "" : "s"}, newest first (${ms} ms)` +
        (lines.length >= Number($("logs-limit").value) ? " — more match: narrow the search or the time range" : "");
    } catch (e) { /* 401 signs out; otherwise the next search tries again */ }
    finally { busy = false; }
  }
  function submit() {
    // The address follows the form (without reloading: the hash listener sees no change).
    const p = params(); p.delete("ship");
    lastHash = p.toString();
    history.replaceState(null, "", "#/logs" + (lastHash ? "?" + lastHash : ""));
    search(false);
  }
  $("logs-form").addEventListener("submit", (ev) => { ev.preventDefault(); submit(); });
  $("logs-tail").addEventListener("change", () => { if ($("logs-tail").checked) search(true); });
  window.addEventListener("hashchange", () => { if (onPage()) { fromHash(); search(false); } });
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target; if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
    ev.preventDefault();
    if (!onPage()) location.hash = "#/logs";
    $("logs-q").focus();
  });
  setInterval(() => { if (onPage() && $("logs-tail").checked && !document.hidden) search(true); }, 2000);
  if (onPage()) { fromHash(); search(false); }
})();
