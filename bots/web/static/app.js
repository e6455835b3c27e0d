// oncall-agent web chat: plain JS, no build step, nothing fetched from elsewhere.
// Text from the server only ever reaches the page through textContent (md.js builds DOM
// nodes), and the Content-Security-Policy forbids inline scripts as a second line.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { thread: null, busy: false, stopping: false, files: [], maxAttachmentKb: 256 };
// What the server takes as data for a computation (bots/attachments.py).
const TEXT_TYPES = [".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".log", ".txt"];
const MAX_FILES = 3;
const NARROW = window.matchMedia("(max-width: 760px)");

// Plain words for graph nodes (unknown nodes show their name): no internal jargon.
const NODE_LABELS = {
  route: "Reading the question", answer_direct: "Answering from the docs", plan: "Thinking",
  act: "Running tools", finalize: "Checking the sources", escalate: "Preparing a hand-over",
};

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function button(label, cls, onclick) {
  const b = el("button", cls, label);
  b.type = "button";
  if (onclick) b.onclick = onclick;
  return b;
}

const seconds = (ms) => (ms >= 10000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`);

// ---- API ------------------------------------------------------------------------------------
async function api(method, path, body) {
  const res = await fetch(path, {
    method, headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined, credentials: "same-origin",
  });
  if (res.status === 204) return null;
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error((data.error && data.error.message) || `HTTP ${res.status}`);
  return data;
}

async function* sse(res) { // parse text/event-stream from a fetch body
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const frame = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let type = "message", data = "";
      for (const line of frame.split("\n")) {
        if (line.startsWith("event: ")) type = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) yield { type, data: JSON.parse(data) };
    }
  }
}

// ---- clipboard --------------------------------------------------------------------------------
async function copyText(text, btn) {
  try { await navigator.clipboard.writeText(text); }
  catch (e) { // no clipboard API (plain http on another host): the old way
    const area = el("textarea"); area.value = text; document.body.append(area);
    area.select(); document.execCommand("copy"); area.remove();
  }
  const was = btn.textContent;
  btn.textContent = "Copied";
  setTimeout(() => { btn.textContent = was; }, 1500);
}

// ---- scrolling --------------------------------------------------------------------------------
function nearBottom() {
  const m = $("messages");
  return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
}
function toBottom() { const m = $("messages"); m.scrollTop = m.scrollHeight; }

// ---- a turn -----------------------------------------------------------------------------------
function turnView(question, files) {
  $("empty").hidden = true;
  const box = el("article", "turn");
  box.append(el("div", "question", question));
  if (files && files.length) {
    const list = el("ul", "question-files"); list.setAttribute("aria-label", "Attached files");
    for (const name of files) list.append(el("li", "", name));
    box.append(list);
  }
  const bot = el("div", "bot");
  const steps = el("details", "steps"); steps.dataset.testid = "steps";
  const summary = el("summary");
  const status = el("span", "status", "Working…");
  summary.append(el("span", "spinner"), status);
  const list = el("ol", "step-list");
  steps.append(summary, list);
  steps.open = true; // live while the turn runs; folded into "n steps" when it is done
  steps.hidden = true;
  const body = el("div", "answer md streaming"); body.dataset.testid = "answer";
  bot.append(steps, body);
  box.append(bot);
  $("messages").append(box);
  toBottom();
  return { box, bot, steps, status, list, body, started: performance.now(), searches: {}, calls: {} };
}

function setStatus(view, text) {
  view.steps.hidden = false;
  view.status.textContent = text;
  $("status").textContent = text;
}

function addStep(view, text, cls) {
  view.steps.hidden = false;
  const li = el("li", cls || "", text);
  view.list.append(li);
  return li;
}

function doneStep(li, text, ok) {
  li.textContent = text;
  li.className = ok ? "ok" : "failed";
}

function callLabel(c) {
  if (c.name === "search_docs") return `Searching the docs for “${c.args.query || ""}”`;
  const args = Object.entries(c.args || {}).map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`);
  return `Calling ${c.name}${args.length ? " (" + args.join(", ").slice(0, 120) + ")" : ""}`;
}

