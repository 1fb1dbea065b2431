// Markers: the list, create and edit (PUT, which does not create), delete,
// and a link to an asset's marker panel.
"use strict";

(function () {
  if (!AH.requireKey(true)) return;
  const { el, $ } = AH;
  const form = $("#marker-form"), errBox = $("#marker-error");
  let editing = null; // the name of the marker being edited
  let webhookNames = {};

  AH.checkCondition($("#m-condition"), $("#m-condition-check"), { emptyText: "No condition: offered for every asset." });

  function row(m) {
    return el("tr", { "data-name": m.name },
      el("td", {}, el("code", {}, m.name)), el("td", {}, m.label, m.description ? el("span", { className: "sub" }, m.description) : null),
      el("td", {}, m.mode), el("td", {}, m.batch ? "yes" : "no"),
      el("td", {}, m.condition ? el("code", {}, m.condition) : "—"),
      el("td", {}, (m.webhook_ids || []).map((id) => webhookNames[id] ? id + " · " + webhookNames[id] : String(id)).join(", ") || "—"),
      el("td", {}, AH.fmtTime(m.updated_at)),
      el("td", { className: "cell-actions" },
        el("button", { type: "button", className: "edit", onclick: () => edit(m) }, "Edit"), " ",
        el("button", { type: "button", className: "delete danger", onclick: () => remove(m) }, "Delete")));
  }

  async function load() {
    try {
      const r = await AH.api("GET", "/api/v2/admin/markers");
      AH.clear($("#markers tbody")).append(...r.markers.map(row));
      $("#no-markers").hidden = r.markers.length > 0;
    } catch (e) {
      AH.pageError("Could not load the markers: " + e.message);
    }
  }

  async function webhooks() {
    try {
      const r = await AH.api("GET", "/api/v2/admin/webhooks");
      const box = AH.clear($("#m-webhooks"));
      webhookNames = {};
      for (const w of r.webhooks) {
        webhookNames[w.id] = w.name;
        const cb = el("input", { type: "checkbox", value: String(w.id), id: "m-wh-" + w.id, className: "m-webhook" });
        box.append(el("label", { for: "m-wh-" + w.id }, cb, " " + w.id + " · " + w.name));
      }
      if (!r.webhooks.length) box.append(el("span", { className: "muted" }, "No webhooks yet: selections reach the webhooks whose triggers match."));
    } catch (e) {
      AH.pageError("Could not load the webhooks: " + e.message);
    }
  }

  function edit(m) {
    editing = m.name;
    $("#marker-form-title").textContent = "Edit marker " + m.name;
    $("#m-name").value = m.name;
    $("#m-name").disabled = true;
    $("#m-label").value = m.label;
    $("#m-description").value = m.description || "";
    $("#m-mode").value = m.mode;
    $("#m-batch").checked = m.batch;
    $("#m-condition").value = m.condition || "";
    $("#m-condition").dispatchEvent(new Event("input"));
    form.querySelectorAll(".m-webhook").forEach((cb) => { cb.checked = (m.webhook_ids || []).includes(Number(cb.value)); });
    $("#marker-save").textContent = "Save marker";
    $("#marker-cancel").hidden = false;
    form.scrollIntoView({ block: "start" });
  }

  function reset() {
    editing = null;
    form.reset();
    $("#m-name").disabled = false;
    $("#marker-form-title").textContent = "New marker";
    $("#marker-save").textContent = "Create marker";
    $("#marker-cancel").hidden = true;
    AH.formError(errBox, null, form);
    $("#m-condition").dispatchEvent(new Event("input"));
  }
  $("#marker-cancel").addEventListener("click", reset);

  async function remove(m) {
    if (!confirm("Delete marker " + m.name + "?")) return;
    try {
      await AH.api("DELETE", "/api/v2/admin/markers/" + encodeURIComponent(m.name));
      AH.flash("Marker " + m.name + " deleted.");
      if (editing === m.name) reset();
      load();
    } catch (e) {
      AH.pageError("Could not delete it: " + e.message);
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    AH.formError(errBox, null, form);
    const body = {
      name: $("#m-name").value.trim(), label: $("#m-label").value, description: $("#m-description").value,
      mode: $("#m-mode").value, batch: $("#m-batch").checked, condition: $("#m-condition").value,
      webhook_ids: Array.from(form.querySelectorAll(".m-webhook:checked")).map((cb) => Number(cb.value)),
    };
    try {
      if (editing) {
        await AH.api("PUT", "/api/v2/admin/markers/" + encodeURIComponent(editing), body);
        AH.flash("Marker " + editing + " saved.");
      } else {
        await AH.api("POST", "/api/v2/admin/markers", body);
        AH.flash("Marker " + body.name + " created.");
      }
      reset();
      load();
    } catch (e) {
      AH.formError(errBox, e, form);
    }
  });

  $("#panel-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const a = $("#panel-asset").value.trim();
    if (a) location.assign("/ui/assets/" + encodeURIComponent(a) + "/markers");
  });

  webhooks().then(load);
})();
