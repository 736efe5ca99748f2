/* The portal's only script (the CSP forbids inline script): upload progress for the device import and
   print buttons. Everything works without it; it only adds feedback. */
(function () {
  "use strict";

  function importForm(event) {
    var target = event.target;
    return target && target.closest ? target.closest("#import-form") : null;
  }

  function uploadBar() {
    return document.getElementById("upload-progress");
  }

  /* Show the upload bar at zero when the import form starts sending. */
  document.addEventListener("htmx:beforeSend", function (event) {
    var bar = uploadBar();
    if (!importForm(event) || !bar) {
      return;
    }
    bar.value = 0;
    bar.max = 100;
    bar.classList.remove("d-none");
  });

  /* Move the upload bar as the file is sent (htmx relays the XHR progress events). */
  document.addEventListener("htmx:xhr:progress", function (event) {
    var bar = uploadBar();
    var detail = event.detail || {};
    if (!importForm(event) || !bar || !detail.lengthComputable || !detail.total) {
      return;
    }
    bar.max = detail.total;
    bar.value = detail.loaded;
  });

  /* Any element with data-print prints the page (labels and QR codes have print styles). */
  document.addEventListener("click", function (event) {
    var button = event.target && event.target.closest ? event.target.closest("[data-print]") : null;
    if (button) {
      event.preventDefault();
      window.print();
    }
  });
  /* htmx does not swap 4xx/5xx answers. Show the error page's message (or, when the server could not be
     reached, the offline message) in the #htmx-errors box at the top of the page instead of doing nothing. */
  function showError(html) {
    var box = document.getElementById("htmx-errors");
    if (box) {
      box.innerHTML = html;
      box.scrollIntoView({block: "nearest"});
    }
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var type = xhr.getResponseHeader("Content-Type") || "";
    var box = document.getElementById("htmx-errors");
    if (type.indexOf("text/html") === 0 && xhr.responseText.indexOf("<html") === -1) {
      showError(xhr.responseText);
    } else if (box) {
      showError('<div class="alert alert-danger" role="alert"></div>');
      box.firstChild.textContent = box.getAttribute("data-failed-message");
    }
  });

  document.addEventListener("htmx:sendError", function () {
    var box = document.getElementById("htmx-errors");
    if (box) {
      showError('<div class="alert alert-warning" role="alert"></div>');
      box.firstChild.textContent = box.getAttribute("data-offline-message");
    }
  });

  /* A new successful request clears an old error. */
  document.addEventListener("htmx:beforeRequest", function () {
    var box = document.getElementById("htmx-errors");
    if (box) {
      box.innerHTML = "";
    }
  });
})();
