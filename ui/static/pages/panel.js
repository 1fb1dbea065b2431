// The marker panel: the markers offered for one asset with their state;
// a DAM user selects or clears them with a user (or admin) key. Embeddable
// in an iframe; it signs in inline, so it never navigates away.
"use strict";

(function () {
  const { el, $, badge } = AH;
  const asset = AH.assetID;
  const base = "/api/v2/assets/" + encodeURIComponent(asset) + "/markers";
  const listEl = $("#panel-markers");

  function item(m) {
    const state = el("span", { className: "state" }, m.mode === "flag" ? (m.set ? badge("selected", "set") : badge("not selected", "")) : null);
    const btn = el("button", { type: "button", className: m.set ? "" : "primary" });
    if (m.mode === "flag") btn.textContent = m.set ? "Clear" : "Select";
    else btn.textContent = "Run";
    const li = el("li", { "data-name": m.name, "data-set": String(!!m.set) },
      el("span", { className: "name" }, m.label, el("small", {}, m.name + (m.mode === "action" ? " · action" : ""))), state, btn);
    btn.addEventListener("click", async () => {
      btn.disabled = true;
      AH.pageError("");
      try {
        const r = await AH.api(m.set ? "DELETE" : "POST", base + "/" + encodeURIComponent(m.name));
        if (m.mode === "flag") {
          m.set = !!r.set;
          li.replaceWith(item(m));
          AH.flash(m.label + (m.set ? " selected." : " cleared."));
        } else {
          AH.flash(m.label + ": sent.");
        }
      } catch (e) {
        AH.pageError(e.message);
      } finally {
        btn.disabled = false;
      }
    });
    return li;
  }

  async function load() {
    try {
      const r = await AH.api("GET", base);
      AH.clear(listEl).append(...r.markers.map(item));
      $("#panel-empty").hidden = r.markers.length > 0;
      $("#panel-sign-out").hidden = false;
    } catch (e) {
      AH.pageError(e.status === 404 ? "The engine has not seen asset " + asset + " yet." : "Could not load the markers: " + e.message);
    }
  }

  function askKey() {
    AH.signOut();
    AH.clear(listEl);
    $("#panel-empty").hidden = true;
    $("#panel-sign-out").hidden = true;
    $("#panel-login").hidden = false;
  }
  // A key the engine no longer accepts asks for one here, in the frame.
  AH.onUnauthorized = askKey;

  $("#panel-login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const k = $("#panel-key").value.trim();
    if (!k) { AH.pageError("Type your API key."); return; }
    try {
      await AH.call(k, "GET", "/api/v2/hooks"); // any valid key may
      let role = "user";
      try { await AH.call(k, "GET", "/api/v2/admin/projects"); role = "admin"; } catch (e) { /* a user key */ }
      AH.setKey(k, role);
      $("#panel-key").value = "";
      $("#panel-login").hidden = true;
      AH.pageError("");
      load();
    } catch (e) {
      AH.pageError(e.status === 401 ? "This key is not accepted by the engine." : e.message);
    }
  });

  $("#panel-sign-out").addEventListener("click", askKey);

  if (AH.key()) load(); else askKey();
})();
