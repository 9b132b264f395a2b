// The fleet map (issue 25, decision 0071): Natural Earth 1:110m land (ui/world.json, public
// domain, shipped in the binary: no tile server, nothing fetched from outside) in an
// equirectangular projection, each ship a marker at its last reported position, filled by
// its link state and ringed when it has open incidents; a side panel for the ship under
// the pointer or picked; wheel/drag/buttons/keys to zoom and pan.
//
// World units: x = (lon + 180) * K, y = (90 - lat) * K (K per degree). Markers and land
// live in these units and never move when the view changes: zoom and pan only change the
// SVG's viewBox. So a marker's cx/cy say where it is, whatever the view.
//
// Updates: app.js applies the shore's `fleet` pushes (WebSocket) to S.fleet and calls
// swFleetMap.render(S.fleet) at most every 100 ms; markers are updated in place, keyed by
// ship. Rollout state per ship comes from the rollouts in S.rollouts (shore, admins: loaded
// by rollouts.js and kept current by the shore's `rollout` pushes); elsewhere the panel says
// there is none.
"use strict";
window.swFleetMap = (function () {
  const K = 10, W = 360 * K, H = 180 * K;
  const X = (lon) => (+lon + 180) * K, Y = (lat) => (90 - +lat) * K;
  // A ship not heard from for this long is drawn as stale (its last state may be old).
  const STALE_MS = 10 * 60 * 1000;
  const M = { world: null, loading: false, view: null, userView: false, fleet: [], picked: null, hover: null, panelSig: null, fitted: -1, drag: null };
  const map = () => document.getElementById("fleet-map");

  async function loadWorld() {
    if (M.world || M.loading) return;
    M.loading = true;
    try {
      const r = await fetch("/ui/world.json");
      if (r.ok) { M.world = await r.json(); drawLand(); }
    } catch (e) { /* the map draws without land */ }
    M.loading = false;
  }
  // Rings are integers in 1/scale degree, the first point absolute, the rest deltas.
  function drawLand() {
    const g = document.getElementById("fleet-land"); if (!g || !M.world) return;
    const sc = M.world.scale || 10, f = K / sc;
    g.replaceChildren();
    for (const r of M.world.rings || []) {
      let x = r[0], y = r[1], d = "M" + ((x + 180 * sc) * f).toFixed(1) + "," + ((90 * sc - y) * f).toFixed(1);
      for (let i = 2; i < r.length; i += 2) { x += r[i]; y += r[i + 1]; d += "L" + ((x + 180 * sc) * f).toFixed(1) + "," + ((90 * sc - y) * f).toFixed(1); }
      g.append(svg("path", { class: "land", d: d + "Z" }));
    }
    const grat = document.getElementById("fleet-grat"); grat.replaceChildren();
    for (let lon = -180; lon <= 180; lon += 30) grat.append(svg("line", { class: "grat", x1: X(lon), y1: 0, x2: X(lon), y2: H }));
    for (let lat = -60; lat <= 60; lat += 30) grat.append(svg("line", { class: "grat", x1: 0, y1: Y(lat), x2: W, y2: Y(lat) }));
  }

  // posOf and openOf: app.js's (loaded first)
  const idOf = (s) => s.id || s.ship;
  // The ship's link state: down when every link is down, degraded when one is down or
  // degraded, up when all are up, unknown without links.
  function linkState(s) {
    const ls = (s.links || []).map((l) => l.status);
    if (!ls.length) return "unknown";
    if (ls.every((x) => x === "down")) return "down";
    if (ls.some((x) => x === "down" || x === "degraded")) return "degraded";
    if (ls.every((x) => x === "up")) return "up";
    return "unknown";
  }
  function activeLink(s) {
    const id = s.sync_link || null;
    const l = (s.links || []).find((x) => x.id === id);
    return id ? `${id}${l ? " (" + l.status + ")" : ""}` : "—";
  }
  function age(ms) {
    if (!Number.isFinite(+ms) || !ms) return "never";
    const s = Math.max(0, Math.round((Date.now() - +ms) / 1000));
    return s < 90 ? `${s} s ago` : s < 5400 ? `${Math.round(s / 60)} min ago` : s < 172800 ? `${Math.round(s / 3600)} h ago` : `${Math.round(s / 86400)} d ago`;
  }

  // The view: a 2:1 box around the ships (the whole world without positions).
  function fit(fleet) {
    const pts = fleet.map(posOf).filter(Boolean);
    if (!pts.length) return [0, 0, W, H];
    const xs = pts.map((p) => X(p.lon)), ys = pts.map((p) => Y(p.lat));
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    let h = Math.max(y1 - y0 + 8 * K, 16 * K, (x1 - x0 + 16 * K) / 2); h = Math.min(h, H);
    const cx = (x0 + x1) / 2, cy = Math.max(h / 2, Math.min(H - h / 2, (y0 + y1) / 2));
    return [cx - h, cy - h / 2, 2 * h, h];
  }
  function setView(v) {
    const w = Math.max(4 * K, Math.min(W * 2, v[2])), h = w / 2;
    M.view = [v[0], Math.max(-h / 2, Math.min(H - h / 2, v[1])), w, h];
    map().setAttribute("viewBox", M.view.map((n) => n.toFixed(2)).join(" "));
    scaleMarkers();
  }
  // World units per screen pixel: markers keep their size on screen at any zoom.
  function unit() {
    const r = map().getBoundingClientRect();
    return M.view && r.width > 0 ? M.view[2] / r.width : 1;
  }
  function scaleMarkers() {
    const u = unit(), labels = M.fleet.length <= 15 || M.view[2] < 60 * K;
    for (const c of map().querySelectorAll("circle.ship")) c.setAttribute("r", (7 * u).toFixed(2));
    for (const t of map().querySelectorAll("text.ship-label")) {
      t.style.fontSize = (12 * u).toFixed(2) + "px";
      t.setAttribute("x", (+t.dataset.x + 10 * u).toFixed(2)); t.setAttribute("y", (+t.dataset.y + 4 * u).toFixed(2));
      t.style.display = labels ? "" : "none";
    }
    for (const l of map().querySelectorAll("line.heading")) {
      const h = (+l.dataset.h * Math.PI) / 180, x = +l.getAttribute("x1"), y = +l.getAttribute("y1");
      l.setAttribute("x2", (x + 16 * u * Math.sin(h)).toFixed(2)); l.setAttribute("y2", (y - 16 * u * Math.cos(h)).toFixed(2));
    }
  }

  function marker(g, s) {
    const id = idOf(s), p = posOf(s);
    let m = [...g.children].find((n) => n.dataset.ship === id);
    if (!p) { if (m) m.remove(); return; }
    if (!m) {
      m = svg("g", { class: "ship-marker", "data-ship": id });
      m.append(svg("line", { class: "heading" }), svg("circle", { class: "ship", tabindex: "0", "data-ship": id }), svg("text", { class: "ship-label" }));
      const c = m.querySelector("circle");
      c.addEventListener("mouseenter", () => { M.hover = id; panel(); });
      c.addEventListener("mouseleave", () => { M.hover = null; panel(); });
      c.addEventListener("focus", () => { M.hover = id; panel(); });
      c.addEventListener("click", () => { M.picked = M.picked === id ? null : id; panel(); });
      c.addEventListener("keydown", (ev) => { if (ev.key === "Enter") { M.picked = id; panel(); } });
      g.append(m);
    }
    const x = X(p.lon), y = Y(p.lat), open = openOf(s), link = linkState(s);
    const stale = !(+s.last_sync_ms > 0) || Date.now() - +s.last_sync_ms > STALE_MS;
    const c = m.querySelector("circle");
    c.setAttribute("cx", x.toFixed(2)); c.setAttribute("cy", y.toFixed(2));
    c.setAttribute("class", `ship link-${link}${open > 0 ? " alert" : ""}${stale ? " stale" : ""}${M.picked === id ? " picked" : ""}`);
    c.dataset.lat = p.lat; c.dataset.lon = p.lon; c.dataset.link = link; c.dataset.open = open;
    c.setAttribute("aria-label", `${id}: link ${link}, ${open} open incident(s)`);
    const hl = m.querySelector("line.heading");
    hl.setAttribute("x1", x.toFixed(2)); hl.setAttribute("y1", y.toFixed(2));
    if (Number.isFinite(+p.heading_deg)) { hl.dataset.h = +p.heading_deg; hl.style.display = ""; } else hl.style.display = "none";
    const t = m.querySelector("text"); t.textContent = `${id}${open ? ` (${open})` : ""}`; t.dataset.x = x; t.dataset.y = y;
  }

  // The latest rollout (by creation) that names a ship gives its state: {id, rollout, state}.
  function rolloutOf(id) {
    let best = null;
    for (const ro of S.rollouts.values())
      for (const w of ro.waves || []) for (const sh of w.ships || [])
        if (sh.ship === id && (!best || (+ro.created_ms || 0) >= best.at)) best = { id: ro.id, rollout: ro.state, state: sh.state, at: +ro.created_ms || 0 };
    return best;
  }

  // Redrawn only when what it shows changes (a push stream must not replace the button
  // under the pointer); the age of the last sync is updated in place.
  function panel() {
    const p = document.getElementById("fleet-panel"); if (!p) return;
    const id = M.hover || M.picked, s = M.fleet.find((x) => idOf(x) === id);
    for (const c of map().querySelectorAll("circle.ship")) c.classList.toggle("picked", c.dataset.ship === M.picked);
    if (!s) {
      const text = `${M.fleet.length} ship(s). Point at or pick a ship for its state.`;
      if (M.panelSig !== text) { M.panelSig = text; p.replaceChildren(el("p", { class: "muted" }, text)); }
      return;
    }
    const pos = posOf(s), ro = rolloutOf(id), open = openOf(s);
    const ageText = `${age(s.last_sync_ms)}${s.last_sync ? " (" + when(s.last_sync) + ")" : ""}`;
    const rows = [
      ["Link state", linkState(s), "link"],
      ["Active link", activeLink(s), "active"],
      ["Links", (s.links || []).map((l) => `${l.id} ${l.status}`).join(", ") || "—", "links"],
      ["Last sync", ageText, "age"],
      ["Backlog", `${s.sync_backlog ?? s.backlog ?? "—"} event(s)`, "backlog"],
      ["Open incidents", String(open), "open"],
      ["Rollout", ro ? `${ro.id}: ${ro.state} (rollout ${ro.rollout})` : "none", "rollout"],
      ["Position", pos ? `${(+pos.lat).toFixed(3)}, ${(+pos.lon).toFixed(3)}${Number.isFinite(+pos.heading_deg) ? ", heading " + Math.round(+pos.heading_deg) + "°" : ""}` : "—", "position"],
      ["Shore node", s.node || "—", "node"],
    ];
    const sig = JSON.stringify([id, rows.filter((r) => r[2] !== "age")]);
    if (M.panelSig === sig) { const a = p.querySelector("[data-field='age']"); if (a) a.textContent = ageText; return; }
    M.panelSig = sig;
    p.replaceChildren(
      el("h2", { "data-ship": id }, id),
      el("dl", { class: "fields" }, ...rows.flatMap(([k, v, f]) => [el("dt", {}, k), el("dd", { "data-field": f, class: f === "open" && open > 0 ? "sev sev-critical" : "" }, v)])),
      onNode("incidents") ? el("button", { onclick: () => { pickShip(id); location.hash = "#/incidents"; } }, "Incidents")
        : ro ? el("a", { class: "button-link", href: "#/rollout/" + encodeURIComponent(ro.id) }, "Rollout " + ro.id) : "");
  }

  function render(fleet) {
    M.fleet = fleet;
    const svgEl = map(); if (!svgEl) return;
    if (!M.world) loadWorld();
    // Fit the fleet until the operator moves the view; refit only when ships with a
    // position come or go or one sails out of view, so a moving fleet does not make the map breathe.
    const placed = fleet.filter(posOf).length;
    if (!M.userView && (!M.view || placed !== M.fitted || fleet.some((s) => { const p = posOf(s); return p && !inView(X(p.lon), Y(p.lat)); }))) {
      setView(fit(fleet)); M.fitted = placed;
    }
    const g = document.getElementById("fleet-ships");
    const ids = new Set(fleet.map(idOf));
    for (const m of [...g.children]) if (!ids.has(m.dataset.ship)) m.remove();
    for (const s of fleet) marker(g, s);
    scaleMarkers(); panel();
  }

  // Inside the view and clear of its edges by 3 % (a marker there is drawn whole).
  const inView = (x, y) => {
    if (!M.view) return false;
    const [vx, vy, vw, vh] = M.view, mx = vw * 0.03, my = vh * 0.03;
    return x >= vx + mx && x <= vx + vw - mx && y >= vy + my && y <= vy + vh - my;
  };
  // Zoom about a point (world units) by `f` (< 1 zooms in).
  function zoom(f, cx, cy) {
    const v = M.view || [0, 0, W, H];
    if (cx == null) { cx = v[0] + v[2] / 2; cy = v[1] + v[3] / 2; }
    M.userView = true;
    setView([cx - (cx - v[0]) * f, cy - (cy - v[1]) * f, v[2] * f, v[3] * f]);
  }
  function toWorld(ev) {
    const r = map().getBoundingClientRect(), v = M.view;
    return [v[0] + ((ev.clientX - r.left) / r.width) * v[2], v[1] + ((ev.clientY - r.top) / r.height) * v[3]];
  }
  function wire() {
    const m = map(); if (!m) return;
    m.addEventListener("wheel", (ev) => { ev.preventDefault(); const [x, y] = toWorld(ev); zoom(ev.deltaY < 0 ? 0.8 : 1.25, x, y); }, { passive: false });
    m.addEventListener("pointerdown", (ev) => { if (ev.target.tagName === "circle") return; M.drag = [ev.clientX, ev.clientY, M.view.slice()]; m.setPointerCapture(ev.pointerId); });
    m.addEventListener("pointermove", (ev) => {
      if (!M.drag) return;
      const r = m.getBoundingClientRect(), [x0, y0, v] = M.drag;
      M.userView = true;
      setView([v[0] - ((ev.clientX - x0) / r.width) * v[2], v[1] - ((ev.clientY - y0) / r.height) * v[3], v[2], v[3]]);
    });
    m.addEventListener("pointerup", () => { M.drag = null; });
    m.addEventListener("keydown", (ev) => {
      const v = M.view, step = v[2] / 8;
      const k = { "+": () => zoom(0.8), "=": () => zoom(0.8), "-": () => zoom(1.25), ArrowLeft: () => setView([v[0] - step, v[1], v[2], v[3]]), ArrowRight: () => setView([v[0] + step, v[1], v[2], v[3]]), ArrowUp: () => setView([v[0], v[1] - step, v[2], v[3]]), ArrowDown: () => setView([v[0], v[1] + step, v[2], v[3]]) }[ev.key];
      if (k) { ev.preventDefault(); M.userView = true; k(); }
    });
    document.getElementById("fleet-zoom-in").addEventListener("click", () => zoom(0.8));
    document.getElementById("fleet-zoom-out").addEventListener("click", () => zoom(1.25));
    document.getElementById("fleet-fit").addEventListener("click", () => { M.userView = false; setView(fit(M.fleet)); M.fitted = M.fleet.filter(posOf).length; });
    window.addEventListener("resize", scaleMarkers);
    window.addEventListener("hashchange", () => setTimeout(() => { if (M.view) scaleMarkers(); }, 0));
    // The panel's "last sync" age moves on between pushes.
    setInterval(() => { if (!document.getElementById("fleet").hidden) panel(); }, 2000);
  }
  wire();
  // { lon, lat } -> world units, for tests and other pages.
  return { render, panel, project: (lon, lat) => [X(lon), Y(lat)], linkState, rolloutOf };
})();
if (typeof S !== "undefined" && S.fleet.length) swFleetMap.render(S.fleet);
