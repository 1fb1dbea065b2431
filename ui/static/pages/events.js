// Recent events (GET /api/v2/admin/events) and, for one of them, its trace:
// every webhook's verdict (GET /api/v2/admin/events/:id/trace), when the
// server has them (SPEC §3.8).
"use strict";

(function () {
  if (!AH.requireKey(true)) return;
  const { el, $, badge } = AH;
  const tbody = $("#events tbody");

  function unavailableNow() {
    $("#event-filters").hidden = true;
    $("#events").hidden = true;
    $("#trace").hidden = true;
    $("main").append(el("p", { className: "unavailable" }, "Events and traces (SPEC §3.8) are not available on this server."));
  }

  async function list() {
    const q = new URLSearchParams({ limit: "50" });
    if ($("#asset-filter").value.trim()) q.set("asset_id", $("#asset-filter").value.trim());
    if ($("#type-filter").value.trim()) q.set("type", $("#type-filter").value.trim());
    try {
      const r = await AH.api("GET", "/api/v2/admin/events?" + q);
      AH.clear(tbody).append(...r.events.map((e) => el("tr", {},
        el("td", {}, el("a", { href: "/ui/events/" + encodeURIComponent(e.id) }, e.id)),
        el("td", {}, e.type), el("td", {}, e.asset_id || "—"), el("td", {}, e.project_id || "—"),
        el("td", {}, e.actor ? (e.actor.username || "") + (e.actor.interface ? " (" + e.actor.interface + ")" : "") : "—"),
        el("td", {}, AH.fmtTime(e.occurred_at)), el("td", {}, AH.fmtTime(e.received_at)))));
      $("#no-events").hidden = r.events.length > 0;
      return true;
    } catch (e) {
      if (AH.unavailable(e)) { unavailableNow(); return false; }
      AH.pageError("Could not load the events: " + e.message);
      return true;
    }
  }

  async function trace(id) {
    try {
      const r = await AH.api("GET", "/api/v2/admin/events/" + encodeURIComponent(id) + "/trace");
      $("#trace-title").textContent = "Trace of " + r.event.id + " (" + r.event.type + (r.event.asset_id ? ", asset " + r.event.asset_id : "") + ")";
      $("#trace-routed").textContent = r.routed_at ? "Routed " + AH.fmtTime(r.routed_at) + "." : "Not routed yet.";
      AH.clear($("#trace-table tbody")).append(...(r.webhooks || []).map((w) => el("tr", {},
        el("td", {}, el("a", { href: "/ui/webhooks/" + w.webhook_id }, w.name || String(w.webhook_id))),
        el("td", {}, badge(w.verdict), w.via ? el("span", { className: "sub" }, "via " + w.via) : null),
        el("td", {}, w.stage), el("td", {}, w.reason),
        el("td", {}, w.condition ? (w.condition.error ? "error: " + w.condition.error : String(w.condition.result)) : "—"),
        el("td", {}, w.delivery_id ? [el("code", {}, w.delivery_id), el("span", { className: "sub" }, w.delivery_status || "")] : "—"))));
      $("#trace").hidden = false;
    } catch (e) {
      if (AH.unavailable(e)) { unavailableNow(); return; }
      AH.pageError(e.status === 404 ? "No stored event " + id + " (unknown, or older than the retention window)." : "Could not load the trace: " + e.message);
    }
  }

  $("#event-filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const id = $("#trace-id").value.trim();
    if (id) location.assign("/ui/events/" + encodeURIComponent(id));
    else list();
  });

  (async () => {
    if (await list() && AH.id) {
      $("#trace-id").value = AH.id;
      trace(AH.id);
    }
  })();
})();
