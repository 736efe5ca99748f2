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
})();
