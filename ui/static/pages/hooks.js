// REST-hook subscriptions (SPEC §3.5): those of the key (all of them for an
// admin key), subscribe, unsubscribe, and sample payloads. A user key may
// use this page.
"use strict";

(function () {
  if (!AH.requireKey(false)) return;
  const { el, $ } = AH;
  const form = $("#hook-form"), errBox = $("#hook-error");
  // rules/validate is an admin route: a user key's condition is checked on subscribing.
  if (AH.role() === "admin") AH.checkCondition($("#h-condition"), $("#h-condition-check"));

  async function load() {
    try {
      const r = await AH.api("GET", "/api/v2/hooks");
      AH.clear($("#hooks tbody")).append(...r.hooks.map((h) => el("tr", { "data-id": h.id },
        el("td", { className: "num" }, String(h.id)), el("td", {}, h.event), el("td", {}, el("span", { className: "sub" }, h.target_url)),
        el("td", {}, h.condition ? el("code", {}, h.condition) : "—"), el("td", {}, AH.fmtTime(h.created_at)),
        el("td", { className: "cell-actions" }, el("button", { type: "button", className: "danger", onclick: () => remove(h) }, "Unsubscribe")))));
      $("#no-hooks").hidden = r.hooks.length > 0;
    } catch (e) {
      AH.pageError("Could not load the subscriptions: " + e.message);
    }
  }

  async function remove(h) {
    if (!confirm("Unsubscribe hook " + h.id + "?")) return;
    try {
      await AH.api("DELETE", "/api/v2/hooks/" + h.id);
      AH.flash("Hook " + h.id + " removed.");
      load();
    } catch (e) {
      AH.pageError("Could not remove it: " + e.message);
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    AH.formError(errBox, null, form);
    const body = { target_url: $("#h-target_url").value.trim(), event: $("#h-event").value.trim() };
    if ($("#h-condition").value.trim()) body.condition = $("#h-condition").value;
    try {
      const r = await AH.api("POST", "/api/v2/hooks", body);
      AH.flash("Subscribed: hook " + r.id + ".");
      $("#h-target_url").value = "";
      load();
    } catch (e) {
      AH.formError(errBox, e, form);
    }
  });

  $("#sample-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = $("#sample-out");
    try {
      const r = await AH.api("GET", "/api/v2/hooks/sample?event=" + encodeURIComponent($("#sample-event").value.trim()));
      out.textContent = JSON.stringify(r, null, 2);
    } catch (e) {
      out.textContent = "Refused: " + e.message;
    }
    out.hidden = false;
  });
  load();
})();