function onStep(view, type, d) {
  if (type === "step") setStatus(view, (NODE_LABELS[d.node] || d.node.replace(/_/g, " ")) + "…");
  else if (type === "route") {
    addStep(view, d.route === "deep" ? "Taking the thorough route: several searches and tools" : "Quick answer from the docs", "route");
  } else if (type === "search") {
    view.searches[d.query] = addStep(view, `Searching the docs for “${d.query}”`, "running");
    setStatus(view, "Searching the docs…");
  } else if (type === "retrieval") {
    const text = `Searched the docs for “${d.query}”: ${d.hits} passage${d.hits === 1 ? "" : "s"}`;
    const li = view.searches[d.query];
    if (li) doneStep(li, text, true); else addStep(view, text, "ok");
  } else if (type === "tool_start") {
    for (const c of d.calls) view.calls[c.id] = addStep(view, callLabel(c), "running");
    setStatus(view, d.calls.length > 1 ? `Running ${d.calls.length} tools…` : callLabel(d.calls[0]) + "…");
  } else if (type === "tool_end") {
    for (const r of d.results) {
      const li = view.calls[r.id];
      const base = li ? li.textContent.replace(/^Searching/, "Searched").replace(/^Calling/, "Called") : r.name;
      const found = r.name === "search_docs" && r.results !== null ? `: ${r.results} passage${r.results === 1 ? "" : "s"}` : "";
      const text = r.ok ? base + found : `${base}: failed`;
      if (li) doneStep(li, text, r.ok); else addStep(view, text, r.ok ? "ok" : "failed");
    }
  } else if (type === "thinking") {
    if (!view.thinking) {
      const li = addStep(view, "", "thinking");
      const det = el("details"); det.append(el("summary", "", "Thinking"), view.thinkText = el("p", "think-text"));
      li.append(det); view.thinking = li;
    }
    view.thinkText.textContent += d.text;
    setStatus(view, "Thinking…");
  }
}

let drawPending = null;
function drawDraft(view, draft) { // markdown of the draft, at most once per frame
  view.draft = draft;
  if (drawPending) return;
  drawPending = requestAnimationFrame(() => {
    drawPending = null;
    const stick = nearBottom();
    view.body.replaceChildren(OncallMd.render(view.draft));
    if (stick) toBottom();
  });
}

function citeHref(p) {
  const key = (p.turn_id || p.thread_id || "t").slice(0, 12);
  const known = new Set((p.citations || []).map((c) => c.n));
  return { key, href: (n) => (known.has(n) ? `#cite-${key}-${n}` : null) };
}

function renderAnswer(view, p) {
  const { key, href } = citeHref(p);
  view.body.className = "answer md";
  view.body.replaceChildren(OncallMd.render(p.answer || (p.pending ? "" : "(no answer)"), { cite: href }));
  view.bot.querySelectorAll(".extra").forEach((e) => e.remove());
  finishSteps(view, p);
  const extra = el("div", "extra");
  if (p.computation) extra.append(computationBox(p.computation));
  if (p.citations.length) extra.append(sourcesList(p.citations, key, "Sources", "sources"));
  else if (p.leads && p.leads.length && !p.pending) extra.append(sourcesList(p.leads, key + "-lead", "Closest matches", "leads"));
  // The computation's own run is shown above, not as an internal tool.
  const tools = (p.tools_used || []).filter((t) => !(p.computation && t === "run_python"));
  if (tools.length) extra.append(el("p", "tools", "From internal tools: " + tools.join(", ")));
  for (const f of p.files || []) {
    const img = el("img", "figure");
    img.alt = "figure made by run_python";
    img.src = `/api/conversations/${encodeURIComponent(p.thread_id)}/files/${p.turn_id}/${f.tool}/${f.index}`;
    extra.append(img);
  }
  if (p.handover) extra.append(el("pre", "handover", p.handover));
  if (p.pending) extra.append(approvalBox(view, p));
  else extra.append(actions(view, p));
  extra.append(details(p));
  view.bot.append(extra);
}

