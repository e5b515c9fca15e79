/* Keyboard support every page shares (docs/accessibility.md).
 *
 * - Modals trap focus both ways. react-bootstrap's enforceFocus only pulls focus back to the
 *   dialog *container* once it has left: Tab escaped to the page once per cycle and Shift+Tab
 *   stuck on the container (Cancel and Generate were never reached backwards). Here Tab on the
 *   last control wraps to the first and Shift+Tab on the first (or on the container) to the last.
 * - A modal that opens focuses its first control: the first one in its body (a form's first
 *   field), else its footer's first button (Cancel in a confirm dialog), else the close button.
 * - A modal that closes returns focus to the control that opened it, even when that control was
 *   re-rendered meanwhile (it is found again by its id).
 * - A grid cell holding one link (the operations list's run and action cells) follows it on Enter.
 * - Focus survives a re-render: when the focused element is replaced (a poll re-renders the run
 *   viewer, a filter change rebuilds the operations list from its URL) and focus fell to <body>,
 *   the element with the same id in the new DOM takes it back.
 */
(function () {
  "use strict";

  var FOCUSABLE = [
    "a[href]",
    "button:not([disabled])",
    "input:not([disabled]):not([type=hidden])",
    "select:not([disabled])",
    "textarea:not([disabled])",
    "[tabindex]:not([tabindex='-1'])",
  ].join(",");

  function visible(el) {
    return !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  }

  function focusables(root) {
    return Array.prototype.filter.call(root.querySelectorAll(FOCUSABLE), visible);
  }

  function openModal() {
    var shown = document.querySelectorAll(".modal.show");
    return shown.length ? shown[shown.length - 1] : null;
  }

  function firstControl(modal) {
    var parts = [".modal-body", ".modal-footer"];
    for (var i = 0; i < parts.length; i++) {
      var part = modal.querySelector(parts[i]);
      var found = part ? focusables(part) : [];
      if (found.length) {
        return found[0];
      }
    }
    var any = focusables(modal);
    return any.length ? any[0] : null;
  }

  // ---- focus trap (capture phase: before react-bootstrap's own handlers)
  document.addEventListener(
    "keydown",
    function (event) {
      if (event.key !== "Tab") {
        return;
      }
      var modal = openModal();
      if (!modal) {
        return;
      }
      var items = focusables(modal);
      if (!items.length) {
        event.preventDefault();
        return;
      }
      var first = items[0];
      var last = items[items.length - 1];
      var active = document.activeElement;
      var inside = modal.contains(active) && items.indexOf(active) !== -1;
      if (event.shiftKey && (!inside || active === first)) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && (!inside || active === last)) {
        event.preventDefault();
        first.focus();
      }
    },
    true
  );

  // ---- links inside grid cells
  // AG Grid makes each cell one focus stop (arrow keys move between cells), so a link drawn in a
  // cell (the operations list's "#12" and "Cancel…") is never a Tab stop: Enter on a focused cell
  // holding exactly one link follows it, as a click would.
  document.addEventListener(
    "keydown",
    function (event) {
      if (event.key !== "Enter" || event.defaultPrevented) {
        return;
      }
      var cell = event.target;
      if (!cell || !cell.classList || !cell.classList.contains("ag-cell")) {
        return;
      }
      var links = cell.querySelectorAll("a[href]");
      if (links.length === 1) {
        event.preventDefault();
        links[0].click();
      }
    },
    true
  );

  // ---- focus on open, back to the opener on close
  var opener = null; // {el, id} of the control focused when the modal opened
  var wasOpen = false;
  var lastFocused = null; // the element focused last, outside any modal

  document.addEventListener(
    "focusin",
    function (event) {
      var el = event.target;
      if (el && el !== document.body && !(el.closest && el.closest(".modal"))) {
        lastFocused = el;
      }
    },
    true
  );

  function onModalChange() {
    var modal = openModal();
    if (modal && !wasOpen) {
      wasOpen = true;
      var from = lastFocused;
      opener = from ? { el: from, id: from.id || null } : null;
      // After react-bootstrap's own autofocus on the container (same task) and the fade-in.
      setTimeout(function () {
        var current = openModal();
        if (current && (!current.contains(document.activeElement) || document.activeElement === current)) {
          var target = firstControl(current);
          if (target) {
            target.focus();
          }
        }
      }, 0);
    } else if (!modal && wasOpen) {
      wasOpen = false;
      var back = opener;
      opener = null;
      // react-bootstrap restores focus itself when it can; when the opener was re-rendered (or
      // removed and drawn again), find it again by id.
      setTimeout(function () {
        if (!back || openModal()) {
          return;
        }
        var active = document.activeElement;
        if (active && active !== document.body && active.isConnected) {
          return;
        }
        var target = back.el && back.el.isConnected ? back.el : back.id ? document.getElementById(back.id) : null;
        if (target) {
          target.focus();
        }
      }, 50);
    }
  }

  // ---- focus survives a re-render
  function restoreReplacedFocus() {
    var active = document.activeElement;
    if (!lastFocused || lastFocused.isConnected || !lastFocused.id || openModal()) {
      return;
    }
    if (active && active !== document.body) {
      return;
    }
    var again = document.getElementById(lastFocused.id);
    if (again && visible(again)) {
      again.focus({ preventScroll: true });
    }
  }

  function start() {
    new MutationObserver(function () {
      onModalChange();
      restoreReplacedFocus();
    }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["class"] });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
