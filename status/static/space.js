// Suggestions under a commune field: the service's communes as she types (a datalist).
(function () {
  "use strict";
  document.querySelectorAll("input[data-suggest]").forEach(function (input) {
    var list = document.getElementById(input.getAttribute("list"));
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var typed = input.value.trim();
      if (typed.length < 2 || !list) { return; }
      timer = setTimeout(function () {
        fetch(input.dataset.suggest + "?q=" + encodeURIComponent(typed), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(function (found) {
            list.replaceChildren.apply(list, found.map(function (c) {
              var option = document.createElement("option");
              option.value = c.label;
              return option;
            }));
          })
          .catch(function () {});
      }, 150);
    });
  });
  // The registration form: a picked commune is added as a line of the list.
  document.querySelectorAll("button[data-append-to]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.dataset.from);
      var target = document.getElementById(button.dataset.appendTo);
      var value = source.value.trim();
      if (!value) { return; }
      target.value = (target.value.trim() ? target.value.trim() + "\n" : "") + value;
      source.value = "";
      source.focus();
    });
  });
})();
