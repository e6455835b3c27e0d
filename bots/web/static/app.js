// oncall-agent web chat: plain JS, no build step, nothing fetched from elsewhere.
// Every piece of text from the server is escaped before it becomes markup (md() below),
// and the page's Content-Security-Policy forbids inline scripts as a second line.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { thread: null, busy: false };

// ---- markdown (small, safe subset) ------------------------------------------------------
const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ESC[c]);

function inline(text, citeId) {
  // Split on `code` spans first so nothing inside them is transformed.
  return text.split(/(`[^`\n]+`)/).map((part, i) => {
    if (i % 2) return "<code>" + esc(part.slice(1, -1)) + "</code>";
    let s = esc(part);
    s = s.replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>");
    s = s.replace(/(^|[^*])\*([^*\s][^*]*)\*/g, "$1<em>$2</em>");
    s = s.replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g,
      '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>');
    s = s.replace(/\[(\d+(?:\s*,\s*\d+)*)\]/g, (m, nums) => nums.split(/\s*,\s*/).map(
      (n) => `<a class="cite" href="#${citeId(n)}" data-n="${n}">[${n}]</a>`).join(""));
    return s;
  }).join("");
}

function md(text, citeId) {
  const out = [];
  const chunks = String(text).split(/^```/m);
  chunks.forEach((chunk, i) => {
    if (i % 2) { // fenced code: first line is the language
      const nl = chunk.indexOf("\n");
      const lang = nl < 0 ? "" : chunk.slice(0, nl).trim();
      const code = nl < 0 ? chunk : chunk.slice(nl + 1);
      out.push(`<pre><code data-lang="${esc(lang)}">${esc(code.replace(/\n$/, ""))}</code></pre>`);
      return;
    }
    let list = null;
    const para = [];
    const flush = () => {
      if (para.length) out.push("<p>" + inline(para.join("\n"), citeId).replace(/\n/g, "<br>") + "</p>");
      para.length = 0;
    };
    const closeList = () => { if (list) { out.push(`</${list}>`); list = null; } };
    for (const line of chunk.replace(/^[^\n]*\n?/, i ? "" : "$&").split("\n")) {
      const h = line.match(/^(#{1,4})\s+(.*)/);
      const li = line.match(/^\s*(?:([-*])|(\d+)[.)])\s+(.*)/);
      if (h) { flush(); closeList(); out.push(`<h${h[1].length + 2}>${inline(h[2], citeId)}</h${h[1].length + 2}>`); }
      else if (li) {
        flush();
        const kind = li[1] ? "ul" : "ol";
        if (list !== kind) { closeList(); out.push(`<${kind}>`); list = kind; }
        out.push("<li>" + inline(li[3], citeId) + "</li>");
      } else if (!line.trim()) { flush(); closeList(); }
      else { closeList(); para.push(line); }
    }
    flush(); closeList();
  });
  return out.join("");
}

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

// ---- rendering --------------------------------------------------------------------------------
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function turnView(question) {
  const box = el("article", "turn");
  box.append(el("div", "question", question));
  const bot = el("div", "bot");
  const steps = el("ul", "steps"); steps.dataset.testid = "steps";
  const body = el("div", "answer streaming"); body.dataset.testid = "answer";
  bot.append(steps, body);
  box.append(bot);
  $("messages").append(box);
  box.scrollIntoView({ block: "end" });
  return { box, bot, steps, body };
}

function step(view, text, cls) {
  const li = el("li", cls || "", text);
  view.steps.append(li);
  return li;
}

function renderAnswer(view, p) {
  const key = (p.turn_id || "pending").slice(0, 12);
  const citeId = (n) => `cite-${key}-${n}`;
  view.body.className = "answer";
  view.body.innerHTML = md(p.answer || (p.pending ? "" : "(no answer)"), citeId);
  view.bot.querySelectorAll(".extra").forEach((e) => e.remove());
  const extra = el("div", "extra");
  if (p.citations.length) {
    const list = el("ol", "sources"); list.dataset.testid = "sources";
    for (const c of p.citations) {
      const item = el("li");
      const det = el("details"); det.id = citeId(c.n);
      det.append(el("summary", "", `[${c.n}] ${c.location}`), el("blockquote", "", c.snippet));
      if (c.url) { const a = el("a", "", "open source"); a.href = c.url; a.target = "_blank"; a.rel = "noopener noreferrer"; det.append(a); }
      else if (c.source) det.append(el("small", "", c.source));
      item.append(det); list.append(item);
    }
    extra.append(el("h4", "", "Sources"), list);
  } else if (p.leads && p.leads.length && !p.pending) {
    extra.append(el("h4", "", "Closest matches"));
    const list = el("ul", "leads");
    p.leads.forEach((l) => list.append(el("li", "", l.location)));
    extra.append(list);
  }
  if (p.tools_used && p.tools_used.length) extra.append(el("p", "tools", "From internal tools: " + p.tools_used.join(", ")));
  for (const f of p.files || []) {
    const img = el("img", "figure");
    img.alt = "figure from run_python";
    img.src = `/api/conversations/${encodeURIComponent(p.thread_id)}/files/${p.turn_id}/${f.tool}/${f.index}`;
    extra.append(img);
  }
  if (p.handover) extra.append(el("pre", "handover", p.handover));
  if (p.pending) extra.append(approvalBox(view, p));
  else extra.append(actions(view, p));
  extra.append(el("small", "meta", `${p.route} · ${p.route_reason} · ${Math.round(p.timings_ms.total || 0)} ms`));
  view.bot.append(extra);
}

function approvalBox(view, p) {
  const a = p.pending;
  const box = el("div", "approval"); box.dataset.testid = "approval";
  box.append(el("strong", "", `Approval needed: ${a.tool}`), el("p", "", a.summary || a.description));
  box.append(el("pre", "", JSON.stringify(a.args, null, 2)));
  for (const [label, ok] of [["Approve", true], ["Reject", false]]) {
    const b = el("button", ok ? "approve" : "reject", label);
    b.type = "button";
    b.onclick = async () => {
      box.querySelectorAll("button").forEach((x) => (x.disabled = true));
      step(view, ok ? "approved: running " + a.tool : "rejected " + a.tool);
      try { renderAnswer(view, await api("POST", `/api/conversations/${encodeURIComponent(p.thread_id)}/approval`, { approved: ok })); }
      catch (e) { notice(e.message); box.querySelectorAll("button").forEach((x) => (x.disabled = false)); }
    };
    box.append(b);
  }
  return box;
}

function actions(view, p) {
  const bar = el("div", "actions");
  if (p.turn_id) {
    const thanks = el("span", "thanks");
    for (const [label, helpful] of [["Helpful", true], ["Not helpful", false]]) {
      const b = el("button", helpful ? "up" : "down", label);
      b.type = "button";
      b.onclick = async () => {
        try {
          await api("POST", "/api/feedback", { turn_id: p.turn_id, helpful });
          thanks.textContent = "Thanks for the feedback";
          bar.querySelectorAll("button.up, button.down").forEach((x) => (x.disabled = true));
        } catch (e) { notice(e.message); }
      };
      bar.append(b);
    }
    bar.append(thanks);
  }
  if (p.route !== "deep") {
    const deeper = el("button", "deeper", "Think harder");
    deeper.type = "button";
    deeper.onclick = () => ask(p.question, "deep");
    bar.append(deeper);
  }
  return bar;
}

// ---- asking -----------------------------------------------------------------------------------
async function ask(question, route) {
  if (state.busy || !question.trim()) return;
  state.busy = true; $("send").disabled = true; notice("");
  const view = turnView(question);
  let draft = "";
  try {
    const res = await fetch("/api/ask/stream", {
      method: "POST", headers: { "Content-Type": "application/json" }, credentials: "same-origin",
      body: JSON.stringify({ question, thread_id: state.thread, route: route || null }),
    });
    if (!res.ok) {
      const data = await res.json().catch(() => ({}));
      throw new Error((data.error && data.error.message) || `HTTP ${res.status}`);
    }
    for await (const ev of sse(res)) {
      const d = ev.data;
      if (ev.type === "thread") state.thread = d.thread_id;
      else if (ev.type === "route") step(view, `route: ${d.route} (${d.reason})`, "route");
      else if (ev.type === "retrieval") step(view, `searched the docs: ${d.hits} passages`);
      else if (ev.type === "tool_start") d.calls.forEach((c) => step(view, `${c.name}(${JSON.stringify(c.args)}) …`, "tool"));
      else if (ev.type === "tool_end") d.results.forEach((r) => step(view, `${r.name} ${r.ok ? "done" : "failed"} in ${r.ms} ms`, r.ok ? "ok" : "failed"));
      else if (ev.type === "token") { draft += d.text; view.body.textContent = draft; }
      else if (ev.type === "draft_reset") { draft = ""; view.body.textContent = ""; }
      else if (ev.type === "answer") renderAnswer(view, d.answer);
      else if (ev.type === "error") throw new Error(d.message);
    }
  } catch (e) {
    view.body.className = "answer failed";
    view.body.textContent = "Error: " + e.message;
  } finally {
    state.busy = false; $("send").disabled = false;
    loadConversations();
  }
}

function notice(text) { $("notice").textContent = text; }

async function loadConversations() {
  const data = await api("GET", "/api/conversations").catch(() => ({ conversations: [] }));
  const list = $("conversations");
  list.replaceChildren();
  for (const c of data.conversations) {
    const a = el("a", c.id === state.thread ? "current" : "", c.title || "(untitled)");
    a.href = "#"; a.onclick = (e) => { e.preventDefault(); openConversation(c.id); };
    const li = el("li"); li.append(a); list.append(li);
  }
}

async function openConversation(id) {
  const data = await api("GET", `/api/conversations/${encodeURIComponent(id)}`);
  state.thread = id;
  $("messages").replaceChildren();
  for (const turn of data.turns) renderAnswer(turnView(turn.question), turn);
  loadConversations();
}

// ---- start ------------------------------------------------------------------------------------
async function start() {
  try {
    const me = await api("GET", "/api/me");
    $("who").textContent = `${me.name || me.user_id} · groups: ${me.groups.join(", ") || "public"}`;
    $("login").hidden = true; $("app").hidden = false; $("logout").hidden = me.auth !== "login";
    loadConversations();
  } catch (e) {
    $("app").hidden = true; $("login").hidden = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").onsubmit = async (e) => {
    e.preventDefault();
    try {
      await api("POST", "/api/login", { username: $("login-user").value, password: $("login-password").value });
      $("login-error").textContent = ""; start();
    } catch (err) { $("login-error").textContent = err.message; }
  };
  $("logout").onclick = async () => { await api("POST", "/api/logout"); location.reload(); };
  $("new-chat").onclick = () => { state.thread = null; $("messages").replaceChildren(); loadConversations(); };
  $("composer").onsubmit = (e) => { e.preventDefault(); const q = $("question").value; $("question").value = ""; ask(q); };
  $("question").onkeydown = (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); } };
  $("messages").addEventListener("click", (e) => {
    const a = e.target.closest("a.cite");
    if (!a) return;
    e.preventDefault();
    const target = document.getElementById(a.getAttribute("href").slice(1));
    if (target) { target.open = true; target.classList.add("flash"); target.scrollIntoView({ block: "center" }); }
  });
  start();
});
