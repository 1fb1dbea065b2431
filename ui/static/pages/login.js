// Sign in: the key is checked against the API, then kept in sessionStorage
// with its role. It never goes into a URL; the input has no name, so even a
// form sent without this script would not carry it.
"use strict";

(function () {
  const form = AH.$("#login-form"), input = AH.$("#key"), box = AH.$("#login-error");

  // next is where to go after signing in: a UI path only.
  function next(role) {
    const n = new URLSearchParams(location.search).get("next") || "";
    if (/^\/ui\/[^/\\]/.test(n) && !n.startsWith("/ui/login")) return n;
    return role === "admin" ? "/ui/webhooks" : "/ui/hooks";
  }

  // roleOf asks the API what the key may do: an admin route answers 200
  // for an admin key and 401 "Not admin user" for a user key.
  async function roleOf(k) {
    try {
      await AH.call(k, "GET", "/api/v2/admin/projects");
      return "admin";
    } catch (e) {
      if (e.status === 401 && e.message === "Not admin user") return "user";
      throw e;
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const k = input.value.trim();
    if (!k) { AH.show(box, "Type your API key."); return; }
    AH.show(box, "");
    try {
      const role = await roleOf(k);
      AH.setKey(k, role);
      input.value = "";
      location.assign(next(role));
    } catch (e) {
      AH.show(box, e.status === 401 ? "This key is not accepted by the engine." : e.message);
    }
  });
})();
