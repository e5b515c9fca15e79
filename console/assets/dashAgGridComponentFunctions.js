/* Cell renderers of the operations list's AG Grid (dash-ag-grid reads this global by name).
 *
 * RunLink: the run's link, marked for one truth per page (assets/run_updates.js): data-run-id
 *   and data-run-status (queued | running | completed) on each visible row, inside the grid's
 *   container [data-run-surface=operations] — so a run-updated event refreshes the rows showing
 *   that run, and a row that shows a run further along announces it to the page's other surfaces.
 * RelativeTime: the same <time class="relative-time"> the rest of the console renders
 *   (console.components.display.relative_time, assets/relative-time.js): "3 min ago", with the
 *   absolute UTC time the server sent in title and data-absolute. Its words are drawn when the
 *   grid draws the row (each refresh) and kept current by relative-time.js every 30 s. */
(function () {
  "use strict";
  var funcs = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});

  funcs.RunLink = function (props) {
    var row = props.data || {};
    if (row.run_id === undefined || row.run_id === null) { return props.value || ""; }
    var attrs = { href: row.href, className: "run-link" };
    attrs["data-run-id"] = String(row.run_id);
    if (row.run_status) { attrs["data-run-status"] = row.run_status; }
    return React.createElement("a", attrs, props.value);
  };

  funcs.RelativeTime = function (props) {
    var row = props.data || {};
    var iso = row[props.colDef.field + "_iso"];
    var absolute = props.value;
    if (!iso) { return absolute || "—"; }
    var at = Date.parse(iso);
    var helper = window.consoleRelativeTime;
    var words = helper && !isNaN(at) ? helper.phrase((at - Date.now()) / 1000) : absolute;
    return React.createElement(
      "time",
      { className: "relative-time", dateTime: iso, title: absolute, "data-absolute": absolute },
      words
    );
  };
})();
