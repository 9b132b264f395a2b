// seawatch console, Mail page (operators): the outbox (GET /api/notifications) and
// silences (GET, POST, DELETE /api/silences). Uses app.js's el(), when(), flash(), api().
// Every string from the server is inserted as text.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const operator = () => !!S.token && (RANK[S.role] || 0) >= RANK.operator;
  const onPage = () => location.hash === "#/mail";

  function silenceRow(s) {
    const what = s.incident ? "incident " + s.incident : "element " + s.element;
    const until = s.until_resolved ? "it resolves" : when(s.until);
    const end = el("button", { class: "end-silence", "data-id": s.id, onclick: () => endSilence(s.id) }, "End");
    return el("tr", { "data-id": s.id, class: s.active ? "" : "muted" },
      el("td", {}, s.id), el("td", {}, what), el("td", {}, until), el("td", {}, s.by), el("td", {}, s.comment || ""), el("td", {}, end));
  }
  function noticeRow(n) {
    const done = n.done_at ? when(n.done_at) : n.due_at ? "due " + when(n.due_at) : "now";
    return el("tr", { "data-id": n.message_id, class: "mail-" + n.status },
      el("td", {}, el("span", { class: "state state-" + n.status }, n.status)),
      el("td", {}, n.incident || "—"), el("td", {}, n.transition),
      el("td", {}, el("span", { class: sevClass(n.severity) }, n.severity)),
      el("td", {}, (n.to || []).join(", ")), el("td", {}, when(n.queued_at)), el("td", {}, done),
      el("td", {}, String(n.attempts || 0)), el("td", {}, n.last_error || ""));
  }

  async function load() {
    $("nav-mail").hidden = !operator() || !onNode("mail");
    if (!onPage() || !S.token) return;
    $("mail-denied").hidden = operator();
    if (!operator()) return;
    try {
      const [nr, sr] = await Promise.all([api("GET", "/api/notifications"), api("GET", "/api/silences")]);
      const notices = nr.ok ? await nr.json() : [];
      const silences = sr.ok ? await sr.json() : [];
      $("silence-form").hidden = !sr.ok;
      if (changed("mail-silences", silences)) {
        $("silence-rows").replaceChildren(...silences.map(silenceRow));
        $("silence-empty").hidden = silences.length > 0;
      }
      if (changed("mail-notices", notices)) {
        $("mail-rows").replaceChildren(...notices.map(noticeRow));
        $("mail-empty").hidden = notices.length > 0;
      }
    } catch (e) { /* 401 already signed out; otherwise try again on the next tick */ }
  }

  async function endSilence(id) {
    const r = await api("DELETE", "/api/silences/" + encodeURIComponent(id));
    flash(r.ok ? `Silence ${id} ended.` : `Could not end ${id}.`);
    load();
  }

  $("silence-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { comment: $("silence-comment").value.trim() };
    const inc = $("silence-incident").value.trim(), elem = $("silence-element").value.trim();
    if (inc) body.incident = inc; else if (elem) body.element = elem;
    const f = $("silence-for").value;
    if (f === "resolved") body.until_resolved = true; else body.duration_s = Number(f);
    const r = await api("POST", "/api/silences", body);
    const j = await r.json().catch(() => ({}));
    if (!r.ok) { flash(j.error || "The silence was refused."); return; }
    flash(`Silence ${j.id} added.`);
    $("silence-incident").value = $("silence-element").value = $("silence-comment").value = "";
    load();
  });

  window.addEventListener("hashchange", load);
  setInterval(() => { if (onPage() && !document.hidden) load(); }, 5000);
  load();
})();
