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
  form.addEventListener("click", function (event) {
    const toggle = event.target.closest(".op-toggle");
    if (!toggle) return;
    event.preventDefault();
    const card = toggle.closest(".op-card");
    const collapsed = card.classList.toggle("collapsed");
    card.querySelector(".collapsed-flag").value = collapsed ? "1" : "0";
    toggle.setAttribute("aria-expanded", collapsed ? "false" : "true");
    toggle.textContent = collapsed ? "▸" : "▾";
  });

  // ---- live updates never replace what has focus, nor JSON the user is still fixing ----
  document.body.addEventListener("htmx:oobBeforeSwap", function (event) {
    const target = event.detail.target;
    if (!target) return;
    if (target.id === "json-sync") {
      const status = document.getElementById("json-status");
      const editor = document.getElementById("json-editor");
      if ((status && status.dataset.dirty === "1") || document.activeElement === editor) event.preventDefault();
      return;
    }
    if (target.id === "form-pane") return;
    if (target.matches(".deps, datalist") && target.contains(document.activeElement)) event.preventDefault();
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
  });

  // ---- after a structural change, focus what the button made ----
  document.body.addEventListener("htmx:afterSwap", function (event) {
    const pane = document.getElementById("form-pane");
    if (!pane || (event.detail.target !== pane && event.detail.elt !== pane && !pane.contains(event.detail.elt))) return;
    const id = pane.dataset.focus;
    if (!id) return;
    let el = document.getElementById(id);
    if (el && !el.matches("input, select, textarea, button")) el = el.querySelector("input, select, textarea, button") || el;
    if (el && typeof el.focus === "function") { el.focus({ preventScroll: false }); }
  });

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
})();
