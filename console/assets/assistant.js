// seawatch console, Assistant page: ask the ship's assistant (POST /api/assistant/ask)
// and read its answer with its citations. A citation is a button: it opens the cited
// section (GET /api/assistant/section) with the quoted excerpt marked in it. An
// abstention is shown as such ("Not covered"). The session's questions are listed (and
// kept for the browser tab in sessionStorage); one click asks again. The line above the
// form says what the index holds (GET /api/assistant/status), or that there is none and
// how to build it. Answers are extractive: there is no token stream to show.
// Uses app.js's el(), api(), flash(); strings go in as text.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const onPage = () => /^#\/assistant(\?|$)/.test(location.hash);
  const KEY = "sw.assistant.history";
  let history = [];
  try { history = JSON.parse(sessionStorage.getItem(KEY) || "[]"); } catch (e) { history = []; }
  let busy = false, statusShown = false;

  async function status() {
    if (!S.token || !onPage()) return;
    try {
      const r = await api("GET", "/api/assistant/status");
      const j = await r.json().catch(() => null);
      if (!r.ok || !j) { $("asst-status").textContent = (j && j.error) || `Assistant unavailable (${r.status}).`; return; }
      const d = j.documents || {};
      const held = j.index
        ? `Index: ${d.sop || 0} SOPs, ${d.incident || 0} resolved incidents, ${d.config || 0} device configs` +
          ` (${j.sections} sections, ${j.dense ? "BM25 + MiniLM" : "BM25 only"}).`
        : "No assistant index on this node.";
      $("asst-status").textContent = held;
      $("asst-hint").textContent = j.hint || "";
      $("asst-hint").hidden = !j.hint;
      statusShown = true;
    } catch (e) { /* 401 signs out */ }
  }

  function renderHistory() {
    $("asst-history").replaceChildren(...history.map((h, i) =>
      el("li", {}, el("button", { type: "button", class: "linkish", "data-i": String(i),
        onclick: () => { $("asst-q").value = h; ask(h); } }, h))));
    $("asst-history-empty").hidden = history.length > 0;
  }

  // The cited section, the excerpt marked.
  async function openCitation(c, n, button) {
    for (const b of document.querySelectorAll("#asst-thread .cite")) b.setAttribute("aria-pressed", "false");
    if (button) button.setAttribute("aria-pressed", "true");
    const q = new URLSearchParams({ source: c.source, section: c.section, excerpt: c.excerpt });
    const box = $("asst-source");
    box.hidden = false;
    $("asst-source-title").textContent = `[${n}] ${c.section}`;
    $("asst-source-name").textContent = c.source;
    try {
      const r = await api("GET", "/api/assistant/section?" + q);
      const j = await r.json().catch(() => null);
      const text = $("asst-source-text");
      if (!r.ok || !j) { text.replaceChildren(`Could not open the section: ${(j && j.error) || r.status}`); return; }
      $("asst-source-kind").textContent = j.kind;
      const at = j.text.indexOf(c.excerpt);
      if (at < 0) text.replaceChildren(j.text);
      else text.replaceChildren(j.text.slice(0, at), el("mark", { id: "asst-mark" }, c.excerpt), j.text.slice(at + c.excerpt.length));
      $("asst-source-title").focus();
      const m = $("asst-mark"); if (m) m.scrollIntoView({ block: "nearest" });
    } catch (e) { /* 401 signs out */ }
  }

  function answerCard(question, j) {
    const card = el("article", { class: "qa" + (j.abstained ? " abstained" : ""), "aria-live": "polite" });
    card.append(el("p", { class: "q" }, el("strong", {}, "Q: "), question));
    if (j.abstained) card.append(el("p", { class: "not-covered" }, el("strong", {}, "Not covered. "), j.answer));
    else card.append(el("pre", { class: "a" }, j.answer));
    if (j.citations && j.citations.length) {
      const list = el("ol", { class: "cites" });
      j.citations.forEach((c, i) => {
        const n = i + 1;
        const b = el("button", { type: "button", class: "cite", "aria-pressed": "false",
          title: `Open ${c.source}: ${c.section}` }, `[${n}] ${c.section}`);
        b.addEventListener("click", () => openCitation(c, n, b));
        list.append(el("li", {}, b, el("span", { class: "muted" }, " — " + c.source)));
      });
      card.append(list);
    }
    card.append(el("p", { class: "hint" }, `${j.took_ms} ms`));
    return card;
  }

  async function ask(question) {
    question = (question || "").trim();
    if (!question || busy || !S.token) return;
    busy = true;
    $("asst-ask").disabled = true;
    $("asst-error").textContent = "";
    $("asst-busy").hidden = false;
    try {
      const body = { question };
      if (S.ship) body.ship = S.ship;
      const r = await api("POST", "/api/assistant/ask", body);
      const j = await r.json().catch(() => null);
      if (!r.ok || !j) { $("asst-error").textContent = (j && j.error) || `The assistant failed (${r.status}).`; return; }
      $("asst-thread").prepend(answerCard(question, j));
      history = [question, ...history.filter((h) => h !== question)].slice(0, 50);
      sessionStorage.setItem(KEY, JSON.stringify(history));
      renderHistory();
      const first = $("asst-thread").querySelector(".cite");
      if (first) first.focus(); else $("asst-q").focus();
    } catch (e) { /* 401 signs out */ }
    finally { busy = false; $("asst-ask").disabled = false; $("asst-busy").hidden = true; }
  }

  $("asst-form").addEventListener("submit", (ev) => { ev.preventDefault(); ask($("asst-q").value); });
  // Enter asks, Shift+Enter is a new line.
  $("asst-q").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); ask($("asst-q").value); }
  });
  $("asst-source-close").addEventListener("click", () => { $("asst-source").hidden = true; $("asst-q").focus(); });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && onPage() && !$("asst-source").hidden) { $("asst-source").hidden = true; $("asst-q").focus(); }
  });
  window.addEventListener("hashchange", () => { if (onPage()) { status(); $("asst-q").focus(); } });
  setInterval(() => { if (onPage() && !document.hidden) status(); }, 10000);
  renderHistory();
  if (onPage()) status();
  window.assistantStatusShown = () => statusShown;
})();
