// obmen's dashboard: live sections and buttons, served by obmen itself (no asset comes from elsewhere).
// A section with data-live="N" is fetched again every N seconds as a small HTML fragment
// (?fragment=<id>) and swapped in when it changed; forms marked data-json are sent as JSON to the API.
(function () {
  "use strict";
  var root = document.body.getAttribute("data-root") || "";

  function fragmentUrl(id) {
    var url = new URL(window.location.href);
    url.searchParams.set("fragment", id);
    url.hash = "";
    return url.toString();
  }

  function refresh(section) {
    return fetch(fragmentUrl(section.id), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html !== null && html !== section.getAttribute("data-html")) {
          section.setAttribute("data-html", html);
          section.innerHTML = html;
          section.dispatchEvent(new CustomEvent("obmen:updated", { bubbles: true }));
        }
      })
      .catch(function () { /* the next round tries again */ });
  }

  function refreshAll() {
    var live = document.querySelectorAll("section[data-live]");
    return Promise.all(Array.prototype.map.call(live, refresh)).then(badges);
  }

  function badges() {
    return fetch(root + "/api/counts", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (counts) {
        if (!counts) { return; }
        var shown = { conflicts: counts.conflicts, queue: counts.parked };
        Object.keys(shown).forEach(function (key) {
          document.querySelectorAll("nav [data-count='" + key + "']").forEach(function (el) {
            el.textContent = String(shown[key]);
            el.hidden = !shown[key];
          });
        });
      })
      .catch(function () {});
  }

  function schedule(section) {
    var every = parseInt(section.getAttribute("data-live"), 10) * 1000;
    section.setAttribute("data-html", section.innerHTML);
    setInterval(function () { if (!document.hidden) { refresh(section); } }, every);
  }

  function flash(text) {
    var box = document.createElement("div");
    box.className = "flash";
    box.textContent = text;
    document.body.appendChild(box);
    setTimeout(function () { box.remove(); }, 4000);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-json")) { return; }
    event.preventDefault();
    var body = {};
    new FormData(form).forEach(function (value, key) { if (key !== "next") { body[key] = value; } });
    body.by = body.by || "web";
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    })
      .then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); })
      .then(function (answer) {
        if (!answer.ok) { flash(answer.data.error || "error"); }
        form.setAttribute("data-done", answer.ok ? "ok" : "error");
        return refreshAll();
      })
      .catch(function (e) { flash(String(e)); })
      .finally(function () { buttons.forEach(function (b) { b.disabled = false; }); });
  });

  document.querySelectorAll("section[data-live]").forEach(schedule);
  setInterval(function () { if (!document.hidden) { badges(); } }, 5000);
})();
