// tracenet officer console: the only script. Served from the node, loaded
// with `defer`; the Content-Security-Policy allows no other. Everything
// works without it but the live update of a trace page.
(function () {
  "use strict";
  // The print button: shown only when script runs (it calls window.print).
  var print = document.getElementById("print");
  if (print) {
    print.hidden = false;
    print.addEventListener("click", function () { window.print(); });
  }
  // Live update: while a trace waits for answers, fetch its live part every
  // two seconds and swap it in when its version changed.
  var live = document.getElementById("live");
  if (!live) return;
  var url = live.getAttribute("data-live");
  function current() {
    var b = live.querySelector(".live-body");
    return b ? b.getAttribute("data-version") : "";
  }
  function settled() {
    var b = live.querySelector(".live-body");
    return b && b.getAttribute("data-settled") === "true";
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var body = doc.querySelector(".live-body");
          if (body && body.getAttribute("data-version") !== current()) {
            live.replaceChildren(document.importNode(body, true));
          }
        }
      })
      .catch(function () {})
      .finally(function () {
        // A settled trace can still change (a late answer, a retry): poll slower.
        setTimeout(poll, settled() ? 10000 : 2000);
      });
  }
  setTimeout(poll, 2000);
})();
