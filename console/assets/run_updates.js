/* One truth per page (docs/polling-and-progress.md, "One truth per page").
 *
 * Every surface that shows runs marks itself in the DOM:
 *   - its container: data-run-surface="<name>" and data-run-kick="<store id>" (the dcc.Store
 *     that is an Input of the surface's own refresh callback);
 *   - each run it shows: an element with data-run-id and data-run-status, the run-level status
 *     (queued | running | completed; a pack's generating is running, ready/failed/expired completed);
 *   - a surface listing *all* active runs in scope (the activity shell when nothing is hidden
 *     under "and N more") also carries [data-active-count] equal to its items: a run that
 *     leaves such a list is no longer active.
 * A terminal toast (#toast-area [data-toast-kind=terminal][data-run-id]) says its run completed.
 *
 * This module watches those attributes. When a surface shows a run further along than the page
 * knew (queued < running < completed), it dispatches
 *   CustomEvent('run-updated', {detail: {run_id, status}}) on document
 * once per run and status. On that event (from here or from anyone) every surface that shows the
 * run at an earlier status gets its kick store written, and its refresh callback runs at once.
 * Kicks wait while the tab is hidden or a modal is open (the polling contract: no requests
 * then) and go out when the page is visible and unblocked again.
 *
 * Terminal toasts are held (rendered with data-held="true" and .d-none) until every surface
 * showing their run says completed, at most HOLD_MAX_MS: the page never says "succeeded" in a
 * toast while a card still says "Generation in progress". */
(function () {
  "use strict";

  var RANK = { queued: 0, running: 1, completed: 2 };
  var HOLD_MAX_MS = 3000;
  var known = {};  // run id -> highest rank any surface of this page has shown
  var dispatched = {};  // run id -> highest rank announced with run-updated
  var lastLists = {};  // surface name -> {run id: rank} of its previous scan (complete lists only)
  var deferred = {};  // kick store id -> {run_id, status} waiting for a visible, unblocked page
  var heldSince = {};  // toast element -> first time it was seen held
  var scheduled = false;
  var page = null;  // the path these facts belong to: a navigation starts afresh

  function rank(status) {
    return Object.prototype.hasOwnProperty.call(RANK, status) ? RANK[status] : -1;
  }

  function statusOf(r) {
    for (var s in RANK) {
      if (RANK[s] === r) { return s; }
    }
    return null;
  }

  function blocked() {
    return document.visibilityState === "hidden" ||
      document.body.classList.contains("modal-open") || document.querySelector(".modal.show") !== null;
  }

  function setProps(id, props) {
    var dc = window.dash_clientside;
    if (!(dc && typeof dc.set_props === "function")) { return false; }
    try {
      dc.set_props(id, props);
      return true;
    } catch (e) {
      return false;
    }
  }

  /* Each surface on the page: {name, kick, runs: {id: rank}}. */
  function surfaces() {
    var out = [];
    document.querySelectorAll("[data-run-surface]").forEach(function (el) {
      var runs = {};
      el.querySelectorAll("[data-run-id][data-run-status]").forEach(function (item) {
        if (item.closest("[data-run-surface]") !== el) { return; }  // a nested surface's own
        var r = rank(item.getAttribute("data-run-status"));
        var id = item.getAttribute("data-run-id");
        if (id && r >= 0) { runs[id] = Math.max(r, runs[id] === undefined ? -1 : runs[id]); }
      });
      var name = el.getAttribute("data-run-surface");
      var counter = el.querySelector("[data-active-count]");
      if (counter && counter.closest("[data-run-surface]") === el) {
        var complete = parseInt(counter.getAttribute("data-active-count"), 10) === Object.keys(runs).length;
        var before = lastLists[name] || {};
        lastLists[name] = runs;
        if (complete) {
          // Gone from a list of every active run: no longer active.
          Object.keys(before).forEach(function (id) {
            if (runs[id] === undefined) { note(id, RANK.completed); }
          });
        }
      }
      out.push({ name: name, kick: el.getAttribute("data-run-kick"), runs: runs });
    });
    return out;
  }

  function note(id, r) {
    if (known[id] === undefined || r > known[id]) { known[id] = r; }
  }

  function scan() {
    scheduled = false;
    if (page !== window.location.pathname) {
      page = window.location.pathname;
      known = {};
      dispatched = {};
      lastLists = {};
    }
    var list = surfaces();
    list.forEach(function (s) {
      Object.keys(s.runs).forEach(function (id) { note(id, s.runs[id]); });
    });
    var toasts = document.querySelectorAll("#toast-area [data-toast-kind=terminal][data-run-id]");
    toasts.forEach(function (t) { note(t.getAttribute("data-run-id"), RANK.completed); });
    // Announce what is further along than any announcement so far, when some surface lags.
    Object.keys(known).forEach(function (id) {
      var r = known[id];
      if (dispatched[id] !== undefined && dispatched[id] >= r) { return; }
      var lagging = list.some(function (s) { return s.runs[id] !== undefined && s.runs[id] < r; });
      if (lagging) {
        dispatched[id] = r;
        document.dispatchEvent(new CustomEvent("run-updated", { detail: { run_id: Number(id), status: statusOf(r) } }));
      }
    });
    releaseToasts(list, toasts);
  }

  function releaseToasts(list, toasts) {
    var now = Date.now();
    toasts.forEach(function (t) {
      if (t.getAttribute("data-held") !== "true") { return; }
      if (!heldSince[t.id]) { heldSince[t.id] = now; }
      var id = t.getAttribute("data-run-id");
      var agree = list.every(function (s) { return s.runs[id] === undefined || s.runs[id] === RANK.completed; });
      if (agree || now - heldSince[t.id] >= HOLD_MAX_MS) {
        if (!setProps(t.id, { className: "console-toast", "data-held": "false" })) {
          t.classList.remove("d-none");
          t.setAttribute("data-held", "false");
        }
      } else {
        setTimeout(schedule, 250);  // the fallback must fire even if nothing else changes
      }
    });
  }

  function schedule() {
    if (!scheduled) {
      scheduled = true;
      setTimeout(scan, 0);
    }
  }

  function kick(store, detail) {
    if (blocked()) {
      deferred[store] = detail;
      return;
    }
    delete deferred[store];
    setProps(store, { data: { run_id: detail.run_id, status: detail.status, at: Date.now() } });
  }

  function flush() {
    if (blocked()) { return; }
    Object.keys(deferred).forEach(function (store) { kick(store, deferred[store]); });
  }

  document.addEventListener("run-updated", function (event) {
    var detail = (event && event.detail) || {};
    var id = detail.run_id === undefined || detail.run_id === null ? null : String(detail.run_id);
    var r = rank(detail.status);
    if (id === null || r < 0) { return; }
    note(id, r);
    if (dispatched[id] === undefined || dispatched[id] < r) { dispatched[id] = r; }
    surfaces().forEach(function (s) {
      if (s.kick && s.runs[id] !== undefined && s.runs[id] < r) {
        kick(s.kick, { run_id: Number(id), status: detail.status });
      }
    });
  });

  document.addEventListener("visibilitychange", flush);

  function start() {
    new MutationObserver(schedule).observe(document.body, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ["data-run-status", "data-active-count", "data-held"],
    });
    new MutationObserver(flush).observe(document.body, { attributes: true, attributeFilter: ["class"] });
    schedule();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
