// Truce web view: live updates for pages that show "now". The page works
// without this script; with it, each new entry the server announces over
// server-sent events (/live) makes the script fetch the same page again
// and swap its content in place, with no reload. A page shown at an
// earlier sequence while the newest compliance report is computed is
// fetched again each second until it is there. When the server drops
// updates, or the connection ends, a notice asks the reader to reload.
(function () {
  "use strict";
  var query = document.body.getAttribute("data-live");
  if (query === null || !window.EventSource) { return; }
  var notice = document.getElementById("live-notice");
  var busy = false, again = false;

  function tell(text) {
    notice.textContent = text + " ";
    var link = document.createElement("a");
    link.href = window.location.href;
    link.textContent = "Reload";
    notice.appendChild(link);
    notice.hidden = false;
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) { throw new Error(String(r.status)); }
        return r.text();
      })
      .then(function (text) {
        var next = new DOMParser().parseFromString(text, "text/html");
        ["main", "footer"].forEach(function (tag) {
          var fresh = next.querySelector(tag), old = document.querySelector(tag);
          if (fresh && old) { old.replaceWith(fresh); }
        });
      })
      .catch(function () { tell("This page could not be updated."); })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); } else { whileComputing(); }
      });
  }

  // A page shown at an earlier sequence while the newest compliance
  // report is computed: fetch it again until it is there.
  function whileComputing() {
    if (document.getElementById("computing")) { setTimeout(refresh, 1000); }
  }
  whileComputing();

  // From the sequence the page was rendered at: nothing in between is lost.
  var after = document.body.getAttribute("data-sequence") || "0";
  var source = new EventSource("/live?" + (query ? query + "&" : "") + "after=" + after);
  source.addEventListener("entry", refresh);
  source.addEventListener("reload", function () {
    source.close();
    tell("Updates were dropped: this page is out of date.");
  });
  source.onerror = function () {
    if (source.readyState === EventSource.CLOSED) {
      tell("Live updates stopped.");
    }
  };
})();
