/* Live SLA countdowns and in-place step results for the service desk.
 *
 * Every element with a data-due attribute (an ISO 8601 instant) shows the time left until it, or past
 * it, and is updated every second without reloading. The words come from the element's data-left and
 * data-overdue attributes ("{time} left", translated by the server), so nothing here needs translating.
 *
 * htmx does not swap 4xx answers by default; inside an element marked data-swap-errors, a 409 (a step the
 * order's status does not allow) or a 422 (bad input) carries the re-rendered section with the message,
 * so it is swapped in place like a success.
 */
(function () {
  "use strict";
  if (window.portalClocks) {
    return;
  }
  window.portalClocks = true;

  function pad(number) {
    return number < 10 ? "0" + number : String(number);
  }

  function duration(seconds) {
    var total = Math.abs(seconds);
    var hours = Math.floor(total / 3600);
    var minutes = Math.floor((total % 3600) / 60);
    return hours + ":" + pad(minutes) + ":" + pad(total % 60);
  }

  function update(element, now) {
    var due = Date.parse(element.getAttribute("data-due"));
    if (isNaN(due)) {
      return;
    }
    var left = Math.floor((due - now) / 1000);
    var words = element.getAttribute(left >= 0 ? "data-left" : "data-overdue") || "{time}";
    element.textContent = words.replace("{time}", duration(left));
    element.classList.toggle("text-danger", left < 0);
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (element) {
      update(element, now);
    });
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    if ((status === 409 || status === 422) && source && source.closest("[data-swap-errors]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function start() {
    tick();
    window.setInterval(tick, 1000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
