// seawatch console: device and link pages, the links page's sparklines and the ship's
// topology (GET /api/devices/{id}, /api/links[/{id}], /api/topology). Addresses:
// #/device/SHIP/ID[?hours=H], #/link/SHIP/ID[?hours=H], #/topology[?ship=SHIP].
// Uses app.js's el(), svg(), when(), api(), sevClass(), S; strings go in as text.
"use strict";
window.swElements = (function () {
  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;
  const spark = new Map(); // ship/link -> Es/No points, for the links page
  let busy = {}, lastLinks = 0;

  // Where an element's page is: a link when the ship has a link of that name.
  function href(ship, id) {
    const isLink = S.links.has((ship || "") + "/" + id) || [...spark.keys()].some((k) => k === (ship || "") + "/" + id);
    return `#/${isLink ? "link" : "device"}/${enc(ship || "")}/${enc(id)}`;
  }
  function link(ship, id, attrs) {
    return el("a", Object.assign({ href: href(ship, id), class: "element" }, attrs || {}), id);
  }
  function parse() {
    const m = location.hash.match(/^#\/(device|link)\/([^/?]*)\/([^?]+)(?:\?(.*))?$/);
    if (!m) return null;
    const q = new URLSearchParams(m[4] || "");
    return { page: m[1], ship: decodeURIComponent(m[2]), id: decodeURIComponent(m[3]), hours: q.get("hours") || "1" };
  }

  // A sparkline: points [[ts, v], ...] scaled into w×h; data-points says how many.
  function sparkline(points, w, h, cls) {
    const g = svg("svg", { class: "spark " + (cls || ""), viewBox: `0 0 ${w} ${h}`, width: w, height: h, role: "img", "data-points": points.length });
    if (points.length < 2) { g.append(svg("text", { x: 2, y: h - 4, class: "muted" }, points.length ? "1 point" : "no data")); return g; }
    const t0 = points[0][0], t1 = points[points.length - 1][0] || t0 + 1;
    const vs = points.map((p) => p[1]), lo = Math.min(...vs), hi = Math.max(...vs), span = hi - lo || 1;
    const pts = points.map(([t, v]) => `${(((t - t0) / (t1 - t0 || 1)) * (w - 4) + 2).toFixed(1)},${(h - 3 - ((v - lo) / span) * (h - 6)).toFixed(1)}`).join(" ");
    g.append(svg("polyline", { points: pts }));
    g.append(svg("title", {}, `${vs[vs.length - 1]} (min ${lo}, max ${hi})`));
    return g;
  }

  const METRICS = [
    ["probe_rtt_ms", "Probe RTT", "ms"], ["cpu_percent", "CPU", "%"],
    ["errors", "Interface errors", "per interval"], ["disk_used_percent", "Disk used", "%"],
  ];
  function windowPick(page, p) {
    const sel = el("select", { id: page + "-hours", "aria-label": "window" },
      ...[["0.25", "15 min"], ["1", "1 hour"], ["6", "6 hours"], ["24", "24 hours"]].map(([v, t]) => el("option", { value: v }, t)));
    sel.value = p.hours;
    sel.addEventListener("change", () => (location.hash = `#/${page}/${enc(p.ship)}/${enc(p.id)}?hours=${sel.value}`));
    return sel;
  }
  function incidentList(list) {
    const ul = el("ul", { class: "plain" });
    for (const i of list || []) ul.append(el("li", {}, el("a", { href: "#/incident/" + enc(i.id) }, i.id), " ",
      el("span", { class: sevClass(i.severity) }, i.severity), " ", el("span", { class: "state-" + i.state }, i.state), " ",
      el("span", { class: "muted" }, `${i.role} · opened ${when(i.opened_at)}`), " ", i.summary || ""));
    if (!ul.childNodes.length) ul.append(el("li", { class: "muted" }, "No incident."));
    return ul;
  }

  async function get(path) {
    const r = await api("GET", path);
    const j = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(j.error || r.status);
    return j;
  }

  async function renderDevice(p) {
    if (busy.device) return; busy.device = true;
    const root = $("device-body");
    try {
      const d = await get(`/api/devices/${enc(p.id)}?ship=${enc(p.ship)}&hours=${enc(p.hours)}`);
      $("device-title").replaceChildren(el("span", { class: "health health-" + d.health }, d.health), " ", d.id, " ", el("span", { class: "muted" }, `${d.kind} on ${d.ship}`));
      const f = el("dl", { class: "fields" });
      const rel = (ids) => ids.length ? ids.flatMap((x, k) => [k ? ", " : "", link(d.ship, x)]) : ["—"];
      for (const [k, v] of [["In inventory", d.in_inventory ? "yes" : "no (discovered)"], ["Depends on", rel(d.parents)], ["Carries", rel(d.children)],
        ["Last seen", when(d.last_seen)], ["Last error", when(d.last_error)], ["Samples", d.samples]])
        f.append(el("dt", {}, k), el("dd", {}, ...(Array.isArray(v) ? v : [v])));
      const lq = new URLSearchParams({ device: d.id, ship: d.ship, from: "-" + (p.hours === "0.25" ? "15m" : p.hours + "h") });
      const charts = el("div", { class: "sparks" });
      for (const [k, title, unit] of METRICS) {
        const pts = (d.series && d.series[k]) || [];
        const last = pts.length ? pts[pts.length - 1][1] : null;
        charts.append(el("div", { class: "card spark-card", "data-metric": k }, el("h3", {}, title),
          sparkline(pts, 260, 56, k), el("p", { class: "muted" }, last == null ? "no samples in the window" : `${last} ${unit} · ${pts.length} points`)));
      }
      const alerts = el("ul", { class: "plain" });
      for (const a of d.alerts || []) alerts.append(el("li", {}, el("span", { class: "muted" }, when(a.at)), " ", a.text, " ", el("a", { href: "#/incident/" + enc(a.incident) }, a.incident)));
      for (const l of d.log_lines || []) alerts.append(el("li", {}, el("span", { class: "muted" }, when(l.ts)), " ", el("span", { class: sevClass(l.severity) }, l.severity), " ", el("code", {}, l.text)));
      if (!alerts.childNodes.length) alerts.append(el("li", { class: "muted" }, "No alert and no warning in the last day."));
      root.replaceChildren(
        el("div", { class: "card" }, el("div", { class: "bar" }, el("h2", {}, "State"), el("label", { class: "row" }, "Window ", windowPick("device", p))), f,
          el("p", {}, el("a", { class: "button-link", href: "#/logs?" + lq }, `Logs of ${d.id}`), " · ", el("a", { href: "#/topology?ship=" + enc(d.ship) + "&focus=" + enc(d.id) }, "Show in topology"))),
        charts,
        el("div", { class: "cols" }, el("div", { class: "card" }, el("h2", {}, "Incidents"), incidentList(d.incidents)),
          el("div", { class: "card" }, el("h2", {}, "Recent alerts and warnings"), alerts)));
    } catch (e) {
      $("device-title").textContent = p.id;
      root.replaceChildren(el("p", { class: "error", role: "alert" }, String(e.message || e)));
    } finally { busy.device = false; }
  }

  // The link chart: Es/No (dB, left axis) as a line, lock lost as red bands, outage risk
  // (0–1, right axis) as a second line, predicted outages as dashed markers.
  function linkChart(l) {
    const W = 1000, H = 260, L = 48, R = 48, T = 12, B = 28;
    const g = svg("svg", { id: "link-chart", class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `Es/No and outage risk of ${l.id}` });
    const t0 = Date.parse(l.from), t1 = Date.parse(l.to);
    const X = (t) => L + ((t - t0) / (t1 - t0 || 1)) * (W - L - R);
    const es = l.esno || [], vs = es.map((p) => p[1]);
    const lo = Math.floor(Math.min(0, ...vs)), hi = Math.ceil(Math.max(10, ...vs));
    const Y = (v) => T + (1 - (v - lo) / (hi - lo || 1)) * (H - T - B);
    const YR = (r) => T + (1 - r) * (H - T - B);
    for (let v = lo; v <= hi; v += Math.max(1, Math.round((hi - lo) / 5))) {
      g.append(svg("line", { class: "grid", x1: L, x2: W - R, y1: Y(v), y2: Y(v) }));
      g.append(svg("text", { x: L - 6, y: Y(v) + 4, "text-anchor": "end" }, v + " dB"));
    }
    for (const r of [0, 0.5, 1]) g.append(svg("text", { x: W - R + 6, y: YR(r) + 4 }, Math.round(r * 100) + "%"));
    for (let k = 0; k <= 4; k++) { const t = t0 + (k * (t1 - t0)) / 4; g.append(svg("text", { x: X(t), y: H - 8, "text-anchor": "middle" }, new Date(t).toISOString().slice(11, 16) + "Z")); }
    const lock = l.lock || [];
    for (let k = 0; k < lock.length; k++) if (lock[k][1] < 0.5) {
      const a = X(lock[k][0]), b = k + 1 < lock.length ? X(lock[k + 1][0]) : a + 4;
      g.append(svg("rect", { class: "unlocked", x: a, y: T, width: Math.max(2, b - a), height: H - T - B }));
    }
    const line = (pts, Yf, cls) => { if (pts.length) g.append(svg("polyline", { class: cls, points: pts.map(([t, v]) => `${X(t).toFixed(1)},${Yf(v).toFixed(1)}`).join(" "), "data-points": pts.length })); };
    line(es, Y, "esno");
    line(l.risk_history || [], YR, "risk");
    for (const o of l.predicted_outages || []) {
      const t = Date.parse(o.at); if (!(t >= t0 && t <= t1 + 6 * 3600e3)) continue;
      const x = Math.min(X(t), W - R);
      g.append(svg("line", { class: "predicted", x1: x, x2: x, y1: T, y2: H - B }));
      g.append(svg("text", { x: x - 4, y: T + 12, "text-anchor": "end", class: "predicted" }, "predicted outage " + new Date(t).toISOString().slice(11, 16) + "Z"));
    }
    if (!es.length) g.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no Es/No samples in the window"));
    return g;
  }

  async function renderLink(p) {
    if (busy.link) return; busy.link = true;
    const root = $("link-body");
    try {
      const l = await get(`/api/links/${enc(p.id)}?ship=${enc(p.ship)}&hours=${enc(p.hours)}`);
      $("link-title").replaceChildren(el("span", { class: "health health-" + l.state }, l.state), " ", l.id, " ", el("span", { class: "muted" }, `${l.kind}${l.band ? " " + l.band : ""}${l.primary ? " · primary" : ""} on ${l.ship}`));
      const f = el("dl", { class: "fields" });
      for (const [k, v] of [["Es/No", l.esno_db == null ? "—" : l.esno_db + " dB"], ["Lock", l.locked == null ? "—" : l.locked ? "locked" : "lost"],
        ["Outage risk", Math.round((l.risk || 0) * 100) + "%"], ["Predicted outage", when(l.predicted_outage_at)], ["Modem", l.modem ? link(l.ship, l.modem) : "—"], ["Updated", when(l.updated_at)]])
        f.append(el("dt", {}, k), el("dd", {}, v));
      const outages = el("ul", { class: "plain" });
      for (const o of l.predicted_outages || []) outages.append(el("li", {}, `outage predicted for ${when(o.at)} (seen ${when(o.predicted_at)}, risk ${Math.round(o.risk * 100)}%)`));
      if (!outages.childNodes.length) outages.append(el("li", { class: "muted" }, "No outage predicted in the window."));
      root.replaceChildren(
        el("div", { class: "card" }, el("div", { class: "bar" }, el("h2", {}, "Es/No, lock and outage risk"), el("label", { class: "row" }, "Window ", windowPick("link", p))),
          linkChart(l), el("p", { class: "legend" }, el("span", { class: "key k-esno" }, "Es/No"), el("span", { class: "key k-risk" }, "outage risk"), el("span", { class: "key k-unlocked" }, "lock lost"), el("span", { class: "key k-predicted" }, "predicted outage"))),
        el("div", { class: "cols" }, el("div", { class: "card" }, el("h2", {}, "State"), f, el("h3", {}, "Predicted outages"), outages),
          el("div", { class: "card" }, el("h2", {}, "Incidents"), incidentList(l.incidents))));
    } catch (e) {
      $("link-title").textContent = p.id;
      root.replaceChildren(el("p", { class: "error", role: "alert" }, String(e.message || e)));
    } finally { busy.link = false; }
  }

  // The links page's sparklines (and the links no push has announced yet).
  async function loadLinks() {
    if (busy.links || Date.now() - lastLinks < 10000) return; busy.links = true; lastLinks = Date.now();
    try {
      const list = await get("/api/links" + (S.ship ? "?ship=" + enc(S.ship) : ""));
      for (const l of list) {
        spark.set(l.ship + "/" + l.id, l.esno || []);
        const key = l.ship + "/" + l.id;
        if (!S.links.has(key)) S.links.set(key, { ship: l.ship, link: l.id, state: l.state, up: l.state !== "down", risk: l.risk, predicted_outage_at: l.predicted_outage_at, esno_db: l.esno_db, at: l.updated_at });
      }
      if (typeof renderLinks === "function") renderLinks();
    } catch (e) { /* the table stays as the pushes drew it */ } finally { busy.links = false; }
  }
  function linkSpark(ship, id) { return sparkline(spark.get(ship + "/" + id) || [], 160, 32, "esno"); }

  // ---- topology ----
  const ROW = 64, COLW = 96, LEFT = 150, WIDTH = 1320;
  async function renderTopology() {
    if (busy.topo) return; busy.topo = true;
    const q = new URLSearchParams(location.hash.split("?")[1] || "");
    const ship = q.get("ship") || S.ship || "";
    try {
      const t = await get("/api/topology" + (ship ? "?ship=" + enc(ship) : ""));
      if (!changed("topology", t) && $("topo-svg").childNodes.length) return;
      drawTopology(t, q.get("focus"));
    } catch (e) {
      $("topo-mistakes").replaceChildren(el("li", { class: "error", role: "alert" }, String(e.message || e)));
    } finally { busy.topo = false; }
  }
  function drawTopology(t, focus) {
    $("topo-title").textContent = "Topology of " + t.ship;
    const g = $("topo-svg"); g.replaceChildren();
    const pos = new Map(), perRow = Math.floor((WIDTH - LEFT - 20) / COLW);
    let y = 20;
    const bands = [["links", "Links", t.links.map((l) => ({ id: l.id, kind: l.kind, state: l.state, root_of: l.root_of, link: true, primary: l.primary }))]];
    for (const L of t.layers) bands.push([L.id, L.title, t.nodes.filter((n) => n.layer === L.id)]);
    const groups = [];
    for (const [id, title, nodes] of bands) {
      if (!nodes.length) continue;
      const rows = Math.ceil(nodes.length / perRow);
      const band = svg("g", { class: "layer", "data-layer": id });
      band.append(svg("rect", { class: "band", x: 4, y: y - 14, width: WIDTH - 8, height: rows * ROW + 4, rx: 6 }));
      band.append(svg("text", { class: "band-title", x: 14, y: y + 12 }, title));
      band.append(svg("text", { class: "band-count", x: 14, y: y + 28 }, nodes.length + (nodes.length === 1 ? " element" : " elements")));
      nodes.forEach((n, k) => pos.set(n.id, [LEFT + (k % perRow) * COLW + COLW / 2, y + Math.floor(k / perRow) * ROW + 10]));
      groups.push([band, nodes]);
      y += rows * ROW + 12;
    }
    g.setAttribute("viewBox", `0 0 ${WIDTH} ${y}`);
    const edges = svg("g", { class: "edges" });
    const byId = new Map(t.nodes.map((n) => [n.id, n]));
    const lldp = new Set(t.mismatches.filter((m) => m.kind === "lldp").map((m) => m.device));
    for (const n of t.nodes) for (const p of n.parents || []) {
      const a = pos.get(n.id), b = pos.get(p);
      if (a && b) edges.append(svg("line", { class: "edge" + (lldp.has(n.id) ? " lldp" : ""), x1: a[0], y1: a[1], x2: b[0], y2: b[1], "data-from": n.id, "data-to": p }));
    }
    // the way in from each link: link → modem → the modem's parents
    for (const l of t.links) {
      let prev = l.id;
      for (const v of l.via || []) {
        const a = pos.get(prev), b = pos.get(v);
        if (a && b) edges.append(svg("line", { class: "path" + (l.primary ? " primary" : ""), x1: a[0], y1: a[1], x2: b[0], y2: b[1], "data-link": l.id }));
        if (prev === l.id || (byId.get(v) && byId.get(v).layer !== "perimeter")) prev = v;
      }
    }
    g.append(edges);
    for (const [band, nodes] of groups) {
      for (const n of nodes) {
        const [x, yy] = pos.get(n.id);
        const cls = "node state-" + (n.state || "unknown") + (n.root_of ? " root" : n.incident ? " hit" : "") + (n.in_inventory === false ? " discovered" : "") + (lldp.has(n.id) ? " lldp" : "");
        const a = svg("a", { href: n.link ? `#/link/${enc(t.ship)}/${enc(n.id)}` : `#/device/${enc(t.ship)}/${enc(n.id)}`, class: cls, "data-id": n.id });
        a.append(svg("title", {}, `${n.id} (${n.kind}): ${n.state}${n.root_of ? ", root cause of " + n.root_of : n.incident ? ", affected by " + n.incident : ""}`));
        a.append(n.link ? svg("rect", { x: x - 11, y: yy - 11, width: 22, height: 22, rx: 4 }) : svg("circle", { cx: x, cy: yy, r: n.root_of ? 12 : 9 }));
        a.append(svg("text", { x: x, y: yy + 26, "text-anchor": "middle" }, n.id));
        a.addEventListener("focus", () => trace(n.id));
        a.addEventListener("mouseenter", () => trace(n.id));
        band.append(a);
      }
      g.append(band);
    }
    // traffic from a device: its parents up to the top, then the links' way in
    function trace(id) {
      for (const e of g.querySelectorAll(".traced")) e.classList.remove("traced");
      const seen = new Set([id]), todo = [id];
      while (todo.length) { const c = todo.pop(); for (const p of (byId.get(c) || {}).parents || []) if (!seen.has(p)) { seen.add(p); todo.push(p); } }
      for (const e of g.querySelectorAll("line.edge")) if (seen.has(e.dataset.from) && seen.has(e.dataset.to)) e.classList.add("traced");
      for (const e of g.querySelectorAll("line.path")) e.classList.add("traced");
      $("topo-focus").textContent = `${id}: traffic goes through ${[...seen].filter((x) => x !== id).join(", ") || "nothing upstream"}, then ${t.links.map((l) => l.id).join(" / ")}.`;
    }
    const ul = $("topo-mistakes"); ul.replaceChildren();
    for (const m of t.mismatches) ul.append(el("li", { "data-kind": m.kind }, el("span", { class: "tl-kind" }, m.kind === "lldp" ? "LLDP" : "discovered"), " ", link(t.ship, m.device), " ", m.text));
    if (!ul.childNodes.length) ul.append(el("li", { class: "muted" }, "The inventory matches what the ship reports."));
    if (focus && pos.has(focus)) { trace(focus); const f = g.querySelector(`[data-id="${CSS.escape(focus)}"]`); if (f) f.focus(); }
  }

  function route() {
    const p = parse();
    if (p && S.token) (p.page === "device" ? renderDevice : renderLink)(p);
    if (/^#\/topology/.test(location.hash) && S.token) { S.sig.topology = null; renderTopology(); }
    if (/^#\/links/.test(location.hash) && S.token) { lastLinks = 0; loadLinks(); }
  }
  // app.js's router calls route() on every address change (and at sign-in).
  // Pages refresh every 10 s while shown.
  setInterval(() => {
    if (!S.token || document.hidden) return;
    const p = parse();
    if (p) (p.page === "device" ? renderDevice : renderLink)(p);
    else if (/^#\/topology/.test(location.hash)) renderTopology();
    else if (/^#\/links/.test(location.hash)) loadLinks();
  }, 10000);
  if (S.token) setTimeout(route, 0); // the page was opened on one of these addresses
  return { href, link, linkSpark, sparkline, loadLinks, route };
})();
