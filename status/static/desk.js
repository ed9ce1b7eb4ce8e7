/* The coordinator's form: suggestions as she types (communes, nurses, requesters), from the
   server's JSON, into each field's <datalist>. Choosing a requester fills the callback number
   when it is still empty. Without script the fields take what is typed all the same. */
(function () {
  "use strict";
  if (!window.fetch) { return; }
  var WAIT_MS = 150;

  function wire(input) {
    var list = document.getElementById(input.getAttribute("list"));
    var timer = null;
    var phones = {};
    var asked = null;

    function fill(items) {
      while (list.firstChild) { list.removeChild(list.firstChild); }
      phones = {};
      items.forEach(function (item) {
        var option = document.createElement("option");
        option.value = item.value;
        if (item.department) { option.label = item.value + " (" + item.department + ")"; }
        if (item.phone) { phones[item.value] = item.phone; }
        list.appendChild(option);
      });
    }

    function ask() {
      var query = input.value.trim();
      if (query.length < 2 || query === asked) { return; }
      asked = query;
      var url = input.getAttribute("data-suggest") + "?q=" + encodeURIComponent(query);
      fetch(url, { credentials: "same-origin", cache: "no-store" })
        .then(function (response) { return response.ok ? response.json() : []; })
        .then(function (items) { if (query === input.value.trim()) { fill(items); } })
        .catch(function () { /* suggestions are a help: typing still works */ });
    }

    input.addEventListener("input", function () {
      var target = input.getAttribute("data-fills");
      if (target && phones[input.value]) {
        var field = document.getElementById(target);
        if (field && !field.value) { field.value = phones[input.value]; }
      }
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, WAIT_MS);
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("input[data-suggest]"), wire);

  // Typing a date picks "le …" (the radio), so the keyboard never has to go back to it.
  var date = document.querySelector('input[name="date"]');
  var other = document.querySelector('input[name="day"][value="date"]');
  if (date && other) {
    date.addEventListener("input", function () { if (date.value) { other.checked = true; } });
  }
})();
