/* Live pages (the board, a request's page): every few seconds each `.live-region[data-src]`
   fetches its part of the page as HTML and swaps it in when it changed. No full reload, so the
   page keeps its scroll position and the forms outside the regions keep what is typed. The
   `[data-live-clock]` line says when the page was last brought up to date. */
(function () {
  "use strict";
  var regions = document.querySelectorAll(".live-region[data-src]");
  var clock = document.querySelector("[data-live-clock]");
  if (!regions.length || !window.fetch) { return; }
  var EVERY_MS = 3000;
  // The service's time zone, like every time the server writes, whatever the computer's own.
  var TIME = { timeZone: (clock && clock.getAttribute("data-tz")) || undefined };

  function swap(region, html) {
    var focused = document.activeElement;
    var href = focused && region.contains(focused) ? focused.getAttribute("href") : null;
    region.innerHTML = html;
    if (href) {  // keep keyboard users where they were
      var again = region.querySelector('a[href="' + href + '"]');
      if (again) { again.focus(); }
    }
  }

  function say(text, stale) {
    if (!clock) { return; }
    clock.textContent = text;
    clock.classList.toggle("stale", stale);
  }

  function watch(region) {
    var last = null;
    function refresh() {
      fetch(region.getAttribute("data-src"), { credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (response.status === 401) { throw new Error("session"); }
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.text();
        })
        .then(function (html) {
          if (last !== null && html !== last) { swap(region, html); }
          last = html;
          say("Mis à jour à " + new Date().toLocaleTimeString("fr-FR", TIME), false);
        })
        .catch(function (err) {
          say(err.message === "session"
            ? "Session terminée : rechargez la page pour vous reconnecter."
            : "Connexion perdue, nouvel essai dans quelques secondes…", true);
        })
        .then(function () { window.setTimeout(refresh, EVERY_MS); });
    }
    refresh();
  }

  Array.prototype.forEach.call(regions, watch);
})();
