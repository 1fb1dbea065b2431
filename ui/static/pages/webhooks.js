// The webhook list with live figures (queue_length, retry_queue_length,
// latest_run), refreshed every 5 seconds.
"use strict";

(function () {
  if (!AH.requireKey(true)) return;
  const { el, badge } = AH;
  const tbody = AH.$("#webhooks tbody");

  function latest(run) {
    if (!run) return "never";
    return [badge(run.outcome), " ", run.status_code === null ? "no answer" : String(run.status_code),
      el("span", { className: "sub" }, AH.fmtTime(run.at) + " · " + run.duration_ms + " ms")];
  }

  function row(w) {
    const target = w.http_url + (w.redundant_urls.length ? " (+" + w.redundant_urls.length + ")" : "");
    const state = w.disabled ? [badge("disabled"), w.disabled_reason ? el("span", { className: "sub" }, w.disabled_reason) : null] : badge("enabled");
    return el("tr", { "data-id": w.id },
      el("td", { className: "num" }, String(w.id)),
      el("td", {}, el("a", { href: "/ui/webhooks/" + w.id }, w.name), w.kind === "hook" ? el("span", { className: "sub" }, "REST hook") : null),
      el("td", {}, el("span", { className: "sub" }, w.http_method + " " + target)),
      el("td", {}, w.trigger_events.join(", ")),
      el("td", {}, w.project_id || "—"),
      el("td", {}, state),
      el("td", { className: "num queue" }, String(w.queue_length)),
      el("td", { className: "num retry-queue" }, String(w.retry_queue_length)),
      el("td", { className: "latest" }, latest(w.latest_run)),
      el("td", { className: "cell-actions" }, el("a", { href: "/ui/webhooks/" + w.id + "/deliveries" }, "Deliveries")));
  }

  async function load() {
    try {
      const r = await AH.api("GET", "/api/v2/admin/webhooks");
      AH.clear(tbody).append(...r.webhooks.map(row));
      AH.$("#no-webhooks").hidden = r.webhooks.length > 0;
      AH.$("#refreshed").textContent = "Updated " + new Date().toLocaleTimeString() + ".";
      AH.pageError("");
    } catch (e) {
      AH.pageError("Could not load the webhooks: " + e.message);
    }
  }
  load();
  setInterval(load, 5000);
})();
