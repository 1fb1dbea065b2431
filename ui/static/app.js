// assethooks admin UI: the helpers every page uses. Plain JavaScript, no
// build step. Everything shown comes from the public HTTP API (SPEC §3),
// called with the key the user typed on the sign-in page, kept in this
// tab's sessionStorage and sent only in the X-API-KEY header. Data is put in
// the page with textContent and DOM nodes, never as HTML.
"use strict";

(function () {
  const KEY = "assethooks.key";
  const ROLE = "assethooks.role";

  // APIError is a non-2xx answer: its status and the API's {"error"} message.
  class APIError extends Error {
    constructor(status, message, body) {
      super(message);
      this.status = status;
      this.body = body || {};
    }
  }

  function key() { return sessionStorage.getItem(KEY) || ""; }
  function role() { return sessionStorage.getItem(ROLE) || ""; }
  function setKey(k, r) { sessionStorage.setItem(KEY, k); sessionStorage.setItem(ROLE, r); }
  function signOut() { sessionStorage.removeItem(KEY); sessionStorage.removeItem(ROLE); }

  // call sends one API request with a given key; it resolves to the decoded
  // body (null for 204) or rejects with an APIError.
  async function call(k, method, path, body) {
    const opts = { method: method, headers: { "X-API-KEY": k }, credentials: "omit", cache: "no-store" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (e) {
      throw new APIError(0, "The engine did not answer (" + e.message + ").");
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = { error: text.slice(0, 300) }; }
    }
    if (!res.ok) {
      const msg = data && typeof data.error === "string" ? data.error : res.status + " " + res.statusText;
      throw new APIError(res.status, msg, data);
    }
    return data;
  }

  // api calls the API with the signed-in key. An unknown key (401
  // Unauthorized) signs out and goes to the sign-in page.
  async function api(method, path, body) {
    try {
      return await call(key(), method, path, body);
    } catch (e) {
      if (e.status === 401 && e.message !== "Not admin user") {
        signOut();
        e.message = "Your key is no longer accepted; sign in again.";
        (window.AH.onUnauthorized || toLogin)();
      }
      throw e;
    }
  }

  // unavailable reports whether err is the API's answer to a route it does
  // not have (a feature of the SPEC this server does not serve yet).
  function unavailable(err) {
    return err instanceof APIError && (err.status === 404 || err.status === 405) && err.message === "not found";
  }

  function toLogin() {
    const next = location.pathname + location.search;
    location.assign("/ui/login?next=" + encodeURIComponent(next));
  }

  // requireKey sends the user to sign in when no key is kept; wantAdmin
  // shows a clear message instead of the page for a user key.
  function requireKey(wantAdmin) {
    if (!key()) {
      toLogin();
      return false;
    }
    if (wantAdmin && role() !== "admin") {
      pageError("This page needs an admin key; you are signed in with a user key. Sign out and sign in with an admin key.");
      const main = document.querySelector("main");
      for (const el of Array.from(main.children)) {
        if (el.id !== "page-error" && el.id !== "flash") el.hidden = true;
      }
      return false;
    }
    return true;
  }

  // el builds an element: attrs are properties (className, href, …), "data-*"
  // and "aria-*" attributes, or on* listeners; children are nodes or text.
  function el(tag, attrs) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
      else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role" || k === "for" || k === "list") e.setAttribute(k, v === true ? "" : String(v));
      else e[k] = v;
    }
    for (let i = 2; i < arguments.length; i++) append(e, arguments[i]);
    return e;
  }

  function append(parent, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) { child.forEach((c) => append(parent, c)); return; }
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  function $(sel) { return document.querySelector(sel); }

  function show(node, text) {
    if (!node) return;
    node.textContent = text || "";
    node.hidden = !text;
  }

  function pageError(text) { show($("#page-error"), text); }

  let flashTimer;
  function flash(text) {
    const f = $("#flash");
    show(f, text);
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { f.hidden = true; }, 6000);
  }

  // formError shows an API error in box and marks the input of the field the
  // message names ("Invalid parameter 'http_url' …").
  function formError(box, err, form) {
    if (form) form.querySelectorAll(".invalid").forEach((n) => n.classList.remove("invalid"));
    if (!err) { show(box, ""); return; }
    let text = err.message || String(err);
    if (err.status) text = "The engine refused it (" + err.status + "): " + text;
    if (err.body && err.body.line) text += " (line " + err.body.line + ", column " + err.body.column + ")";
    show(box, text);
    const m = /'([A-Za-z0-9_.[\]]+)'/.exec(err.message || "");
    if (form && m) {
      const field = m[1].replace(/\[\d+\]$/, "");
      const input = form.querySelector('[data-field="' + CSS.escape(field) + '"]');
      if (input) { input.classList.add("invalid"); input.focus(); }
    }
  }

  function fmtTime(s) {
    if (!s) return "—";
    const d = new Date(s);
    if (isNaN(d)) return String(s);
    return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function badge(text, kind) { return el("span", { className: "badge " + (kind || text) }, text); }

  // list splits a comma- (or newline-) separated field into trimmed values.
  function list(s) { return String(s || "").split(/[,\n]/).map((x) => x.trim()).filter((x) => x); }

  // checkCondition checks a condition as it is typed: each edit, after a
  // short pause, is sent to rules/validate; stale answers are dropped. The
  // result (valid, warnings, or the error with its line and column and a
  // caret under the column) is shown in out.
  function checkCondition(input, out, opts) {
    opts = opts || {};
    let timer, seq = 0;
    async function run() {
      const src = input.value;
      const mine = ++seq;
      if (src.trim() === "") {
        out.className = "check-result";
        clear(out).append(opts.emptyText || "");
        input.classList.remove("invalid");
        return;
      }
      try {
        const r = await api("POST", "/api/v2/admin/rules/validate", { condition: src });
        if (mine !== seq) return;
        out.className = "check-result ok";
        clear(out).append("✓ valid condition");
        input.classList.remove("invalid");
        const warnings = (r && r.warnings) || [];
        if (warnings.length) out.append(el("ul", { className: "warnings" }, warnings.map((w) => el("li", {}, w))));
      } catch (e) {
        if (mine !== seq) return;
        out.className = "check-result bad";
        clear(out);
        input.classList.add("invalid");
        if (e.body && e.body.line) {
          const line = e.body.line, col = e.body.column;
          out.append(el("span", { className: "pos", "data-line": line, "data-column": col }, "✗ line " + line + ", column " + col + ": "), e.message);
          const srcLine = src.split("\n")[line - 1];
          if (srcLine !== undefined) out.append(el("span", { className: "caret" }, srcLine + "\n" + " ".repeat(Math.max(0, col - 1)) + "^"));
        } else {
          out.append("✗ " + e.message);
        }
      }
    }
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(run, opts.delay || 250); });
    return { run: run };
  }

  // nav fills the nav bar's key role and sign-out button.
  function nav() {
    const who = $("#whoami"), out = $("#sign-out");
    if (!who || !key()) return;
    who.textContent = role() === "admin" ? "admin key" : "user key";
    out.hidden = false;
    out.addEventListener("click", () => { signOut(); location.assign("/ui/login"); });
  }

  window.AH = {
    APIError, api, call, key, role, setKey, signOut, requireKey, unavailable, el, clear, $, show,
    pageError, flash, formError, fmtTime, badge, list, checkCondition,
    // onUnauthorized, when a page sets it, replaces going to the sign-in page
    // when the engine no longer accepts the key (the marker panel asks inline).
    onUnauthorized: null,
    page: document.body.dataset.page, id: document.body.dataset.id, assetID: document.body.dataset.assetId,
  };
  document.addEventListener("DOMContentLoaded", nav);
})();
