// A webhook's deliveries (GET …/deliveries?status=&limit=&before=), its
// success and failed logs, retry and abort of one delivery, and recover
// (SPEC §3.9) when the server has it.
"use strict";

(function () {
  if (!AH.requireKey(true)) return;
  const { el, $, badge } = AH;
  const id = AH.id;
  const tbody = $("#deliveries tbody");
  let tab = "deliveries", last = null, loads = 0;

  function lastAttempt(a) {
    if (!a) return "—";
    const code = a.status_code === null ? "no answer" : String(a.status_code);
    const parts = [el("span", {}, code + " · " + a.duration_ms + " ms"), el("span", { className: "sub" }, AH.fmtTime(a.at) + " · " + a.url)];
    if (a.error) parts.push(el("span", { className: "sub error" }, a.error));
    if (a.response_body) parts.push(el("details", {}, el("summary", {}, "response body"), el("pre", { className: "code" }, a.response_body)));
    return parts;
  }

  async function act(d, what) {
    try {
      await AH.api("POST", "/api/v2/admin/webhooks/" + id + "/deliveries/" + encodeURIComponent(d.id) + "/" + what);
      AH.flash(what === "retry" ? "Retry queued for delivery " + d.id + "." : "Delivery " + d.id + " aborted.");
      AH.pageError("");
    } catch (e) {
      AH.pageError("Could not " + what + " delivery " + d.id + ": " + e.message);
    }
    load(false);
    setTimeout(() => load(false), 1500);
    setTimeout(() => load(false), 4000);
  }

  function row(d) {
    const buttons = [];
    if (d.status !== "pending") buttons.push(el("button", { type: "button", className: "retry", onclick: () => act(d, "retry") }, "Retry"));
    if (d.status === "pending" || d.status === "retrying") buttons.push(el("button", { type: "button", className: "abort danger", onclick: () => act(d, "abort") }, "Abort"));
    return el("tr", { "data-id": d.id, "data-status": d.status },
      el("td", {}, el("code", {}, d.id)),
      el("td", {}, d.event_type, el("span", { className: "sub" }, el("a", { href: "/ui/events/" + encodeURIComponent(d.event_id) }, d.event_id))),
      el("td", { className: "status" }, badge(d.status)),
      el("td", { className: "num" }, String(d.attempts)),
      el("td", {}, AH.fmtTime(d.created_at)),
      el("td", {}, d.status === "pending" || d.status === "retrying" ? AH.fmtTime(d.next_attempt_at) : "—"),
      el("td", {}, lastAttempt(d.last_attempt)),
      el("td", { className: "cell-actions" }, buttons));
  }

  // load reads the current tab; more appends the page older than the last row.
  // An answer that arrives after a later load began is dropped, so a slow
  // unfiltered list never replaces the filtered one asked for after it.
  async function load(more) {
    if (!id) return;
    const mine = ++loads;
    const limit = $("#limit").value, status = $("#status").value, eventID = $("#event-filter").value.trim();
    let path, key;
    if (tab === "deliveries") {
      const q = new URLSearchParams({ limit: limit });
      if (status) q.set("status", status);
      if (eventID) q.set("event_id", eventID);
      if (more && last) q.set("before", last);
      path = "/api/v2/admin/webhooks/" + id + "/deliveries?" + q;
      key = "deliveries";
    } else {
      path = "/api/v2/admin/webhooks/" + id + "/" + tab + "?limit=" + encodeURIComponent(limit);
      key = tab + "_log";
    }
    try {
      const r = await AH.api("GET", path);
      if (mine !== loads) return;
      let ds = r[key] || [];
      if (eventID) ds = ds.filter((d) => d.event_id === eventID);
      if (!more) AH.clear(tbody);
      tbody.append(...ds.map(row));
      tbody.dataset.shown = tab + ":" + status; // what the rows are (the tests wait on it)
      last = ds.length ? ds[ds.length - 1].id : last;
      $("#more").hidden = tab !== "deliveries" || ds.length < Number(limit);
      $("#no-deliveries").hidden = tbody.children.length > 0;
    } catch (e) {
      AH.pageError("Could not load the deliveries: " + e.message);
    }
  }

  async function webhooks() {
    try {
      const r = await AH.api("GET", "/api/v2/admin/webhooks");
      const sel = $("#webhook");
      for (const w of r.webhooks) sel.append(el("option", { value: String(w.id) }, w.id + " · " + w.name));
      sel.value = id || "";
      const w = r.webhooks.find((x) => String(x.id) === id);
      if (w) {
        $("#title").textContent = "Deliveries of " + w.name;
        document.title = "Deliveries of " + w.name + " · assethooks";
      } else if (id) {
        AH.pageError("There is no webhook " + id + ".");
      }
    } catch (e) {
      AH.pageError("Could not load the webhooks: " + e.message);
    }
  }

  $("#webhook").addEventListener("change", () => {
    const v = $("#webhook").value;
    if (v) location.assign("/ui/webhooks/" + v + "/deliveries");
  });
  $("#filters").addEventListener("submit", (ev) => { ev.preventDefault(); load(false); });
  $("#status").addEventListener("change", () => load(false));
  $("#limit").addEventListener("change", () => load(false));
  $("#more").addEventListener("click", () => load(true));
  document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => {
    tab = b.dataset.tab;
    document.querySelectorAll(".tabs button").forEach((x) => x.setAttribute("aria-selected", String(x === b)));
    $("#status").disabled = tab !== "deliveries";
    load(false);
  }));

  // Recover: probed with an empty body, which a server that has the route
  // refuses with 422 and one that lacks it answers 404 "not found".
  async function probeRecover() {
    try {
      await AH.api("POST", "/api/v2/admin/webhooks/" + id + "/recover", {});
    } catch (e) {
      if (AH.unavailable(e)) {
        const card = $("#recover-card");
        AH.clear(card).append(el("h2", {}, "Recover failed deliveries"),
          el("p", { className: "unavailable" }, "Recover (SPEC §3.9) is not available on this server."));
      }
    }
  }
  $("#recover-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const since = $("#recover-since").value, until = $("#recover-until").value;
    if (!since) { $("#recover-result").textContent = "Choose since when."; return; }
    const body = { since: new Date(since).toISOString() };
    if (until) body.until = new Date(until).toISOString();
    try {
      const r = await AH.api("POST", "/api/v2/admin/webhooks/" + id + "/recover", body);
      $("#recover-result").textContent = r.requeued + " failed deliveries queued again.";
      load(false);
    } catch (e) {
      $("#recover-result").textContent = "Refused: " + e.message;
    }
  });

  webhooks();
  if (id) {
    $("#edit-link").href = "/ui/webhooks/" + id;
    $("#edit-link").hidden = false;
    load(false);
    probeRecover();
  } else {
    $("#recover-card").hidden = true;
    $("#filters").querySelectorAll("select:not(#webhook), input, button").forEach((n) => { n.disabled = true; });
    AH.show($("#no-deliveries"), "Choose a webhook to see its deliveries.");
  }
})();
