/* The simulator's phones. The server does the telephony (signed webhooks, TwiML); this file
   only shows what it answers and sends back what the person typed or clicked. */
(function () {
  "use strict";
  var phones = document.getElementById("phones");
  if (!phones || !window.fetch) { return; }
  var urls = phones.dataset;
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var errorBox = document.getElementById("sim-error");
  var opened = [];
  try { opened = JSON.parse(window.localStorage.getItem("sio-sim-open") || "[]"); } catch (e) { opened = []; }
  var versions = {};
  var handled = {};  // outbound calls answered or refused in this page: no more ringing for them
  var uid = 0;

  function post(url, data) {
    var body = new URLSearchParams();
    Object.keys(data).forEach(function (key) { body.append(key, data[key]); });
    return fetch(url, { method: "POST", body: body, credentials: "same-origin", headers: { "X-CSRFToken": csrf } })
      .then(function (response) {
        return response.json().catch(function () { return { error: "Réponse inattendue du serveur (" + response.status + ")." }; });
      }, function () { return { error: "Le serveur ne répond pas." }; });
  }

  function showError(message) {
    errorBox.textContent = message || "";
    errorBox.hidden = !message;
  }

  function make(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text) { node.textContent = text; }
    return node;
  }

  function button(label, onClick, className) {
    var b = make("button", className, label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  /* --- a call in progress: the lines heard, then what the call waits for ----------------------- */

  function startCall(box, title) {
    box.innerHTML = "";
    box.appendChild(make("h3", "call-title", title));
    box.appendChild(make("ol", "call-log"));
    box.appendChild(make("div", "controls"));
  }

  function step(box, action, value) {
    box.querySelector(".controls").innerHTML = "";
    post(urls.step, { state: box.getAttribute("data-state") || "", action: action, value: value || "" })
      .then(function (screen) { render(box, screen); });
  }

  function render(box, screen) {
    var log = box.querySelector(".call-log");
    var controls = box.querySelector(".controls");
    (screen.lines || []).forEach(function (line) { log.appendChild(make("li", "line-" + line.kind, line.text)); });
    if (screen.error && !(screen.lines || []).length) { log.appendChild(make("li", "line-error", screen.error)); }
    log.scrollTop = log.scrollHeight;
    controls.innerHTML = "";
    box.setAttribute("data-state", screen.state || "");
    if (screen.ended || !screen.state) {
      controls.appendChild(make("p", "ended", "Appel terminé."));
      return;
    }
    var prompt = screen.prompt || {};
    if (prompt.type === "gather") { keypad(box, controls, prompt); }
    if (prompt.type === "record") { recorder(box, controls); }
    if (prompt.type === "dial") { transfer(box, controls, prompt); }
    controls.appendChild(button("Raccrocher", function () { step(box, "hangup"); }, "danger"));
  }

  function keypad(box, controls, prompt) {
    var form = make("form", "keypad");
    var id = "keys-" + (++uid);
    var digits = prompt.num_digits ? " (" + prompt.num_digits + (prompt.num_digits === "1" ? " chiffre)" : " chiffres)") : "";
    var label = make("label", null, "Touches à taper" + digits);
    label.htmlFor = id;
    var input = make("input");
    input.id = id;
    input.name = "keys";
    input.setAttribute("inputmode", "numeric");
    input.setAttribute("autocomplete", "off");
    input.pattern = "[0-9*#]*";
    form.appendChild(label);
    form.appendChild(input);
    var keys = make("div", "keys");
    "123456789*0#".split("").forEach(function (key) {
      keys.appendChild(button(key, function () { input.value += key; input.focus(); }));
    });
    form.appendChild(keys);
    var send = make("button", "primary", "Valider");
    send.type = "submit";
    form.appendChild(send);
    form.appendChild(button("Ne rien taper", function () { step(box, "keys", ""); }));
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      step(box, "keys", input.value);
    });
    controls.appendChild(form);
    input.focus();
  }

  function recorder(box, controls) {
    var form = make("form", "recorder");
    var id = "rec-" + (++uid);
    var label = make("label", null, "Votre message, après le bip (le texte tient lieu d'enregistrement)");
    label.htmlFor = id;
    var text = make("textarea");
    text.id = id;
    text.rows = 3;
    form.appendChild(label);
    form.appendChild(text);
    var send = make("button", "primary", "Terminer l'enregistrement");
    send.type = "submit";
    form.appendChild(send);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      step(box, "record", text.value);
    });
    controls.appendChild(form);
    text.focus();
  }

  function transfer(box, controls, prompt) {
    var numbers = (prompt.numbers || []).join(", ") || "une coordinatrice";
    controls.appendChild(make("p", "transfer", "Transfert vers " + numbers + "…"));
    controls.appendChild(button("La coordinatrice répond (puis raccroche)", function () { step(box, "dial", "completed"); }, "primary"));
    controls.appendChild(button("Personne ne répond", function () { step(box, "dial", "no-answer"); }));
  }

  /* --- calling the service ------------------------------------------------------------------------ */

  document.getElementById("call-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var select = document.getElementById("call-from");
    var from = select.value || document.getElementById("call-other").value;
    var box = document.getElementById("call-screen");
    startCall(box, "Appel en cours depuis " + (select.value ? select.options[select.selectedIndex].text : from));
    post(urls.call, { from: from }).then(function (screen) { render(box, screen); });
  });

  /* --- the people's phones ---------------------------------------------------------------------- */

  function callUrl(template, id) { return template.replace("/0/", "/" + id + "/"); }

  function hideHandled(card) {
    Array.prototype.forEach.call(card.querySelectorAll(".ringing"), function (ring) {
      if (handled[ring.getAttribute("data-call")]) { ring.remove(); }
    });
  }

  phones.addEventListener("click", function (event) {
    var target = event.target;
    var card = target.closest(".phone");
    if (!card) { return; }
    var answer = target.getAttribute("data-answer");
    var decline = target.getAttribute("data-decline");
    if (answer) {
      handled[answer] = true;
      hideHandled(card);
      var box = card.querySelector(".call-area");
      startCall(box, "Appel du service");
      post(callUrl(urls.answer, answer), {}).then(function (screen) { render(box, screen); });
    } else if (decline) {
      handled[decline] = true;
      hideHandled(card);
      post(callUrl(urls.decline, decline), {}).then(function (result) { showError(result.error); });
    }
  });

  phones.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList.contains("reply")) { return; }
    event.preventDefault();
    var card = form.closest(".phone");
    var text = form.querySelector("textarea");
    post(urls.sms, { from: card.getAttribute("data-phone"), body: text.value }).then(function (result) {
      showError(result.error);
      if (!result.error) { text.value = ""; soon = QUICK_ROUNDS; refresh(); }
    });
  });

  document.getElementById("open-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var phone = document.getElementById("open-phone").value;
    if (opened.indexOf(phone) < 0) { opened.push(phone); }
    try { window.localStorage.setItem("sio-sim-open", JSON.stringify(opened)); } catch (e) { /* private mode */ }
    refresh(phone);
  });

  var timer = null;
  // Right after a text is sent, the answer comes from a worker a few milliseconds later: look
  // again every quarter second for a few seconds, then every two seconds.
  var QUICK_ROUNDS = 12;
  var soon = 0;
  function refresh(focusPhone) {
    window.clearTimeout(timer);
    fetch(urls.src + "?open=" + encodeURIComponent(opened.join(",")), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { throw new Error(response.status === 401 ? "Session terminée : rechargez la page." : "Erreur " + response.status); }
        return response.json();
      })
      .then(function (data) {
        data.phones.forEach(function (phone) {
          var card = phones.querySelector('.phone[data-phone="' + phone.phone + '"]');
          if (!card) {
            var holder = document.createElement("div");
            holder.innerHTML = phone.card;
            card = holder.firstElementChild;
            phones.appendChild(card);
          }
          if (versions[phone.phone] !== phone.version) {
            var feed = card.querySelector(".feed");
            feed.innerHTML = phone.feed;
            feed.scrollTop = feed.scrollHeight;
            versions[phone.phone] = phone.version;
            hideHandled(card);
          }
          if (focusPhone === phone.phone) { card.scrollIntoView({ block: "nearest" }); card.querySelector("textarea").focus(); }
        });
      })
      .catch(function (err) { showError(err.message); })
      .then(function () {
        timer = window.setTimeout(refresh, soon > 0 ? 250 : 2000);
        soon = Math.max(0, soon - 1);
      });
  }
  refresh();
})();
