// Schedules (SPEC §3.7): the list with last and next run, create, run now,
// delete, when the server has them; else a plain "not available" notice.
"use strict";

(function () {
  if (!AH.requireKey(true)) return;
  const { el, $, badge } = AH;
  const form = $("#schedule-form"), errBox = $("#schedule-error");

  function unavailableNow() {
    $("#schedules").hidden = true;
    $("#schedule-card").hidden = true;
    $("main").append(el("p", { className: "unavailable" }, "Schedules (SPEC §3.7) are not available on this server."));
  }

  function row(s) {
    const action = s.action && s.action.type === "digest" ? "digest → " + (s.action.webhook_ids || []).join(", ") : "events";
    return el("tr", { "data-id": s.id },
      el("td", { className: "num" }, String(s.id)), el("td", {}, s.name), el("td", {}, el("code", {}, s.cron)), el("td", {}, s.timezone),
      el("td", {}, el("code", {}, s.condition)), el("td", {}, action + (s.once ? " (once)" : "")),
      el("td", {}, s.disabled ? badge("disabled") : badge("enabled")),
      el("td", {}, s.last_run ? AH.fmtTime(s.last_run.at) + " · " + s.last_run.matched + " matched" : "never"),
      el("td", {}, AH.fmtTime(s.next_run_at)),
      el("td", { className: "cell-actions" },
        el("button", { type: "button", onclick: () => run(s) }, "Run now"), " ",
        el("button", { type: "button", className: "danger", onclick: () => remove(s) }, "Delete")));
  }

  async function load() {
    try {
      const r = await AH.api("GET", "/api/v2/admin/schedules");
      AH.clear($("#schedules tbody")).append(...r.schedules.map(row));
      $("#no-schedules").hidden = r.schedules.length > 0;
    } catch (e) {
      if (AH.unavailable(e)) { unavailableNow(); return; }
      AH.pageError("Could not load the schedules: " + e.message);
    }
  }

  async function run(s) {
    try {
      const r = await AH.api("POST", "/api/v2/admin/schedules/" + s.id + "/run");
      AH.flash("Schedule " + s.name + " ran: " + r.run.matched + " assets matched.");
      load();
    } catch (e) {
      AH.pageError("Could not run it: " + e.message);
    }
  }

  async function remove(s) {
    if (!confirm("Delete schedule " + s.name + "?")) return;
    try {
      await AH.api("DELETE", "/api/v2/admin/schedules/" + s.id);
      load();
    } catch (e) {
      AH.pageError("Could not delete it: " + e.message);
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    AH.formError(errBox, null, form);
    const body = {
      name: $("#s-name").value, cron: $("#s-cron").value.trim(), condition: $("#s-condition").value,
      action: { type: $("#s-action").value }, once: $("#s-once").checked, disabled: $("#s-disabled").checked,
    };
    if ($("#s-timezone").value.trim()) body.timezone = $("#s-timezone").value.trim();
    if (body.action.type === "digest") body.action.webhook_ids = AH.list($("#s-webhooks").value).map(Number);
    try {
      await AH.api("POST", "/api/v2/admin/schedules", body);
      AH.flash("Schedule " + body.name + " created.");
      form.reset();
      load();
    } catch (e) {
      if (AH.unavailable(e)) { unavailableNow(); return; }
      AH.formError(errBox, e, form);
    }
  });
  load();
})();
