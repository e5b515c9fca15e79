/* Colour theme (Bootstrap 5.3 colour modes): loaded in the page head, before the stylesheets
   paint, so a dark page never flashes white. Dash's asset loader skips this file
   (create_app: assets_ignore); the login and error pages load it the same way.

   The choice ("auto", "light" or "dark") lives in localStorage["console-theme"]; "auto" (the
   default) follows prefers-color-scheme, live. <html> carries:
     data-bs-theme       light | dark  (Bootstrap's colour mode)
     data-ag-theme-mode  light | dark  (AG Grid's theme)
     data-theme-choice   auto | light | dark  (the toggle shows it)
   The navbar's #theme-toggle cycles auto -> light -> dark -> auto. */
(function () {
  "use strict";
  var KEY = "console-theme";
  var ORDER = ["auto", "light", "dark"];
  var root = document.documentElement;
  var query = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function stored() {
    var value = null;
    try { value = window.localStorage.getItem(KEY); } catch (e) { /* storage disabled */ }
    return ORDER.indexOf(value) >= 0 ? value : "auto";
  }

  function apply(choice) {
    var dark = choice === "dark" || (choice === "auto" && !!query && query.matches);
    var mode = dark ? "dark" : "light";
    root.setAttribute("data-bs-theme", mode);
    root.setAttribute("data-ag-theme-mode", mode);
    root.setAttribute("data-theme-choice", choice);
    var button = document.getElementById("theme-toggle");
    if (button) {
      var next = ORDER[(ORDER.indexOf(choice) + 1) % ORDER.length];
      button.setAttribute("data-theme-choice", choice);
      button.setAttribute("title", "Colour theme: " + choice + (choice === "auto" ? " (follows the system, now " + mode + ")" : "") + ". Click for " + next + ".");
    }
  }

  function choose(choice) {
    try { window.localStorage.setItem(KEY, choice); } catch (e) { /* this page only */ }
    apply(choice);
  }

  apply(stored());

  if (query) {
    var follow = function () { if (stored() === "auto") { apply("auto"); } };
    if (query.addEventListener) { query.addEventListener("change", follow); } else if (query.addListener) { query.addListener(follow); }
  }
  // Another tab changed the theme: follow it.
  window.addEventListener("storage", function (event) { if (event.key === KEY) { apply(stored()); } });
  // The toggle is rendered by Dash after this script ran: delegate, and label it once it exists.
  document.addEventListener("click", function (event) {
    var button = event.target && event.target.closest ? event.target.closest("#theme-toggle") : null;
    if (!button) { return; }
    var choice = stored();
    choose(ORDER[(ORDER.indexOf(choice) + 1) % ORDER.length]);
  });
  var labelled = false;
  var label = function () {
    if (!labelled && document.getElementById("theme-toggle")) { labelled = true; apply(stored()); }
    return labelled;
  };
  if (!label() && window.MutationObserver) {
    var observer = new MutationObserver(function () { if (label()) { observer.disconnect(); } });
    document.addEventListener("DOMContentLoaded", function () {
      if (!label()) { observer.observe(document.body, {childList: true, subtree: true}); }
    });
  }
  window.consoleTheme = {choose: choose, choice: stored};
})();
