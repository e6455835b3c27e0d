// The document view behind citation links (/docs/view/<key>?chunk=<id>): the text the
// index holds for the document, the cited passage highlighted and scrolled to. The server
// decides who may read it (same ACL as search); nothing here names a file on the server.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

async function load() {
  const key = decodeURIComponent(location.pathname.split("/").pop());
  const chunk = new URLSearchParams(location.search).get("chunk") || "";
  const res = await fetch(`/api/docs/${encodeURIComponent(key)}?chunk=${encodeURIComponent(chunk)}`,
    { credentials: "same-origin" });
  if (res.status === 401) {
    $("doc-title").textContent = "Sign in first";
    const a = el("a", "", "Sign in to the chat"); a.href = "/";
    $("doc-note").replaceChildren(a, " and open the link again.");
    return;
  }
  if (!res.ok) {
    $("doc-title").textContent = "Document not found";
    $("doc-note").textContent = "There is no such document, or your groups may not read it.";
    return;
  }
  render(await res.json());
}

function render(doc) {
  document.title = `${doc.title} · oncall-agent`;
  $("doc-title").textContent = doc.title;
  const meta = [doc.location];
  if (doc.source_name) meta.push(`source: ${doc.source_name}`);
  if (doc.updated_at) meta.push(`updated ${doc.updated_at.slice(0, 10)}`);
  $("doc-meta").textContent = meta.join(" · ");
  if (doc.url) {
    const a = el("a", "", "Open the original"); a.href = doc.url; a.rel = "noopener noreferrer";
    $("doc-meta").append(" · ", a);
  }
  if (doc.stale) $("doc-note").textContent = "This document changed since the answer cited it; the passage may have moved.";
  const body = $("doc-body");
  let section = null;
  doc.chunks.forEach((c, i) => {
    if (c.section && c.section !== section) {
      body.append(el("h2", "doc-section", c.section.split(" > ").join(" › ")));
      section = c.section;
    }
    const part = el("section", "chunk md");
    part.id = `chunk-${c.index}`;
    part.append(OncallMd.render(c.text));
    if (c.page) part.prepend(el("p", "page", `page ${c.page}`));
    if (i === doc.highlight) {
      part.classList.add("passage");
      part.dataset.testid = "passage";
      part.tabIndex = -1;
      part.setAttribute("aria-label", "Cited passage");
      part.prepend(el("p", "passage-label", "Cited passage"));
    }
    body.append(part);
  });
  const passage = document.querySelector(".passage");
  if (passage) { passage.scrollIntoView({ block: "center" }); passage.focus({ preventScroll: true }); }
}

document.addEventListener("DOMContentLoaded", load);