// The program a computed answer ran in the sandbox and what it printed, folded away.
function computationBox(c) {
  const det = el("details", "computation"); det.dataset.testid = "computation";
  const on = c.files && c.files.length ? ` on ${c.files.join(", ")}` : "";
  const how = c.ok ? "" : " (it failed)";
  det.append(el("summary", "", `Show the code: Python, run in the sandbox${on}${how}`));
  det.append(el("h4", "", "Program"), OncallMd.codeBlock(c.code || "", "python"));
  det.append(el("h4", "", c.ok ? "What it printed" : "How it failed"), OncallMd.codeBlock(c.output || c.error || "", ""));
  if (c.attempts > 1) det.append(el("p", "note", c.ok ? "The first run failed; this is the fixed program." : "The fixed program failed too."));
  return det;
}

function finishSteps(view, p) {
  const steps = view.list.children.length;
  if (!steps) { view.steps.hidden = true; return; }
  view.steps.open = false;
  view.steps.classList.add("done");
  const took = p.timings_ms && p.timings_ms.total ? ` · ${seconds(p.timings_ms.total)}` : "";
  view.status.textContent = `${steps} step${steps === 1 ? "" : "s"}${took}`;
}

function sourcesList(items, key, title, testid) {
  const box = el("section", "sources-box");
  const h = el("h3", "", title);
  const list = el("ol", "sources"); list.dataset.testid = testid;
  items.forEach((c, i) => {
    const n = c.n || i + 1;
    const item = el("li", "source"); item.id = `cite-${key}-${n}`; item.tabIndex = -1;
    const head = el("div", "source-head");
    head.append(el("span", "n", String(n)));
    let label = c.title && !c.location.includes(c.title) ? `${c.title} — ${c.location}` : c.location;
    if (!c.url && c.title === "run_python") label = "The program run in the sandbox (its output)";
    if (c.url) {
      const a = el("a", "open", label); a.href = c.url; a.target = "_blank"; a.rel = "noopener noreferrer";
      a.title = c.external ? "Open the original page" : "Open the document at this passage";
      head.append(a);
    } else head.append(el("span", "open", label));
    item.append(head);
    if (c.snippet) {
      const det = el("details", "passage");
      const body = el("div", "md snippet");
      body.append(OncallMd.render(c.snippet));
      det.append(el("summary", "", "Show passage"), body);
      item.append(det);
    }
    list.append(item);
  });
  box.append(h, list);
  return box;
}

function details(p) {
  const det = el("details", "meta"); det.dataset.testid = "details";
  det.append(el("summary", "", "Details"));
  const t = p.timings_ms || {};
  const rows = [
    ["Route", `${p.route}${p.route_reason ? " — " + p.route_reason : ""}`],
    ["Time to first word", t.first_token !== undefined ? seconds(t.first_token) : "—"],
    ["Total time", t.total !== undefined ? seconds(t.total) : "—"],
    ["Tokens", p.usage ? `${p.usage.prompt_tokens || 0} in, ${p.usage.completion_tokens || 0} out` : "—"],
  ];
  if (p.tool_calls && p.tool_calls.length) rows.push(["Tool calls", p.tool_calls.map((c) => `${c.name} ${c.ok ? "ok" : "failed"} (${seconds(c.ms)})`).join("; ")]);
  const dl = el("dl");
  for (const [k, v] of rows) dl.append(el("dt", "", k), el("dd", "", v));
  det.append(dl);
  return det;
}

function approvalBox(view, p) {
  const a = p.pending;
  const box = el("div", "approval"); box.dataset.testid = "approval";
  box.append(el("strong", "", `Approval needed: ${a.tool}`), el("p", "", a.summary || a.description));
  box.append(el("pre", "", JSON.stringify(a.args, null, 2)));
  for (const [label, ok] of [["Approve", true], ["Reject", false]]) {
    box.append(button(label, ok ? "approve primary" : "reject", async () => {
      box.querySelectorAll("button").forEach((x) => (x.disabled = true));
      addStep(view, ok ? "Approved: running " + a.tool : "Rejected " + a.tool);
      try { renderAnswer(view, await api("POST", `/api/conversations/${encodeURIComponent(p.thread_id)}/approval`, { approved: ok })); }
      catch (e) { notice(e.message); box.querySelectorAll("button").forEach((x) => (x.disabled = false)); }
    }));
  }
  return box;
}

