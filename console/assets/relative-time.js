/* Relative times: every <time class="relative-time" datetime="ISO"> the server rendered with its
   absolute UTC text reads "3 min ago" / "in 2 days"; the absolute time stays in its title (hover)
   and in data-absolute. The server never renders the clock: a poll's answer and its fingerprint
   do not change as time passes. Refreshed every 30 s and whenever the DOM changes (a poll or a
   page rebuilds the element, or changes its datetime). */
(function () {
  "use strict";
  var SELECTOR = "time.relative-time[datetime]";
  var UNITS = [["year", 31536000], ["month", 2592000], ["day", 86400], ["h", 3600], ["min", 60]];

  function phrase(seconds) {
    var future = seconds > 0, s = Math.abs(seconds), text = null;
    if (s < 45) { return future ? "in a few seconds" : "just now"; }
    for (var i = 0; i < UNITS.length; i++) {
      var n = Math.floor(s / UNITS[i][1]);
      if (n >= 1) {
        var unit = UNITS[i][0];
        if (unit === "day" || unit === "month" || unit === "year") { unit += n === 1 ? "" : "s"; }
        text = n + " " + unit;
        break;
      }
    }
    if (text === null) { text = "1 min"; }
    return future ? "in " + text : text + " ago";
  }

  function render(el) {
    var at = Date.parse(el.getAttribute("datetime"));
    if (isNaN(at)) { return; }
    // The server's absolute text: in title (kept current by React), else the text before the first render.
    var absolute = el.getAttribute("title") || el.getAttribute("data-absolute") || el.textContent;
    if (el.getAttribute("data-absolute") !== absolute) { el.setAttribute("data-absolute", absolute); }
    var words = phrase((at - Date.now()) / 1000);
    if (el.textContent !== words) { el.textContent = words; }
  }

  function renderAll(root) {
    var scope = root && root.querySelectorAll ? root : document;
    if (scope.matches && scope.matches(SELECTOR)) { render(scope); }
    var nodes = scope.querySelectorAll(SELECTOR);
    for (var i = 0; i < nodes.length; i++) { render(nodes[i]); }
  }

  function start() {
    renderAll(document);
    new MutationObserver(function (records) {
      for (var i = 0; i < records.length; i++) {
        var r = records[i];
        if (r.type === "attributes") { render(r.target); }  // a re-render changed the time
        for (var j = 0; j < r.addedNodes.length; j++) {
          var n = r.addedNodes[j];
          if (n.nodeType === 1) { renderAll(n); }
        }
      }
    }).observe(document.body, {childList: true, subtree: true, attributes: true, attributeFilter: ["datetime", "title"]});
    window.setInterval(function () { renderAll(document); }, 30000);
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
  window.consoleRelativeTime = {phrase: phrase};
})();
