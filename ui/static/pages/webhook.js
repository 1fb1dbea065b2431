// Create and edit a webhook with every field of SPEC §3.1; send a test,
// rotate the signing secret, delete. Stored secrets come back masked and are
// never put in an input: a secret field left empty sends the mask back,
// which keeps what is stored.
"use strict";

(function () {
  if (!AH.requireKey(true)) return;
  const { el, $, list } = AH;
  const id = AH.id;
  const form = $("#webhook-form"), errBox = $("#form-error"), warnBox = $("#form-warnings");
  const f = (name) => $("#f-" + name);
  let loaded = null; // the webhook view as last read or saved

  AH.checkCondition(f("condition"), f("condition-check"), { emptyText: "No condition: every event that passes the triggers and scopes matches." });

  // Target: a URL, or a hostname and path.
  function targetMode() { return form.querySelector('input[name="target-mode"]:checked').value; }
  function showTarget() {
    $("#target-url").hidden = targetMode() !== "url";
    $("#target-host").hidden = targetMode() !== "host";
  }
  form.querySelectorAll('input[name="target-mode"]').forEach((r) => r.addEventListener("change", showTarget));

  // Auth: show the inputs of the chosen type.
  function showAuth() {
    const t = f("auth-type").value;
    form.querySelectorAll(".auth-part").forEach((p) => { p.hidden = !p.dataset.auth.split(" ").includes(t); });
  }
  f("auth-type").addEventListener("change", showAuth);

  $("#add-trigger").addEventListener("click", () => {
    const add = f("add-trigger").value.trim();
    if (!add) return;
    const cur = list(f("trigger_events").value);
    if (!cur.includes(add)) cur.push(add);
    f("trigger_events").value = cur.join(", ");
    f("add-trigger").value = "";
  });

  // secretInput shows a stored (masked) secret as an empty input whose
  // placeholder says a value is kept; read gives the typed value, or the
  // mask back when nothing was typed.
  function secretInput(input, masked) {
    input.value = "";
    if (masked) {
      input.dataset.stored = masked;
      input.placeholder = "stored (not shown) — leave empty to keep";
    } else {
      delete input.dataset.stored;
      input.placeholder = "";
    }
  }
  function secretValue(input) { return input.value !== "" ? input.value : (input.dataset.stored || ""); }

  // Headers.
  const headers = $("#headers tbody");
  function headerRow(h) {
    const value = el("input", { className: "h-value", type: h && h.secret ? "password" : "text", autocomplete: "off", "aria-label": "header value" });
    const secret = el("input", { type: "checkbox", className: "h-secret", checked: !!(h && h.secret), "aria-label": "secret" });
    if (h && h.secret) secretInput(value, h.value); else value.value = h ? h.value : "";
    secret.addEventListener("change", () => { value.type = secret.checked ? "password" : "text"; });
    const tr = el("tr", {},
      el("td", {}, el("input", { className: "h-name", value: h ? h.name : "", "aria-label": "header name", "data-field": "webhook_headers" })),
      el("td", {}, value),
      el("td", {}, secret),
      el("td", {}, el("button", { type: "button", className: "link", onclick: () => tr.remove() }, "Remove")));
    headers.append(tr);
  }
  $("#add-header").addEventListener("click", () => {
    if (headers.children.length >= 10) { AH.show(errBox, "A webhook has at most 10 headers."); return; }
    headerRow(null);
  });

  async function loadProjects(selected) {
    try {
      const r = await AH.api("GET", "/api/v2/admin/projects");
      const sel = f("project_id");
      for (const p of r.projects) sel.append(el("option", { value: p.id }, p.name + " (" + p.id + ")"));
      if (selected && !r.projects.some((p) => p.id === selected)) sel.append(el("option", { value: selected }, selected));
      sel.value = selected || "";
    } catch (e) {
      AH.pageError("Could not load the projects: " + e.message);
    }
  }

  function fill(w) {
    loaded = w;
    $("#form-title").textContent = "Webhook " + w.id + ": " + w.name;
    document.title = w.name + " · assethooks";
    f("name").value = w.name;
    f("disabled").checked = w.disabled;
    AH.show(f("disabled-reason"), w.disabled_reason ? "Disabled by the engine: " + w.disabled_reason : "");
    if (w.hostname) {
      f("mode-host").checked = true;
      f("hostname").value = w.hostname;
      f("path").value = w.path || "";
      f("scheme").value = w.http_url.startsWith("http://") ? "http" : "https";
    } else {
      f("mode-url").checked = true;
      f("http_url").value = w.http_url;
    }
    showTarget();
    f("redundant_urls").value = (w.redundant_urls || []).join("\n");
    f("http_method").value = w.http_method;
    f("timeout_seconds").value = w.timeout_seconds;
    f("rate_limit").value = w.rate_limit == null ? "" : w.rate_limit;
    f("trigger_events").value = w.trigger_events.join(", ");
    f("project_id").value = w.project_id || "";
    f("folder").value = w.folder || "";
    f("webhook_users").value = (w.webhook_users || []).join(", ");
    f("condition").value = w.condition || "";
    f("condition").dispatchEvent(new Event("input"));
    const body = w.body || {};
    f("body-format").value = body.format || "json";
    f("body-fields").value = (body.fields || []).join(", ");
    f("body-template").value = body.template || "";
    const auth = w.auth || { type: "none" };
    f("auth-type").value = auth.type || "none";
    f("auth-username").value = auth.username || "";
    f("auth-token_url").value = auth.token_url || "";
    f("auth-client_id").value = auth.client_id || "";
    f("auth-scope").value = auth.scope || "";
    secretInput(f("auth-password"), auth.password);
    secretInput(f("auth-token"), auth.token);
    secretInput(f("auth-client_secret"), auth.client_secret);
    showAuth();
    AH.clear(headers);
    (w.webhook_headers || []).forEach(headerRow);
    f("retry_schedule").value = (w.retry_schedule || []).join(", ");
    $("#secret-new").hidden = true;
    $("#secret-edit").hidden = false;
    $("#f-secret-masked").textContent = w.signing_secret;
  }

  // collect builds the request body from the form.
  function collect() {
    const b = { name: f("name").value, disabled: f("disabled").checked };
    if (targetMode() === "url") {
      b.http_url = f("http_url").value.trim();
    } else {
      b.hostname = f("hostname").value.trim();
      b.path = f("path").value.trim();
      if (f("scheme").value === "http") b.scheme = "http";
    }
    b.redundant_urls = list(f("redundant_urls").value);
    b.http_method = f("http_method").value;
    const timeout = f("timeout_seconds").value.trim();
    if (timeout !== "") b.timeout_seconds = Number(timeout);
    const rate = f("rate_limit").value.trim();
    if (rate !== "") b.rate_limit = Number(rate);
    else if (loaded && "rate_limit" in loaded) b.rate_limit = null;
    b.trigger_events = list(f("trigger_events").value);
    b.project_id = f("project_id").value || null;
    b.folder = f("folder").value.trim();
    b.webhook_users = list(f("webhook_users").value);
    b.condition = f("condition").value;
    b.body = { format: f("body-format").value, fields: list(f("body-fields").value) };
    if (f("body-template").value.trim() !== "") b.body.template = f("body-template").value;
    const t = f("auth-type").value, auth = { type: t };
    if (t === "basic" || t === "oauth2") {
      auth.username = f("auth-username").value;
      auth.password = secretValue(f("auth-password"));
    }
    if (t === "bearer") auth.token = secretValue(f("auth-token"));
    if (t === "oauth2") {
      auth.token_url = f("auth-token_url").value.trim();
      auth.client_id = f("auth-client_id").value;
      auth.client_secret = secretValue(f("auth-client_secret"));
      auth.scope = f("auth-scope").value;
      for (const k of ["username", "password", "client_id", "client_secret", "scope"]) if (auth[k] === "") delete auth[k];
    }
    b.auth = auth;
    b.webhook_headers = Array.from(headers.children).map((tr) => {
      const value = tr.querySelector(".h-value"), secret = tr.querySelector(".h-secret").checked;
      return { name: tr.querySelector(".h-name").value.trim(), value: secret ? secretValue(value) : value.value, secret: secret };
    }).filter((h) => h.name !== "" || h.value !== "");
    b.retry_schedule = list(f("retry_schedule").value);
    if (!loaded && f("signing_secret").value !== "") b.signing_secret = f("signing_secret").value;
    return b;
  }

  // notKept names what was sent but that this server's answer does not
  // show (a field of the SPEC it does not know yet).
  function notKept(sent, w) {
    const out = [];
    if (sent.rate_limit != null && !("rate_limit" in w)) out.push("rate_limit is not supported by this server and was not saved.");
    if (sent.scheme === "http" && w.http_url.startsWith("https://")) out.push('scheme "http" is not supported by this server: the URL is ' + w.http_url + ".");
    return out;
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    AH.formError(errBox, null, form);
    AH.show(warnBox, "");
    const sent = collect();
    const save = $("#save");
    save.disabled = true;
    try {
      let r;
      if (id) {
        r = await AH.api("PUT", "/api/v2/admin/webhooks/" + id, sent);
        fill(r.webhook);
        AH.flash("Saved.");
      } else {
        r = await AH.api("POST", "/api/v2/admin/webhooks", sent);
        form.hidden = true;
        $("#created-secret").textContent = r.webhook.signing_secret;
        $("#created-link").href = "/ui/webhooks/" + r.webhook.id;
        $("#created-link").textContent = "Open webhook " + r.webhook.id + " (" + r.webhook.name + ")";
        $("#created").hidden = false;
      }
      AH.show(warnBox, notKept(sent, r.webhook).join(" "));
    } catch (e) {
      AH.formError(errBox, e, form);
      errBox.scrollIntoView({ block: "nearest" });
    } finally {
      save.disabled = false;
    }
  });

  if (id) {
    $("#test-send").addEventListener("click", async () => {
      const btn = $("#test-send");
      btn.disabled = true;
      btn.textContent = "Sending…";
      try {
        const r = await AH.api("POST", "/api/v2/admin/webhooks/" + id + "/test");
        $("#test-status").textContent = r.status_code === null ? "no answer" : String(r.status_code);
        $("#test-status").className = r.status_code >= 200 && r.status_code < 300 ? "ok" : "bad";
        $("#test-duration").textContent = r.duration_ms + " ms";
        $("#test-error").textContent = r.error || "—";
        $("#test-body").textContent = r.body || "";
        $("#test-result").hidden = false;
        AH.pageError("");
      } catch (e) {
        AH.pageError("The test could not be sent: " + e.message);
      } finally {
        btn.disabled = false;
        btn.textContent = "Send a test";
      }
    });
    $("#delete").addEventListener("click", async () => {
      if (!confirm("Delete webhook " + id + "? Its queued deliveries are dropped.")) return;
      try {
        await AH.api("DELETE", "/api/v2/admin/webhooks/" + id);
        location.assign("/ui/webhooks");
      } catch (e) {
        AH.pageError("Could not delete it: " + e.message);
      }
    });
    $("#rotate").addEventListener("click", async () => {
      if (!confirm("Rotate the signing secret? The current one keeps signing beside the new one for 24 hours.")) return;
      try {
        const r = await AH.api("POST", "/api/v2/admin/webhooks/" + id + "/rotate-secret");
        const out = $("#rotated-secret");
        out.textContent = "New secret, shown this once: " + r.webhook.signing_secret;
        out.hidden = false;
        $("#f-secret-masked").textContent = "whsec_****" + r.webhook.signing_secret.slice(-4);
      } catch (e) {
        AH.pageError("Could not rotate the secret: " + e.message);
      }
    });
    (async () => {
      try {
        const r = await AH.api("GET", "/api/v2/admin/webhooks/" + id);
        await loadProjects(r.webhook.project_id);
        fill(r.webhook);
      } catch (e) {
        AH.pageError(e.status === 404 ? "There is no webhook " + id + "." : "Could not load the webhook: " + e.message);
        form.hidden = true;
      }
    })();
  } else {
    loadProjects("");
    showTarget();
    showAuth();
    f("trigger_events").value = "ASSET_ADDED";
  }
})();
