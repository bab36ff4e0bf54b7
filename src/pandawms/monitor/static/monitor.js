// pandawms monitor: live regions and small form helpers. No library; works offline.
// Every few seconds the page fetches its own URL and swaps the [data-live] regions whose HTML changed,
// so the first paint and every update come from the same server template (no flicker, scroll kept).
(function () {
  "use strict";
  var PERIOD_MS = 5000;
  var live = document.getElementById("live");
  var stamp = document.getElementById("updated");
  var busy = false;

  if (live) {
    live.checked = window.localStorage.getItem("monitor-live") !== "off";
    live.addEventListener("change", function () {
      window.localStorage.setItem("monitor-live", live.checked ? "on" : "off");
      if (live.checked) { tick(); }
    });
  }

  function tick() {
    if (busy || document.hidden || !live || !live.checked) { return; }
    if (!document.querySelector("[data-live]")) { return; }
    busy = true;
    fetch(window.location.href, { headers: { "Accept": "text/html" }, cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var changed = 0;
        document.querySelectorAll("[data-live]").forEach(function (el) {
          var fresh = el.id ? doc.getElementById(el.id) : null;
          if (fresh && fresh.innerHTML !== el.innerHTML) { el.innerHTML = fresh.innerHTML; changed += 1; }
        });
        if (stamp) { stamp.textContent = "updated " + new Date().toISOString().slice(11, 19) + " UTC" + (changed ? " (" + changed + " changed)" : ""); }
        document.body.dataset.liveTicks = String(Number(document.body.dataset.liveTicks || 0) + 1);
      })
      .catch(function (e) { if (stamp) { stamp.textContent = "live update failed: " + e.message; } })
      .finally(function () { busy = false; });
  }
  window.setInterval(tick, PERIOD_MS);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { tick(); } });

  // Empty fields are not sent (the server refuses empty parameters).
  document.querySelectorAll("form.clean").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("input, select").forEach(function (i) { if (!i.value) { i.disabled = true; } });
    });
  });
})();
