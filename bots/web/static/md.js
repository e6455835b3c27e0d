// Markdown for answers, passages and documents: a hand-written subset renderer (headings,
// paragraphs, nested lists, block quotes, tables, fenced code with highlighting, rules,
// inline code, links, bold, italics, strikethrough, [n] citations).
// It builds DOM nodes and sets only textContent and vetted attributes: text from the model
// or a document never becomes markup, so nothing in it can run (tests/browser checks).
"use strict";

const OncallMd = (() => {
  const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w#+.-]*)/;
  const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
  const RULE = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;
  const QUOTE = /^ {0,3}>\s?/;
  const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
  const TABLE_SEP = /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---- blocks ---------------------------------------------------------------------------
  function indentOf(line) { return line.match(/^\s*/)[0].replace(/\t/g, "    ").length; }
  function startsBlock(line) {
    return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || ITEM.test(line);
  }

  function blocks(lines, opts, out) {
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      if (!line.trim()) { i++; continue; }
      let m;
      if ((m = line.match(FENCE))) { i = fence(lines, i, m, out); continue; }
      if ((m = line.match(HEADING))) {
        const level = Math.min(m[1].length + 2, 6); // h1/h2 belong to the page itself
        out.append(inline(el("h" + level), m[2], opts)); i++; continue;
      }
      if (RULE.test(line)) { out.append(el("hr")); i++; continue; }
      if (QUOTE.test(line)) {
        const inner = [];
        while (i < lines.length && lines[i].trim() && QUOTE.test(lines[i])) inner.push(lines[i++].replace(QUOTE, ""));
        const q = el("blockquote");
        blocks(inner, opts, q); out.append(q); continue;
      }
      if (line.includes("|") && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1]) && lines[i + 1].includes("-")) {
        i = table(lines, i, opts, out); continue;
      }
      if (ITEM.test(line)) { i = list(lines, i, opts, out); continue; }
      const para = [];
      while (i < lines.length && lines[i].trim() && !(para.length && startsBlock(lines[i]))) {
        if (para.length && lines[i].includes("|") && TABLE_SEP.test(lines[i + 1] || "")) break;
        para.push(lines[i++].trim());
      }
      const p = el("p");
      para.forEach((text, k) => { if (k) p.append(el("br")); inline(p, text, opts); });
      out.append(p);
    }
    return out;
  }

  function fence(lines, i, m, out) {
    const marker = m[1], lang = m[2].toLowerCase(), code = [];
    i++;
    while (i < lines.length && !(lines[i].trim().startsWith(marker[0].repeat(marker.length)) && !lines[i].trim().replace(/[`~]/g, ""))) {
      code.push(lines[i++]);
    }
    out.append(codeBlock(code.join("\n"), lang));
    return i + 1; // past the closing fence (or the end, while a draft is streaming)
  }

  function codeBlock(text, lang) {
    const box = el("div", "code");
    const head = el("div", "code-head");
    head.append(el("span", "code-lang", lang || "text"));
    const copy = el("button", "copy", "Copy");
    copy.type = "button";
    copy.setAttribute("aria-label", "Copy code");
    copy.dataset.copy = "code";
    head.append(copy);
    const pre = el("pre"), code = el("code");
    if (lang) code.dataset.lang = lang;
    highlight(code, text, lang);
    pre.append(code);
    pre.tabIndex = 0; // scrollable regions must be reachable by keyboard
    box.append(head, pre);
    return box;
  }

  function cells(line) {
    let s = line.trim();
    if (s.startsWith("|")) s = s.slice(1);
    if (s.endsWith("|") && !s.endsWith("\\|")) s = s.slice(0, -1);
    return s.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, "|"));
  }

  function table(lines, i, opts, out) {
    const header = cells(lines[i]);
    const align = cells(lines[i + 1]).map((c) => (c.startsWith(":") && c.endsWith(":") ? "center" : c.endsWith(":") ? "right" : ""));
    const wrap = el("div", "table-wrap");
    wrap.tabIndex = 0;
    const t = el("table"), head = el("thead"), body = el("tbody"), tr = el("tr");
    header.forEach((c, k) => tr.append(inline(el("th", align[k] ? "align-" + align[k] : ""), c, opts)));
    head.append(tr);
    i += 2;
    while (i < lines.length && lines[i].trim() && lines[i].includes("|")) {
      const row = el("tr");
      const values = cells(lines[i++]);
      header.forEach((_, k) => row.append(inline(el("td", align[k] ? "align-" + align[k] : ""), values[k] || "", opts)));
      body.append(row);
    }
    t.append(head, body);
    wrap.append(t);
    out.append(wrap);
    return i;
  }

  function list(lines, i, opts, out) {
    const first = lines[i].match(ITEM);
    const base = indentOf(first[1]);
    const ordered = /\d/.test(first[2]);
    const node = el(ordered ? "ol" : "ul");
    if (ordered && parseInt(first[2], 10) !== 1) node.start = parseInt(first[2], 10);
    while (i < lines.length) {
      const m = lines[i].match(ITEM);
      if (!m || indentOf(m[1]) !== base || /\d/.test(m[2]) !== ordered) break;
      const content = [m[3]];
      const inner = indentOf(m[1]) + m[2].length + 1;
      i++;
      while (i < lines.length) {
        const line = lines[i];
        if (!line.trim()) {
          const next = lines.slice(i + 1).find((l) => l.trim());
          if (next === undefined || indentOf(next) < inner) break;
          content.push(""); i++; continue;
        }
        const sub = line.match(ITEM);
        if (sub && indentOf(sub[1]) <= base) break;
        if (!sub && indentOf(line) < inner && startsBlock(line)) break;
        content.push(indentOf(line) >= inner ? line.slice(Math.min(inner, indentOf(line))) : line.trim());
        i++;
      }
      const li = el("li");
      const tight = !content.includes("");
      blocks(content, opts, li);
      if (tight && li.firstChild && li.firstChild.tagName === "P") li.firstChild.replaceWith(...li.firstChild.childNodes);
      node.append(li);
      while (i < lines.length && !lines[i].trim()) {
        const next = lines.slice(i).find((l) => l.trim());
        const nm = next && next.match(ITEM);
        if (!nm || indentOf(nm[1]) !== base) break;
        i++;
      }
    }
    out.append(node);
    return i;
  }

  // ---- inline ---------------------------------------------------------------------------
  const INLINE = new RegExp([
    /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/.source,              // 1,2 code span
    /\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\](?!\()/.source,            // 3 citation [1] or [1, 2]
    /\[([^\]\n]+)\]\(([^()\s]+)\)/.source,                     // 4,5 link
    /(\*\*|__)(?=\S)([\s\S]*?\S)\6/.source,                    // 6,7 bold
    /(\*|_)(?=[^\s*_])([\s\S]*?[^\s*_])\8(?![\w*])/.source,    // 8,9 italics
    /~~(?=\S)([\s\S]*?\S)~~/.source,                           // 10 strikethrough
    /(https?:\/\/[^\s<>()\[\]]*[^\s<>()\[\].,;:!?'"])/.source, // 11 bare URL
    /\\([\\`*_{}\[\]()#+\-.!|~>])/.source,                     // 12 escaped character
  ].join("|"));

  function safeHref(url) {
    if (/^(https?:|mailto:)/i.test(url)) return url;
    if (/^\/(?!\/)/.test(url) || url.startsWith("#")) return url;
    return null;
  }

  function link(text, href, opts) {
    const a = el("a");
    a.href = href;
    if (!href.startsWith("#") && !href.startsWith("/")) { a.target = "_blank"; a.rel = "noopener noreferrer"; }
    return inline(a, text, { ...opts, inLink: true }); // no links inside links
  }

  function inline(parent, text, opts) {
    let rest = text;
    while (rest) {
      const m = rest.match(INLINE);
      if (!m) { parent.append(rest); break; }
      const before = rest.slice(0, m.index);
      if (m[8] === "_" && /\w$/.test(before)) { // snake_case, not emphasis
        parent.append(before + "_"); rest = rest.slice(m.index + 1); continue;
      }
      if (before) parent.append(before);
      rest = rest.slice(m.index + m[0].length);
      if (opts.inLink && (m[3] || m[4] || m[11])) parent.append(m[0]);
      else if (m[1]) parent.append(el("code", "", m[2].replace(/^ (.+) $/, "$1")));
      else if (m[3]) m[3].split(/\s*,\s*/).forEach((n) => parent.append(cite(n, opts)));
      else if (m[4]) { const href = safeHref(m[5]); parent.append(href ? link(m[4], href, opts) : m[0]); }
      else if (m[6]) parent.append(inline(el("strong"), m[7], opts));
      else if (m[8]) parent.append(inline(el("em"), m[9], opts));
      else if (m[10]) parent.append(inline(el("del"), m[10], opts));
      else if (m[11]) parent.append(link(m[11], m[11], opts));
      else if (m[12]) parent.append(m[12]);
    }
    return parent;
  }

  function cite(n, opts) {
    const target = opts.cite ? opts.cite(Number(n)) : null;
    if (!target) return document.createTextNode(`[${n}]`);
    const a = el("a", "cite", n);
    a.href = target;
    a.dataset.n = n;
    a.setAttribute("aria-label", `source ${n}`);
    return a;
  }

  // ---- code highlighting --------------------------------------------------------------------
  const KEYWORDS = {
    py: "and as assert async await break class continue def del elif else except False finally for from global if import in is lambda None nonlocal not or pass raise return True try while with yield",
    js: "async await break case catch class const continue default delete do else export extends false finally for function if import in instanceof let new null of return static super switch this throw true try typeof undefined var void while yield",
    go: "break case chan const continue default defer else fallthrough for func go goto if import interface map nil package range return select struct switch true false type var",
    sh: "if then else elif fi for while until do done case esac function in return export local readonly set unset echo exit sudo",
    sql: "select from where and or not insert into values update set delete create table index drop alter join left right inner outer on group by order having limit offset as distinct null is in like between union all case when then else end",
    yaml: "true false null yes no on off",
  };
  const ALIASES = { python: "py", py: "py", javascript: "js", js: "js", ts: "js", typescript: "js", json: "js", go: "go", golang: "go",
    bash: "sh", sh: "sh", shell: "sh", zsh: "sh", console: "sh", sql: "sql", postgres: "sql", yaml: "yaml", yml: "yaml", toml: "yaml" };
  const COMMENT = { py: "#[^\\n]*", sh: "#[^\\n]*", yaml: "#[^\\n]*", js: "\\/\\/[^\\n]*|\\/\\*[\\s\\S]*?\\*\\/", go: "\\/\\/[^\\n]*|\\/\\*[\\s\\S]*?\\*\\/", sql: "--[^\\n]*" };

  function highlight(code, text, lang) {
    const kind = ALIASES[lang];
    if (!kind) { code.textContent = text; return; }
    const words = new Set(KEYWORDS[kind].split(" "));
    const parts = [COMMENT[kind], /"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`/.source,
      /\b\d+(?:\.\d+)?\b/.source, /[A-Za-z_][\w-]*/.source];
    if (kind === "yaml") parts.unshift(/^[ \t-]*[\w.-]+(?=:)/.source);
    const re = new RegExp(parts.map((p) => `(${p})`).join("|"), "gm");
    let last = 0, m;
    const yamlOffset = kind === "yaml" ? 1 : 0;
    while ((m = re.exec(text))) {
      if (m.index > last) code.append(text.slice(last, m.index));
      const [tok] = m;
      let cls = null;
      if (yamlOffset && m[1]) cls = "tok-attr";
      else if (m[1 + yamlOffset]) cls = "tok-com";
      else if (m[2 + yamlOffset]) cls = "tok-str";
      else if (m[3 + yamlOffset]) cls = "tok-num";
      else if (words.has(kind === "sql" ? tok.toLowerCase() : tok)) cls = "tok-kw";
      code.append(cls ? el("span", cls, tok) : tok);
      last = m.index + tok.length;
      if (!tok) re.lastIndex++;
    }
    if (last < text.length) code.append(text.slice(last));
  }

  /** Markdown `text` as a DocumentFragment; `opts.cite(n)` gives the href of source n. */
  function render(text, opts = {}) {
    const frag = document.createDocumentFragment();
    return blocks(String(text || "").replace(/\r\n?/g, "\n").split("\n"), opts, frag);
  }

  return { render, highlight, codeBlock };
})();
