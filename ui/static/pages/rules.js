// The rule editor: the condition checked as it is typed (rules/validate),
// tried on a pasted or stored event (rules/test), and a backtest over the
// stored events (rules/backtest) when the server has it.
"use strict";

(function () {
  if (!AH.requireKey(true)) return;
  const { el, $ } = AH;
  const cond = $("#condition");
  AH.checkCondition(cond, $("#condition-check"), { emptyText: "Type a condition; it is checked as you type." });

  $("#event-json").value = JSON.stringify({
    type: "ASSET_EDITED_METADATA",
    actor: { username: "ana", interface: "web" },
    asset: { uuid: "a-1", name: "banner.jpg", path: "/marketing/banner.jpg", mime_type: "image/jpeg", meta: { custom: { status: "approved" } } },
    changes: [{ field: "meta.custom.status", old: "draft", new: "approved" }],
  }, null, 2);

  function changesTable(changes) {
    if (!changes || !changes.length) return el("p", { className: "muted" }, "No changes derived.");
    return el("table", { className: "data compact" },
      el("thead", {}, el("tr", {}, el("th", {}, "Field"), el("th", {}, "Old"), el("th", {}, "New"))),
      el("tbody", {}, changes.map((c) => el("tr", {},
        el("td", {}, el("code", {}, c.field)), el("td", {}, JSON.stringify(c.old)), el("td", {}, JSON.stringify(c.new))))));
  }

  $("#try").addEventListener("click", async () => {
    const out = AH.clear($("#try-result"));
    const body = { condition: cond.value };
    const eventID = $("#event-id").value.trim();
    if (eventID) {
      body.event_id = eventID;
    } else {
      try {
        body.event = JSON.parse($("#event-json").value);
      } catch (e) {
        out.append(el("div", { className: "alert" }, "The event is not valid JSON: " + e.message));
        return;
      }
    }
    try {
      const r = await AH.api("POST", "/api/v2/admin/rules/test", body);
      out.append(el("p", { className: "verdict" }, r.matches ? AH.badge("matches", "ok") : AH.badge("does not match", "bad")),
        el("h3", {}, "Changes the engine derived"), changesTable(r.changes));
    } catch (e) {
      const box = el("div", { className: "alert" });
      AH.formError(box, e);
      out.append(box);
    }
  });

  async function webhooks() {
    try {
      const r = await AH.api("GET", "/api/v2/admin/webhooks");
      const sel = $("#bt-webhook");
      if (!sel) return; // no backtests on this server
      for (const w of r.webhooks) sel.append(el("option", { value: String(w.id) }, w.id + " · " + w.name));
    } catch (e) {
      AH.pageError("Could not load the webhooks: " + e.message);
    }
  }

  function backtestUnavailable() {
    AH.clear($("#backtest-card")).append(el("h2", {}, "Backtest over recent events"),
      el("p", { className: "unavailable" }, "Backtests (SPEC §3.8) are not available on this server."));
  }

  // An empty body is refused with 422 by a server that has backtests.
  async function probe() {
    try {
      await AH.api("POST", "/api/v2/admin/rules/backtest", {});
    } catch (e) {
      if (AH.unavailable(e)) backtestUnavailable();
    }
  }

  $("#backtest-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = AH.clear($("#backtest-result"));
    const body = { limit: Number($("#bt-limit").value || 1000) };
    const w = $("#bt-webhook").value;
    if (w) {
      body.webhook_id = Number(w);
    } else {
      body.trigger_events = AH.list($("#bt-triggers").value || "*");
      if (cond.value.trim()) body.condition = cond.value;
    }
    if ($("#bt-since").value) body.since = new Date($("#bt-since").value).toISOString();
    try {
      const r = await AH.api("POST", "/api/v2/admin/rules/backtest", body);
      out.append(el("p", {}, r.matched.length + " of " + r.scanned + " events match; " + r.errors.length + " errors."));
      if (r.matched.length) {
        out.append(el("table", { className: "data compact" },
          el("thead", {}, el("tr", {}, ["Event", "Type", "Occurred", "Asset", "Changes"].map((h) => el("th", {}, h)))),
          el("tbody", {}, r.matched.map((m) => el("tr", {},
            el("td", {}, el("a", { href: "/ui/events/" + encodeURIComponent(m.event_id) }, m.event_id)),
            el("td", {}, m.type), el("td", {}, AH.fmtTime(m.occurred_at)), el("td", {}, m.asset_id || "—"),
            el("td", {}, (m.changes || []).map((c) => c.field).join(", ") || "—"))))));
      }
      if (r.errors.length) out.append(el("ul", {}, r.errors.map((x) => el("li", {}, x.event_id + ": " + x.error))));
    } catch (e) {
      if (AH.unavailable(e)) { backtestUnavailable(); return; }
      const box = el("div", { className: "alert" });
      AH.formError(box, e);
      out.append(box);
    }
  });

  webhooks();
  probe();
})();
