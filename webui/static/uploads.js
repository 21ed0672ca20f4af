/* File fields of task forms (staff and portal): each chosen file is uploaded at once and its reference added as a
   line of the field's text box, which is what the form submits. Without JavaScript the box still takes references. */
(function () {
  "use strict";
  if (window.baozhuangUploads) { return; }
  window.baozhuangUploads = true;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function taskIdOf(form) {
    if (form.dataset.taskId) { return form.dataset.taskId; }
    var match = /\/tasks\/([^/?#]+)/.exec(form.getAttribute("action") || "");
    return match ? decodeURIComponent(match[1]) : "";
  }

  function uploadOne(box, file) {
    var form = box.closest("form");
    var url = (form && form.dataset.uploadUrl) || box.dataset.uploadUrl;
    var body = new FormData();
    body.append("file", file);
    body.append("field", box.dataset.field || "");
    if (form) { body.append("task_id", taskIdOf(form)); }
    return fetch(url, { method: "POST", body: body, credentials: "same-origin",
                        headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" } })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (answer) {
          if (!response.ok) { throw new Error(answer.error || (response.status + " " + response.statusText)); }
          return answer;
        });
      });
  }

  function attach(box) {
    var input = box.querySelector('input[type="file"]');
    var refs = box.querySelector("textarea.file-refs");
    var list = box.querySelector(".file-list");
    var status = box.querySelector(".upload-status");
    input.addEventListener("change", function () {
      var files = Array.prototype.slice.call(input.files || []);
      var chain = Promise.resolve();
      files.forEach(function (file) {
        chain = chain.then(function () {
          status.textContent = file.name + " …";
          return uploadOne(box, file).then(function (answer) {
            refs.value = (refs.value.trim() ? refs.value.trim() + "\n" : "") + answer.reference;
            var item = document.createElement("li");
            var link = document.createElement("a");
            link.href = answer.url;
            link.textContent = answer.filename;
            item.appendChild(link);
            list.appendChild(item);
            status.textContent = "✓ " + answer.filename;
          }).catch(function (error) {
            status.textContent = "✗ " + file.name + "：" + error.message;
          });
        });
      });
      chain.then(function () { input.value = ""; });
    });
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll(".files[data-upload-url]"), attach);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
