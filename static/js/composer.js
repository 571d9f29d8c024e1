// Composer conveniences. The page works without this file (plain POST round-trips);
// here: tabs, live collapse, drag to reorder, file drop, focus after swaps, and
// guards so a live update never overwrites what the user is typing.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  const handoff = document.getElementById("handoff");
  if (handoff) { handoff.submit(); return; }
  const form = document.getElementById("composer");
  if (!form) return;

  // ---- tabs (without JS every panel is shown) ----
  function showTab(name) {
    form.querySelectorAll("[role=tab]").forEach(function (tab) {
      const on = tab.dataset.tab === name;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      const panel = document.getElementById(tab.getAttribute("aria-controls"));
      if (panel) panel.hidden = !on;
    });
    try { sessionStorage.setItem("composer-tab", name); } catch (e) { /* private mode */ }
  }
  form.addEventListener("click", function (event) {
    const tab = event.target.closest("[role=tab]");
    if (tab) showTab(tab.dataset.tab);
  });
  form.addEventListener("keydown", function (event) {
    const tab = event.target.closest("[role=tab]");
    if (tab && (event.key === "ArrowRight" || event.key === "ArrowLeft")) {
      const tabs = Array.from(form.querySelectorAll("[role=tab]"));
      const next = tabs[(tabs.indexOf(tab) + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      showTab(next.dataset.tab); next.focus(); event.preventDefault();
    }
  });
  let initial = "graph";
  try { initial = sessionStorage.getItem("composer-tab") || "graph"; } catch (e) { /* ignore */ }
  const jsonStatus = document.getElementById("json-status");
  if (jsonStatus && jsonStatus.dataset.dirty === "1") initial = "json";
  showTab(initial);

  // ---- Enter in a one-line field must not submit (the first submit button would fire) ----
  form.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && event.target.matches("input:not([type=submit]):not([type=button]):not([type=file])")) {
      event.preventDefault();
    }
  });

  // ---- collapse / expand without a round-trip ----
  function setCollapsed(card, collapsed) {
    const toggle = card.querySelector(".op-toggle");
    card.classList.toggle("collapsed", collapsed);
    card.querySelector(".collapsed-flag").value = collapsed ? "1" : "0";
    if (toggle) {
      toggle.setAttribute("aria-expanded", collapsed ? "false" : "true");
      toggle.textContent = collapsed ? "▸" : "▾";
    }
  }
  form.addEventListener("click", function (event) {
    const toggle = event.target.closest(".op-toggle");
    if (!toggle) return;
    event.preventDefault();
    const card = toggle.closest(".op-card");
    setCollapsed(card, !card.classList.contains("collapsed"));
  });

  // ==== round-trips never lose typing ====
  // Three kinds of request leave this form:
  //  - "shape": a button that redraws the form pane (add/remove/move, cmd mode, fixes);
  //  - "json": the JSON tab, whose answer may redraw the form pane out of band;
  //  - "live": the debounced check, whose answer only touches messages, summary, graph,
  //    commands, JSON and depends_on boxes, never a field someone types in.
  // A shape or json request snapshots every field when it leaves. When the answer comes, each
  // field changed since then is carried into the new pane (renumbered the way the button
  // renumbers rows and ops) and the cursor stays where the user put it. Fields the button
  // removes or rewrites are locked (inert) while it runs, so nothing can be typed into them.
  // Shape requests run one at a time (their buttons are disabled meanwhile), and a live answer
  // that left before the last shape change is dropped: it describes a form that is gone.
  const FIELDS = "input:not([type=hidden]):not([type=submit]):not([type=button]):not([type=file]):not([type=reset]), textarea, select, input.collapsed-flag";
  const SHAPE_BUTTONS = "[hx-target='#form-pane']";
  const records = new Map(); // xhr -> what the request saw when it left
  let shapeGen = 0; // bumped when a shape request leaves and when its answer lands
  let shapeBusy = null; // the shape/json request in flight, if any
  let answering = null; // the request whose answer is being swapped in right now
  let jsonResend = false; // a JSON edit waited for a shape request; send it once that is done

  function kindOf(elt) {
    if (elt.getAttribute("hx-target") === "#form-pane") return "shape";
    if (elt.id === "json-editor") return "json";
    return "live";
  }
  function isToggle(el) { return el.type === "checkbox" || el.type === "radio"; }
  function readField(el) { return isToggle(el) ? (el.checked ? "on" : "") : el.value; }
  function writeField(el, value) {
    if (isToggle(el)) el.checked = value === "on";
    else el.value = value;
    if (el.matches("textarea.grow")) grow(el);
    if (el.matches(".collapsed-flag")) setCollapsed(el.closest(".op-card"), value === "1");
  }
  // A field is known by its name and its place among fields of that name (rows, arguments),
  // a depends_on box by its name and value, a <details> by its data-key.
  function fieldsOf(root) {
    const seen = new Map();
    const out = [];
    root.querySelectorAll(FIELDS).forEach(function (el) {
      if (!el.name) return;
      let key;
      if (el.type === "checkbox" && el.hasAttribute("value")) key = el.name + "=" + el.value;
      else {
        const n = seen.get(el.name) || 0;
        seen.set(el.name, n + 1);
        key = el.name + "#" + n;
      }
      out.push({ el: el, key: key });
    });
    return out;
  }
  function snapshot(pane) {
    const values = new Map();
    fieldsOf(pane).forEach(function (f) { values.set(f.key, readField(f.el)); });
    return values;
  }

  // ---- where each field goes when a button changes the form's shape (mirrors forms.apply_action) ----
  function same(key) { return key; }
  function escapeRe(text) { return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }
  function renumberOps(move) {
    return function (key) {
      const m = /^ops-(\d+)-/.exec(key);
      if (!m) return key;
      const to = move(Number(m[1]));
      return to === null ? null : "ops-" + to + "-" + key.slice(m[0].length);
    };
  }
  function dropRow(path, k) {
    const indexed = new RegExp("^" + escapeRe(path) + "-(\\d+)-"); // ports, health checks
    const ordinal = new RegExp("^" + escapeRe(path) + "-[a-z_]+#(\\d+)$"); // table rows, arguments, mounts
    return function (key) {
      let m = indexed.exec(key);
      if (m) {
        const i = Number(m[1]);
        if (i === k) return null;
        return i > k ? path + "-" + (i - 1) + "-" + key.slice(m[0].length) : key;
      }
      m = ordinal.exec(key);
      if (m) {
        const i = Number(m[1]);
        if (i === k) return null;
        return i > k ? key.slice(0, key.length - m[1].length) + (i - 1) : key;
      }
      return key;
    };
  }
  function rewritten(path) {
    return function (key) {
      const name = key.split(/[#=@]/, 1)[0];
      return name === path || name === path + "-item" ? null : key;
    };
  }
  function mapperFor(action, opCount) {
    const parts = action.split(":");
    const n = Number(parts[1]);
    switch (parts[0]) {
      case "op-remove": return renumberOps(function (i) { return i === n ? null : (i > n ? i - 1 : i); });
      case "op-dup": return renumberOps(function (i) { return i > n ? i + 1 : i; });
      case "op-up":
        return n > 0 ? renumberOps(function (i) { return i === n ? n - 1 : (i === n - 1 ? n : i); }) : same;
      case "op-down":
        return n + 1 < opCount ? renumberOps(function (i) { return i === n ? n + 1 : (i === n + 1 ? n : i); }) : same;
      case "op-move": {
        const to = Number(parts[2]);
        return renumberOps(function (i) {
          if (i === n) return to;
          if (n < to && i > n && i <= to) return i - 1;
          if (to < n && i >= to && i < n) return i + 1;
          return i;
        });
      }
      case "del": return dropRow(parts.slice(1, -1).join(":"), Number(parts[parts.length - 1]));
      case "cmd-mode": return rewritten(parts.slice(1, -1).join(":"));
      case "fix": return rewritten(parts.slice(1).join(":"));
      default: return same; // add, add-op, refresh: nothing moves
    }
  }

  // ---- while a shape request runs ----
  function lock(rec) {
    rec.locked = [];
    fieldsOf(rec.pane).forEach(function (f) {
      if (rec.mapper(f.key) === null && !f.el.inert) { f.el.inert = true; rec.locked.push(f.el); }
    });
    rec.pane.querySelectorAll(SHAPE_BUTTONS).forEach(function (b) {
      if (!b.disabled) { b.disabled = true; rec.locked.push(b); }
    });
    rec.pane.setAttribute("aria-busy", "true");
  }
  function unlock(rec) { // the answer never replaced the pane (an error): give it back as it was
    rec.locked.forEach(function (el) { if (el.matches("button")) el.disabled = false; else el.inert = false; });
    rec.pane.removeAttribute("aria-busy");
  }

  // ---- after the answer: carry over what was typed meanwhile, keep the cursor ----
  function focusMade(pane) {
    const id = pane.dataset.focus;
    let el = id ? document.getElementById(id) : null;
    if (el && !el.matches("input, select, textarea, button")) el = el.querySelector("input, select, textarea, button") || el;
    if (el && typeof el.focus === "function") el.focus();
  }
  function carryOver(rec, pane) {
    const fresh = new Map(fieldsOf(pane).map(function (f) { return [f.key, f.el]; }));
    let changed = null;
    rec.dirty.forEach(function (d) {
      const key = rec.mapper(d.key);
      const el = key && fresh.get(key);
      if (el && readField(el) !== d.value) { writeField(el, d.value); changed = el; }
    });
    rec.open.forEach(function (open, key) {
      const to = rec.mapper(key);
      const el = to && pane.querySelector("details[data-key='" + CSS.escape(to.slice(0, -5)) + "']");
      if (el) el.open = open;
    });
    const f = rec.focus;
    if (f && f.key) {
      const key = rec.mapper(f.key);
      const el = key && fresh.get(key);
      if (el) {
        el.focus({ preventScroll: true });
        try { if (f.start !== null) el.setSelectionRange(f.start, f.end); } catch (e) { /* not a text field */ }
      } else if (rec.kind === "shape") focusMade(pane);
    } else if (!f && rec.kind === "shape") focusMade(pane); // the cursor was on the button: go to what it made
    // the carried values are newer than the answer's checks: check them now
    if (changed) changed.dispatchEvent(new Event("change", { bubbles: true }));
  }

  document.body.addEventListener("htmx:beforeRequest", function (event) {
    const elt = event.detail.elt;
    const xhr = event.detail.xhr;
    if (!elt || !form.contains(elt) || !xhr) return;
    const kind = kindOf(elt);
    if (kind !== "live" && shapeBusy) {
      event.preventDefault(); // one shape change at a time; a JSON edit is sent after it
      if (kind === "json") jsonResend = true;
      return;
    }
    const pane = document.getElementById("form-pane");
    const editor = document.getElementById("json-editor");
    const rec = { kind: kind, gen: shapeGen, pane: pane, editor: editor ? editor.value : null, locked: [] };
    if (kind !== "live" && pane) {
      const count = pane.querySelector("[name=ops-count]");
      rec.snap = snapshot(pane);
      rec.mapper = kind === "shape" ? mapperFor(elt.value || "", count ? Number(count.value) : 0) : same;
      lock(rec);
      shapeBusy = rec;
      shapeGen += 1;
    }
    records.set(xhr, rec);
    form.dataset.settled = "0";
    xhr.addEventListener("loadend", function () { finished(xhr, rec); }); // load, error, abort or timeout
  });

  function finished(xhr, rec) {
    records.delete(xhr);
    if (answering === rec) answering = null;
    if (shapeBusy === rec) {
      shapeBusy = null;
      if (rec.pane && rec.pane.isConnected) unlock(rec);
      const editor = document.getElementById("json-editor");
      if (jsonResend && editor && window.htmx) { jsonResend = false; window.htmx.trigger(editor, "composer:resend"); }
    }
    setTimeout(checkSettled, 0);
  }

  document.body.addEventListener("htmx:beforeSwap", function (event) {
    const rec = records.get(event.detail.xhr);
    if (!rec) return;
    if (rec.kind === "live" && rec.gen !== shapeGen) { event.detail.shouldSwap = false; return; }
    answering = rec;
    if (rec.kind === "live" || !event.detail.shouldSwap || !rec.pane) return;
    const known = fieldsOf(rec.pane);
    rec.dirty = known.filter(function (f) { return readField(f.el) !== rec.snap.get(f.key); })
      .map(function (f) { return { key: f.key, value: readField(f.el) }; });
    rec.open = new Map();
    rec.pane.querySelectorAll("details[data-key]").forEach(function (d) { rec.open.set(d.dataset.key + "@open", d.open); });
    const active = document.activeElement;
    rec.focus = null;
    if (active && active !== document.body && !rec.pane.contains(active)) rec.focus = { outside: true };
    known.forEach(function (f) {
      if (f.el !== active) return;
      let start = null;
      let end = null;
      try { start = f.el.selectionStart; end = f.el.selectionEnd; } catch (e) { /* not a text field */ }
      rec.focus = { key: f.key, start: start, end: end };
    });
  });

  document.body.addEventListener("htmx:afterSwap", function (event) {
    const rec = records.get(event.detail.xhr);
    const pane = document.getElementById("form-pane");
    if (!rec || rec.kind === "live" || rec.carried || !pane || pane === rec.pane || !rec.dirty) return;
    rec.carried = true;
    shapeGen += 1;
    // bind the new pane's buttons and triggers now, not at settle: a click in between would submit the page
    if (window.htmx) window.htmx.process(pane);
    carryOver(rec, pane);
  });

  // ---- live answers never replace what has focus, nor what changed since they left ----
  document.body.addEventListener("htmx:oobBeforeSwap", function (event) {
    const target = event.detail.target;
    if (!target || target.id === "form-pane") return;
    if (target.id === "json-sync") {
      const status = document.getElementById("json-status");
      const editor = document.getElementById("json-editor");
      const editedSince = answering && editor && answering.editor !== null && editor.value !== answering.editor;
      if ((status && status.dataset.dirty === "1") || document.activeElement === editor || editedSince) event.preventDefault();
      return;
    }
    if (target.matches(".deps, datalist") && target.contains(document.activeElement)) { event.preventDefault(); return; }
    // depends_on boxes: the page's own state is newer than the answer's
    const live = new Map(fieldsOf(target).map(function (f) { return [f.key, f.el]; }));
    fieldsOf(event.detail.fragment).forEach(function (f) {
      const now = live.get(f.key);
      if (now) writeField(f.el, readField(now));
    });
  });
  document.body.addEventListener("htmx:afterSettle", function () {
    const dot = document.querySelector("#tab-json .dot-error");
    const status = document.getElementById("json-status");
    const tab = document.getElementById("tab-json");
    if (tab && status) {
      const dirty = status.dataset.dirty === "1";
      if (dirty && !dot) tab.insertAdjacentHTML("beforeend", ' <span class="dot-error" title="has an error">●</span>');
      if (!dirty && dot) dot.remove();
    }
    growAll();
    setTimeout(checkSettled, 0);
  });

  // ---- refused or failed requests: say so in the alert banner under the toolbar ----
  // htmx swaps nothing for a 4xx/5xx answer or a request that never got one, so the form stays as
  // typed (and unlock() above gives it back); without this banner the user would see nothing at all.
  // A refusal's own words come as text/plain (composer_views._refused); anything else gets a
  // generic message. The banner goes on the next successful action, or when dismissed.
  const alertBox = document.getElementById("composer-alert");
  const KEPT = " Nothing was changed; your edits are still here.";
  let alertFrom = null; // the kind of request that raised the banner
  let alertElt = null; // the element that sent it, to give focus back to
  let dismissed = null; // words the user dismissed: live checks do not raise them again until one passes

  function refusalText(xhr) {
    const type = (xhr.getResponseHeader("Content-Type") || "").toLowerCase();
    const text = (xhr.responseText || "").trim();
    if (xhr.status >= 400 && xhr.status < 500 && type.startsWith("text/plain") && text) return text.slice(0, 600);
    if (xhr.status === 413) return "That was more than the server accepts in one go." + KEPT;
    if (xhr.status >= 500) return "Something went wrong on the server (HTTP " + xhr.status + ")." + KEPT + " Try again in a moment.";
    return "The server did not accept that (HTTP " + xhr.status + ")." + KEPT;
  }
  function showAlert(text, kind, elt) {
    if (!alertBox) return;
    if (kind === "live" && text === dismissed) return;
    alertFrom = kind;
    alertElt = elt;
    const shown = alertBox.querySelector(".composer-alert-text");
    if (shown && shown.textContent === text) return; // the same words again (a live check each keystroke): announce once
    const box = document.createElement("div");
    box.className = "flash flash-error composer-alert-box";
    const words = document.createElement("span");
    words.className = "composer-alert-text";
    words.textContent = text; // text, never markup
    const close = document.createElement("button");
    close.type = "button";
    close.className = "btn btn-small composer-alert-close";
    close.textContent = "Dismiss";
    close.setAttribute("aria-label", "Dismiss this message");
    box.append(words, close);
    alertBox.replaceChildren(box);
  }
  function clearAlert() {
    if (alertBox) alertBox.replaceChildren();
    alertFrom = null;
    alertElt = null;
  }
  function failed(event, text) {
    const rec = records.get(event.detail.xhr); // only this form's requests
    const elt = event.detail.elt;
    if (!rec || !elt) return;
    showAlert(text, rec.kind, elt);
    // the button was disabled while its request ran, which drops the focus: give it back
    if (rec.kind === "shape") setTimeout(function () {
      const active = document.activeElement;
      if (elt.isConnected && (!active || active === document.body)) elt.focus({ preventScroll: true });
    }, 0);
  }
  document.body.addEventListener("htmx:responseError", function (event) { failed(event, refusalText(event.detail.xhr)); });
  function unreachable(event) {
    failed(event, "Could not reach the server." + KEPT + " Check the connection and try again.");
  }
  document.body.addEventListener("htmx:sendError", unreachable);
  document.body.addEventListener("htmx:timeout", unreachable);
  document.body.addEventListener("htmx:afterRequest", function (event) {
    // by records, not by place: a successful button's element has just been swapped out of the page
    const rec = records.get(event.detail.xhr);
    if (!rec || event.detail.successful !== true) return;
    if (rec.kind === "live") dismissed = null;
    // A passing live check does not answer a refused button (typing must not hide "at most 200 ops");
    // a successful button or JSON sync answers everything.
    if (alertFrom !== null && (rec.kind !== "live" || alertFrom === "live")) clearAlert();
  });
  if (alertBox) alertBox.addEventListener("click", function (event) {
    if (!event.target.closest(".composer-alert-close")) return;
    const back = alertElt;
    const words = alertBox.querySelector(".composer-alert-text");
    dismissed = words ? words.textContent : null;
    clearAlert();
    if (back && back.isConnected && !back.disabled) back.focus({ preventScroll: true });
  });

  // ---- "settled": nothing in flight and no debounced check pending (tests and tools wait on it) ----
  const QUIET_MS = 450; // longer than the longest hx-trigger delay (400 ms, the JSON tab)
  let lastInput = 0;
  let settleTimer = null;
  function checkSettled() {
    clearTimeout(settleTimer);
    if (records.size || document.querySelector(".htmx-settling, .htmx-swapping")) { form.dataset.settled = "0"; return; }
    const quiet = Date.now() - lastInput;
    if (quiet < QUIET_MS) { form.dataset.settled = "0"; settleTimer = setTimeout(checkSettled, QUIET_MS - quiet); return; }
    form.dataset.settled = "1";
  }
  function typed() {
    lastInput = Date.now();
    form.dataset.settled = "0";
    clearTimeout(settleTimer);
    settleTimer = setTimeout(checkSettled, QUIET_MS);
  }
  form.addEventListener("input", typed, true);
  form.addEventListener("change", typed, true);

  // ---- drag to reorder ops (buttons do the same without a mouse) ----
  let dragFrom = null;
  form.addEventListener("mousedown", function (event) {
    const handle = event.target.closest(".drag-handle");
    const card = handle && handle.closest(".op-card");
    if (card) card.setAttribute("draggable", "true");
  });
  form.addEventListener("dragstart", function (event) {
    const card = event.target.closest && event.target.closest(".op-card[draggable=true]");
    if (!card) return;
    dragFrom = Number(card.dataset.index);
    card.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", String(dragFrom));
  });
  form.addEventListener("dragover", function (event) {
    if (dragFrom === null) return;
    const card = event.target.closest(".op-card");
    if (!card) return;
    event.preventDefault();
    form.querySelectorAll(".drop-before, .drop-after").forEach(function (c) { c.classList.remove("drop-before", "drop-after"); });
    const rect = card.getBoundingClientRect();
    card.classList.add(event.clientY < rect.top + rect.height / 2 ? "drop-before" : "drop-after");
  });
  form.addEventListener("drop", function (event) {
    if (dragFrom === null) return;
    const card = event.target.closest(".op-card");
    if (!card) return;
    event.preventDefault();
    let to = Number(card.dataset.index);
    if (card.classList.contains("drop-after")) to += 1;
    if (to > dragFrom) to -= 1;
    const from = dragFrom;
    dragFrom = null;
    if (to === from) return;
    const button = document.getElementById("move-op");
    button.value = "op-move:" + from + ":" + to;
    button.click();
  });
  form.addEventListener("dragend", function () {
    dragFrom = null;
    form.querySelectorAll(".op-card").forEach(function (c) {
      c.classList.remove("dragging", "drop-before", "drop-after"); c.removeAttribute("draggable");
    });
  });

  // ---- import: picking a file imports it; so does dropping one anywhere on the page ----
  const fileInput = document.getElementById("import-file");
  const importButton = document.getElementById("import-btn");
  if (fileInput && importButton) {
    fileInput.addEventListener("change", function () { if (fileInput.files.length) importButton.click(); });
    document.addEventListener("dragover", function (event) {
      if (dragFrom !== null || !event.dataTransfer || !Array.from(event.dataTransfer.types).includes("Files")) return;
      event.preventDefault();
      document.body.classList.add("file-over");
    });
    document.addEventListener("dragleave", function (event) {
      if (!event.relatedTarget) document.body.classList.remove("file-over");
    });
    document.addEventListener("drop", function (event) {
      document.body.classList.remove("file-over");
      if (dragFrom !== null || !event.dataTransfer || !event.dataTransfer.files.length) return;
      event.preventDefault();
      fileInput.files = event.dataTransfer.files;
      importButton.click();
    });
  }

  // ---- timeout: minutes typed, seconds shown at once ----
  form.addEventListener("input", function (event) {
    const input = event.target.closest("[data-seconds-target]");
    if (!input) return;
    const out = document.querySelector(input.dataset.secondsTarget);
    const minutes = input.value.trim();
    if (!out) return;
    if (/^\d+$/.test(minutes) && Number(minutes) > 0) out.textContent = "= " + (Number(minutes) * 60).toLocaleString("en-US") + " seconds (the chain stores seconds)";
    else if (minutes === "") out.textContent = "Empty: the market's own timeout.";
    else out.textContent = "Whole minutes, please.";
  });

  // ---- one-line textareas grow with their content ----
  function grow(el) { el.style.height = "auto"; el.style.height = el.scrollHeight + 2 + "px"; }
  function growAll() { form.querySelectorAll("textarea.grow").forEach(grow); }
  form.addEventListener("input", function (event) { if (event.target.matches("textarea.grow")) grow(event.target); });
  growAll();
  checkSettled();
})();