function actions(view, p) {
  const bar = el("div", "actions");
  const copy = button("Copy", "copy-answer");
  copy.setAttribute("aria-label", "Copy the answer");
  copy.onclick = () => copyText(p.answer, copy);
  bar.append(copy);
  if (p.turn_id) {
    const thanks = el("span", "thanks");
    thanks.setAttribute("role", "status");
    for (const [label, helpful] of [["Helpful", true], ["Not helpful", false]]) {
      bar.append(button(label, helpful ? "up" : "down", async () => {
        try {
          await api("POST", "/api/feedback", { turn_id: p.turn_id, helpful });
          thanks.textContent = "Thanks for the feedback";
          bar.querySelectorAll("button.up, button.down").forEach((x) => (x.disabled = true));
        } catch (e) { notice(e.message); }
      }));
    }
    bar.append(thanks);
  }
  if (p.route !== "deep") bar.append(button("Think harder", "deeper", () => ask(p.question, "deep")));
  return bar;
}

// ---- asking -----------------------------------------------------------------------------------
function setBusy(busy) {
  state.busy = busy;
  $("send").hidden = busy;
  $("stop").hidden = !busy;
  $("stop").disabled = false;
}

async function ask(question, route, files) {
  if (state.busy || !question.trim()) return;
  files = files || [];
  setBusy(true); notice("");
  const view = turnView(question, files.map((f) => f.name));
  view.draft = "";
  setStatus(view, files.length ? "Reading the attached files…" : "Starting…");
  try {
    const attachments = await Promise.all(files.map(async (f) => ({ name: f.name, content: await f.text() })));
    const res = await fetch("/api/ask/stream", {
      method: "POST", headers: { "Content-Type": "application/json" }, credentials: "same-origin",
      body: JSON.stringify({ question, thread_id: state.thread, route: route || null, attachments }),
    });
    if (!res.ok) {
      const data = await res.json().catch(() => ({}));
      throw new Error((data.error && data.error.message) || `HTTP ${res.status}`);
    }
    for await (const ev of sse(res)) {
      const d = ev.data;
      if (ev.type === "thread") { state.thread = d.thread_id; remember(); }
      else if (ev.type === "token") {
        if (!view.draft) setStatus(view, "Writing the answer…");
        drawDraft(view, view.draft + d.text);
      } else if (ev.type === "draft_reset") { view.draft = ""; view.body.replaceChildren(); }
      else if (ev.type === "answer") { cancelAnimationFrame(drawPending); drawPending = null; renderAnswer(view, d.answer); $("status").textContent = "Answer ready"; }
      else if (ev.type === "cancelled") { stopped(view); }
      else if (ev.type === "error") throw new Error(d.message);
      else onStep(view, ev.type, d);
    }
  } catch (e) {
    view.body.className = "answer failed";
    view.body.textContent = "Error: " + e.message;
    view.steps.hidden = !view.list.children.length;
  } finally {
    setBusy(false);
    loadConversations();
  }
}

function stopped(view) {
  cancelAnimationFrame(drawPending); drawPending = null;
  view.body.className = "answer md";
  view.body.replaceChildren(OncallMd.render(view.draft || ""));
  view.body.append(el("p", "stopped", "Stopped. Ask again or rephrase when you are ready."));
  view.steps.open = false;
  view.steps.classList.add("done");
  view.status.textContent = "Stopped";
  $("status").textContent = "Stopped";
}

async function stop() {
  if (!state.busy || !state.thread) return;
  $("stop").disabled = true;
  try { await api("POST", `/api/conversations/${encodeURIComponent(state.thread)}/stop`); }
  catch (e) { notice(e.message); $("stop").disabled = false; }
}

