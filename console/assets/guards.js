/* Polling guards for every surface (see docs/polling-and-progress.md).
 * - page-visibility store: "visible" | "hidden" from the Page Visibility API;
 * - modal-open store: true while a Bootstrap modal is shown (body gets .modal-open);
 * - run-enqueued: a DOM CustomEvent('run-enqueued', {detail: {run_id}}) on document
 *   (fired by the page after starting an operation, or by anyone) lands in the
 *   activity-kick store, which starts the activity shell's polling at once.
 * No server round trip: clientside callbacks (console/components/polling.py) combine these
 * with each surface's policy into its Interval's `disabled`.
 * - connection banner: each surface's guard reports whether its last poll found the database
 *   unreachable (a "lost" policy, see polling.register_outage_handler);
 *   window.consoleGuards.connection(surface, lost) shows the shell's #connection-banner while
 *   any surface is lost. The database is one for all surfaces: the first surface that polls
 *   successfully again clears the banner for all, and so does a page that rendered (a new
 *   page's content came from the database; a lost surface of the old page is gone with it).
 *
 * A dcc.Store renders no DOM node, so "are the stores there yet?" is answered by the
 * element that wraps them (#polling-guards); writing to a component Dash has not rendered
 * yet would fail inside dash-renderer. */
(function () {
  "use strict";

  var READY_ID = "polling-guards";
  var BANNER_ID = "connection-banner";
  var PAGE_CONTENT_ID = "_pages_content";  // Dash pages' container: its child is the page
  var pending = {};  // store id -> value not yet written (the shell was not rendered yet)
  var written = { "page-visibility": "visible", "modal-open": false };  // the stores' initial data

  function ready() {
    var dc = window.dash_clientside;
    return !!(dc && typeof dc.set_props === "function" && document.getElementById(READY_ID));
  }

  function write(id, value) {
    if (!ready()) {
      pending[id] = value;
      return false;
    }
    try {
      window.dash_clientside.set_props(id, { data: value });
      written[id] = value;
      delete pending[id];
      return true;
    } catch (e) {
      pending[id] = value;
      return false;
    }
  }

  // Only changes are written: re-writing an equal value would still fire the surfaces'
  // guard callbacks (and a "visible" write would trigger a needless immediate refresh).
  function writeIfChanged(id, value) {
    if (written[id] === value && !(id in pending)) {
      return;
    }
    write(id, value);
  }

  function visibility() {
    return document.visibilityState === "hidden" ? "hidden" : "visible";
  }

  function modalOpen() {
    return document.body.classList.contains("modal-open") || document.querySelector(".modal.show") !== null;
  }

  function syncAll() {
    writeIfChanged("page-visibility", visibility());
    writeIfChanged("modal-open", modalOpen());
    Object.keys(pending).forEach(function (id) {
      write(id, pending[id]);
    });
  }

  var lostSurfaces = {};
  var bannerShown = false;

  function connection(surface, lost) {
    if (lost) {
      lostSurfaces[surface] = true;
    } else if (lostSurfaces[surface]) {
      lostSurfaces = {};  // one surface got through: the database is back for every surface
    }
    showBanner(Object.keys(lostSurfaces).length > 0);
  }

  function pageRendered() {
    if (Object.keys(lostSurfaces).length > 0) {
      lostSurfaces = {};
      showBanner(false);
    }
  }

  function showBanner(show) {
    if (show === bannerShown) {
      return;
    }
    var dc = window.dash_clientside;
    if (dc && typeof dc.set_props === "function" && document.getElementById(BANNER_ID)) {
      try {
        dc.set_props(BANNER_ID, { hidden: !show });
        bannerShown = show;
      } catch (e) {
        // The shell is not rendered (yet): the next guard run tries again.
      }
    }
  }

  window.consoleGuards = { connection: connection };

  document.addEventListener("visibilitychange", function () {
    writeIfChanged("page-visibility", visibility());
  });

  document.addEventListener("run-enqueued", function (event) {
    var detail = (event && event.detail) || {};
    var runId = detail.run_id;
    // Each event is a new value (`at`), so the same run enqueued twice still refreshes.
    write("activity-kick", { run_id: runId === undefined ? null : runId, at: Date.now() });
  });

  function start() {
    new MutationObserver(function () {
      writeIfChanged("modal-open", modalOpen());
    }).observe(document.body, { attributes: true, attributeFilter: ["class"] });
    // Until Dash has rendered the frame, writes wait in `pending`; flush them once it has.
    var timer = setInterval(function () {
      if (ready()) {
        clearInterval(timer);
        syncAll();
        var content = document.getElementById(PAGE_CONTENT_ID);
        if (content) {
          // Only the page's own root changing (a navigation rendered), not polls deep inside it.
          new MutationObserver(pageRendered).observe(content, { childList: true });
        }
      }
    }, 50);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
