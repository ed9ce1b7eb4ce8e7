/* The status board refreshes itself: every few seconds it fetches the tables as HTML and swaps
   them in when they changed. No full reload, so the page keeps its scroll position. */
(function () {
  "use strict";
  var board = document.getElementById("board");
  var clock = document.getElementById("board-live");
  if (!board || !window.fetch) { return; }
  var last = null;
  var EVERY_MS = 3000;
  // The service's time zone, like every time the server writes, whatever the computer's own.
  var TIME = { timeZone: clock.getAttribute("data-tz") || undefined };

  function swap(html) {
    var focused = document.activeElement;
    var href = focused && board.contains(focused) ? focused.getAttribute("href") : null;
    board.innerHTML = html;
    if (href) {  // keep keyboard users where they were
      var again = board.querySelector('a[href="' + href + '"]');
      if (again) { again.focus(); }
    }
  }

  function refresh() {
    fetch(board.getAttribute("data-src"), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) { throw new Error("session"); }
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(function (html) {
        if (last !== null && html !== last) { swap(html); }
        last = html;
        clock.textContent = "Mis à jour à " + new Date().toLocaleTimeString("fr-FR", TIME);
        clock.classList.remove("stale");
      })
      .catch(function (err) {
        clock.textContent = err.message === "session"
          ? "Session terminée : rechargez la page pour vous reconnecter."
          : "Connexion perdue, nouvel essai dans quelques secondes…";
        clock.classList.add("stale");
      })
      .then(function () { window.setTimeout(refresh, EVERY_MS); });
  }
  refresh();
})();