function notice(text) { $("notice").textContent = text; }

// ---- attachments: text data files for a computation ----------------------------------------------
const kib = (bytes) => (bytes >= 10240 ? `${Math.round(bytes / 1024)} KiB` : `${(bytes / 1024).toFixed(1)} KiB`);

function attachmentProblem(files) { // the server checks the same (bots/attachments.py)
  if (state.maxAttachmentKb === 0) return "This server takes no attached files; paste the relevant lines into the question.";
  if (files.length > MAX_FILES) return `At most ${MAX_FILES} files per question.`;
  for (const f of files) {
    if (!TEXT_TYPES.some((t) => f.name.toLowerCase().endsWith(t))) {
      return `${f.name}: only text data can be attached (${TEXT_TYPES.join(", ")}); export it as CSV or JSON.`;
    }
  }
  const total = files.reduce((n, f) => n + f.size, 0);
  if (total > state.maxAttachmentKb * 1024) {
    const big = files.reduce((a, b) => (b.size > a.size ? b : a));
    return `${big.name} is ${kib(big.size)}; attachments may total ${state.maxAttachmentKb} KiB per question. Attach the relevant part.`;
  }
  return "";
}

function addFiles(list) {
  const wanted = [...state.files, ...list];
  const problem = attachmentProblem(wanted);
  if (problem) { notice(problem); return; }
  notice("");
  state.files = wanted;
  drawFiles();
}

function drawFiles() {
  const box = $("attached");
  box.replaceChildren();
  box.hidden = !state.files.length;
  state.files.forEach((f, i) => {
    const li = el("li", "chip");
    li.append(el("span", "chip-name", `${f.name} · ${kib(f.size)}`));
    const remove = button("×", "chip-remove", () => {
      state.files.splice(i, 1); drawFiles(); $("question").focus();
    });
    remove.setAttribute("aria-label", `Remove ${f.name}`);
    li.append(remove);
    box.append(li);
  });
}

// ---- conversations ----------------------------------------------------------------------------
function remember() { history.replaceState(null, "", state.thread ? `#c=${encodeURIComponent(state.thread)}` : location.pathname); }

async function loadConversations() {
  const data = await api("GET", "/api/conversations").catch(() => ({ conversations: [] }));
  const list = $("conversations");
  list.replaceChildren();
  for (const c of data.conversations) {
    const a = el("a", "", c.title || "(untitled)");
    a.href = `#c=${encodeURIComponent(c.id)}`;
    if (c.id === state.thread) a.setAttribute("aria-current", "page");
    a.onclick = (e) => { e.preventDefault(); openConversation(c.id); drawer(false); };
    const li = el("li"); li.append(a); list.append(li);
  }
}

async function openConversation(id) {
  if (state.busy) return;
  let data;
  try { data = await api("GET", `/api/conversations/${encodeURIComponent(id)}`); }
  catch (e) { notice(e.message); return; }
  state.thread = id; remember();
  clearMessages();
  for (const turn of data.turns) renderAnswer(turnView(turn.question, turn.attachments), turn);
  if (!data.turns.length) $("empty").hidden = false;
  toBottom();
  loadConversations();
}

function clearMessages() {
  const empty = $("empty");
  $("messages").replaceChildren(empty);
}

function newChat() {
  if (state.busy) return;
  state.thread = null; remember();
  clearMessages();
  $("empty").hidden = false;
  loadConversations();
  drawer(false);
  $("question").focus();
}

async function loadExamples() {
  const data = await api("GET", "/api/examples").catch(() => ({ questions: [] }));
  const list = $("examples");
  list.replaceChildren();
  for (const q of data.questions) {
    const li = el("li");
    li.append(button(q, "example", () => ask(q)));
    list.append(li);
  }
}

// ---- layout: drawer, theme, composer ------------------------------------------------------------
function drawer(open) {
  if (!NARROW.matches) open = false;
  document.body.classList.toggle("drawer-open", open);
  $("scrim").hidden = !open;
  $("menu").setAttribute("aria-expanded", String(open));
  $("sidebar").inert = NARROW.matches && !open; // closed drawer: out of the tab order
  if (open) $("new-chat").focus();
}

