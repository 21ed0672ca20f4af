/* The portal's application form: the suggested capacity, supply voltage and category are asked from the server
   (/portal/assess runs the process's own capacity handler and DMN tables) as the customer types. */
(function () {
  "use strict";
  var form = document.getElementById("apply-form");
  var panel = document.getElementById("assessment");
  if (!form || !panel) { return; }
  var timer = null;
  var latest = 0;

  function show(key, text) {
    var target = panel.querySelector('[data-key="' + key + '"]');
    var empty = key === "message" ? "" : "—";
    if (target) { target.textContent = text === null || text === undefined || text === "" ? empty : text; }
  }

  function showRow(key, visible) {
    panel.querySelectorAll('[data-row="' + key + '"]').forEach(function (element) { element.hidden = !visible; });
  }

  function assess() {
    var body = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (typeof value === "string") { body.append(name, value); }
    });
    var ticket = ++latest;
    fetch(form.dataset.assessUrl, { method: "POST", body: body, credentials: "same-origin",
                                     headers: { "Accept": "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (ticket !== latest) { return; }  /* an older answer arriving late */
        if (!answer.ok) {
          ["installed_kw", "transformer_kva", "supply_voltage", "category_label"].forEach(function (k) { show(k, null); });
          showRow("transformer_kva", false);
          show("message", answer.message);
          return;
        }
        show("installed_kw", answer.installed_kw + " kW");
        /* only a high-voltage customer gets a transformer: a low-voltage one connects to the public network */
        show("transformer_kva", answer.transformer_suggested ? answer.transformer_kva + " kVA" : null);
        showRow("transformer_kva", answer.transformer_suggested);
        show("supply_voltage", answer.supply_voltage);
        show("category_label", answer.category_label);
        show("message", "");
      })
      .catch(function () { /* offline or a server hiccup: the form still works */ });
  }

  form.addEventListener("input", function (event) {
    if (event.target && event.target.type === "file") { return; }
    clearTimeout(timer);
    timer = setTimeout(assess, 400);
  });
  form.addEventListener("change", function (event) {
    if (event.target && event.target.type === "radio") { clearTimeout(timer); timer = setTimeout(assess, 50); }
  });
  assess();
})();
