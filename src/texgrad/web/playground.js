// The texgrad playground: the formula is sent to POST /api/derive as you type (debounced),
// and the answer rendered with KaTeX.  No build step; no network beyond this server.
"use strict";

(function () {
  const DEBOUNCE_MS = 250;
  const $ = (id) => document.getElementById(id);
  const fields = ["latex", "wrt", "shapes", "assume", "kind", "let"];
  let timer = null;
  let sent = 0;            // the number of the last request sent
  let inflight = null;     // its AbortController
  let last = null;         // the last answer shown

  function render(el, tex, display) {
    el.textContent = "";
    if (!tex) return;
    if (window.katex) {
      try {
        window.katex.render(tex, el, { displayMode: display, throwOnError: false,
                                       strict: "ignore", trust: false, maxSize: 50,
                                       maxExpand: 1000 });
        return;
      } catch (e) { /* shown as text below */ }
    }
    el.textContent = tex;
  }

  function request() {
    const req = {};
    for (const f of fields) {
      const v = $(f).value;
      if (v.trim() !== "") req[f] = v;
    }
    return req;
  }

  function remember(req) {
    const q = new URLSearchParams(req).toString();
    history.replaceState(null, "", q ? "#" + q : location.pathname);
  }

  function show(out) {
    last = out;
    const answer = $("answer");
    const ok = !!out.ok;
    $("error").hidden = ok;
    $("copy").hidden = !ok;
    $("code-box").hidden = !ok;
    if (ok) {
      render(answer, out.equation, true);
      const stamp = $("stamp");
      stamp.textContent = out.stamp;
      stamp.className = out.status === "verified" ? "verified"
        : (out.status === "failed" ? "failed" : "unverified");
      const ul = $("conventions");
      ul.textContent = "";
      for (const c of out.conventions || []) {
        const li = document.createElement("li");
        li.textContent = c;
        ul.appendChild(li);
      }
      for (const b of document.querySelectorAll("#copy button[data-copy]")) {
        const t = b.dataset.copy;
        b.disabled = t !== "latex" && !out.code[t];
        b.title = b.disabled ? (out.code_errors[t] || "") : "";
      }
      showCode(currentTab());
    } else {
      answer.textContent = "";
      $("stamp").textContent = "";
      $("stamp").className = "";
      $("conventions").textContent = "";
      // the report is the CLI's: the message, the line with a caret under the spot, the hint
      const e = out.error || {};
      const report = out.report || "";
      $("error-message").textContent = report ? "" : `${e.kind || "error"}: ${e.message || ""}` +
        (e.hint ? `\nhint: ${e.hint}` : "");
      $("error-message").hidden = !!report;
      $("error-report").textContent = report;
      $("error-report").hidden = !report;
    }
    answer.dataset.status = ok ? "ok" : "error";
  }

  function currentTab() {
    const t = document.querySelector('.tabs [aria-selected="true"]');
    return t ? t.dataset.tab : "numpy";
  }

  function showCode(target) {
    for (const b of document.querySelectorAll(".tabs [data-tab]")) {
      b.setAttribute("aria-selected", String(b.dataset.tab === target));
    }
    if (!last || !last.ok) return;
    $("code").textContent = last.code[target] ||
      `# no ${target} code for this derivative: ${last.code_errors[target] || ""}`;
  }

  async function derive() {
    const req = request();
    remember(req);
    render($("preview"), req.latex || "", true);
    if (!req.latex) {
      $("answer").dataset.status = "empty";
      $("answer").textContent = "";
      return;
    }
    if (inflight) inflight.abort();
    const mine = ++sent;
    inflight = new AbortController();
    $("answer").classList.add("busy");
    try {
      const resp = await fetch("api/derive", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(req), signal: inflight.signal });
      const out = await resp.json();
      if (mine === sent) show(out);
    } catch (e) {
      if (e.name !== "AbortError" && mine === sent) {
        show({ ok: false, error: { kind: "connection", message: "no answer from texgrad serve",
                                   hint: "is it still running?" }, report: String(e) });
      }
    } finally {
      if (mine === sent) $("answer").classList.remove("busy");
    }
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(derive, DEBOUNCE_MS);
  }

  async function copy(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {              // no clipboard permission: select and copy
      const ta = document.createElement("textarea");
      ta.value = text;
      document.body.appendChild(ta);
      ta.select();
      document.execCommand("copy");
      ta.remove();
    }
    $("copied").textContent = "copied";
    setTimeout(() => { $("copied").textContent = ""; }, 1500);
  }

  function start() {
    for (const f of fields) $(f).addEventListener("input", later);
    for (const b of document.querySelectorAll(".example")) {
      b.addEventListener("click", () => {
        $("latex").value = b.dataset.latex;
        $("wrt").value = b.dataset.wrt || "";
        derive();
      });
    }
    for (const b of document.querySelectorAll("#copy button[data-copy]")) {
      b.addEventListener("click", () => {
        if (!last || !last.ok) return;
        const t = b.dataset.copy;
        copy(t === "latex" ? last.derivative : last.code[t] || "");
      });
    }
    for (const b of document.querySelectorAll(".tabs [data-tab]")) {
      b.addEventListener("click", () => showCode(b.dataset.tab));
    }
    // a formula in the address (#latex=...&wrt=..., or ?latex=...) is loaded and derived
    const params = new URLSearchParams(location.hash.slice(1) || location.search.slice(1));
    let given = false;
    for (const f of fields) {
      if (params.has(f)) { $(f).value = params.get(f); given = true; }
    }
    if (!given) {
      $("latex").value = "\\mathbf{x}^\\top B\\,\\mathbf{x}";
      $("wrt").value = "\\mathbf{x}";
    }
    derive();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