function effectiveTheme() {
  return document.documentElement.dataset.theme ||
    (window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
}

function syncThemeButton() {
  const next = effectiveTheme() === "dark" ? "light" : "dark";
  $("theme").setAttribute("aria-label", `Switch to ${next} theme`);
  $("theme").title = `Switch to ${next} theme`;
}

function toggleTheme() {
  const next = effectiveTheme() === "dark" ? "light" : "dark";
  document.documentElement.dataset.theme = next;
  try { localStorage.setItem("oncall-theme", next); } catch (e) { /* not kept */ }
  syncThemeButton();
}

function autosize() {
  const q = $("question");
  q.style.height = "auto";
  q.style.height = Math.min(q.scrollHeight, 200) + "px";
}

// ---- start ------------------------------------------------------------------------------------
async function start() {
  try {
    const me = await api("GET", "/api/me");
    $("who").textContent = me.name || me.user_id;
    if (typeof me.max_attachment_kb === "number") state.maxAttachmentKb = me.max_attachment_kb;
    $("attach").hidden = state.maxAttachmentKb === 0;
    $("who").title = `groups: ${me.groups.join(", ") || "public"}`;
    $("login-page").hidden = true; $("app").hidden = false; $("logout").hidden = me.auth !== "login";
    $("menu").hidden = false;
    drawer(false);
    loadExamples();
    const wanted = decodeURIComponent((location.hash.match(/^#c=(.+)$/) || [])[1] || "");
    if (wanted) await openConversation(wanted); else loadConversations();
    $("question").focus();
  } catch (e) {
    $("app").hidden = true; $("login-page").hidden = false; $("menu").hidden = true;
    $("login-user").focus();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  syncThemeButton();
  $("theme").onclick = toggleTheme;
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", syncThemeButton);
  $("login").onsubmit = async (e) => {
    e.preventDefault();
    try {
      await api("POST", "/api/login", { username: $("login-user").value, password: $("login-password").value });
      $("login-error").textContent = ""; start();
    } catch (err) { $("login-error").textContent = err.message; }
  };
  $("logout").onclick = async () => { await api("POST", "/api/logout"); location.hash = ""; location.reload(); };
  $("new-chat").onclick = newChat;
  $("menu").onclick = () => drawer(!document.body.classList.contains("drawer-open"));
  $("scrim").onclick = () => drawer(false);
  NARROW.addEventListener("change", () => drawer(false));
  $("stop").onclick = stop;
  $("composer").onsubmit = (e) => {
    e.preventDefault();
    const q = $("question").value;
    if (!q.trim() || state.busy) return;
    const files = state.files;
    $("question").value = ""; autosize();
    state.files = []; drawFiles();
    ask(q, null, files);
  };
  $("question").oninput = autosize;
  $("attach").onclick = () => $("attach-input").click();
  $("attach-input").onchange = (e) => { addFiles([...e.target.files]); e.target.value = ""; };
  $("question").onkeydown = (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); if (!state.busy) $("composer").requestSubmit(); }
  };
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    if (document.body.classList.contains("drawer-open")) { drawer(false); $("menu").focus(); }
    else if (state.busy) stop();
  });
  $("messages").addEventListener("click", (e) => {
    const copy = e.target.closest("button[data-copy=code]");
    if (copy) { copyText(copy.closest(".code").querySelector("code").textContent, copy); return; }
    const a = e.target.closest("a.cite");
    if (!a) return;
    e.preventDefault();
    const target = document.getElementById(a.getAttribute("href").slice(1));
    if (!target) return;
    const passage = target.querySelector("details.passage");
    if (passage) passage.open = true;
    target.classList.remove("flash"); void target.offsetWidth; target.classList.add("flash");
    target.scrollIntoView({ block: "center", behavior: "smooth" });
    target.focus({ preventScroll: true });
  });
  start();
});
