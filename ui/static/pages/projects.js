// Projects: the list and a create form (the project_id scope).
"use strict";

(function () {
  if (!AH.requireKey(true)) return;
  const { el, $ } = AH;
  const form = $("#project-form"), errBox = $("#project-error");

  async function load() {
    try {
      const r = await AH.api("GET", "/api/v2/admin/projects");
      AH.clear($("#projects tbody")).append(...r.projects.map((p) => el("tr", { "data-id": p.id },
        el("td", {}, el("code", {}, p.id)), el("td", {}, p.name), el("td", {}, AH.fmtTime(p.created_at)))));
      $("#no-projects").hidden = r.projects.length > 0;
    } catch (e) {
      AH.pageError("Could not load the projects: " + e.message);
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    AH.formError(errBox, null, form);
    const body = { name: $("#p-name").value };
    if ($("#p-id").value.trim()) body.id = $("#p-id").value.trim();
    try {
      const r = await AH.api("POST", "/api/v2/admin/projects", body);
      AH.flash("Project " + r.project.name + " created with id " + r.project.id + ".");
      form.reset();
      load();
    } catch (e) {
      AH.formError(errBox, e, form);
    }
  });
  load();
})();
