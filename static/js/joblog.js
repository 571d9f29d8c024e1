// The live job page: streams lines over a websocket, resumes by sequence number,
// and adds search, toggles, follow mode, range links and keyboard navigation.
// Without it the page still shows every line loaded at render time.
(function () {
  "use strict";
  const root = document.getElementById("joblog");
  if (!root) return;
  document.querySelectorAll(".js-only").forEach(function (el) { el.hidden = false; });

  const JOB_SECTION = root.dataset.jobSection || "_job";
  const MAX_DOM_LINES = 20000;
  const STALL_SECONDS = 60;
  const stepsBox = document.getElementById("steps");
  const counts = {};
  let lastSeq = parseInt(root.dataset.after, 10) || 0;

  function sectionEl(key) { return document.getElementById("step-" + key); }
  function logEl(key) { return document.getElementById("log-" + key); }
  document.querySelectorAll("details.step").forEach(function (d) {
    counts[d.dataset.section] = parseInt(d.dataset.count, 10) || 0;
  });

  // ---- ANSI → DOM spans (mirrors jobs/ansi.py; text only ever set through textContent) ----
  const ESC = /\x1b\[([0-?]*)[ -\/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?/g;
  const CTRL = /[\x00-\x08\x0b-\x1f\x7f]/g;
  const FLAG_ON = { 1: "bold", 2: "dim", 3: "italic", 4: "underline", 7: "inverse", 9: "strike" };
  const FLAG_OFF = { 22: ["bold", "dim"], 23: ["italic"], 24: ["underline"], 27: ["inverse"], 29: ["strike"] };
  function nearest16(r, g, b) {
    const high = Math.max(r, g, b);
    if (high < 64) return 0;
    if (high - Math.min(r, g, b) < 40) return high < 150 ? 8 : (high < 220 ? 7 : 15);
    const idx = (r >= high * 0.6 ? 1 : 0) | (g >= high * 0.6 ? 2 : 0) | (b >= high * 0.6 ? 4 : 0);
    return idx + (high >= 200 ? 8 : 0);
  }
  function from256(n) {
    if (n < 16) return n;
    if (n >= 232) { const l = 8 + (n - 232) * 10; return nearest16(l, l, l); }
    n -= 16;
    const s = [0, 95, 135, 175, 215, 255];
    return nearest16(s[Math.floor(n / 36)], s[Math.floor(n / 6) % 6], s[n % 6]);
  }
  function applySgr(st, params) {
    const codes = params ? params.split(";").map(function (p) { return /^\d+$/.test(p) ? parseInt(p, 10) : 0; }) : [0];
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i];
      if (c === 0) { st.fg = null; st.bg = null; st.flags = {}; }
      else if (FLAG_ON[c]) st.flags[FLAG_ON[c]] = true;
      else if (FLAG_OFF[c]) FLAG_OFF[c].forEach(function (f) { delete st.flags[f]; });
      else if (c >= 30 && c <= 37) st.fg = c - 30;
      else if (c >= 90 && c <= 97) st.fg = c - 90 + 8;
      else if (c >= 40 && c <= 47) st.bg = c - 40;
      else if (c >= 100 && c <= 107) st.bg = c - 100 + 8;
      else if (c === 39) st.fg = null;
      else if (c === 49) st.bg = null;
      else if (c === 38 || c === 48) {
        let colour = null;
        if (i + 2 < codes.length && codes[i + 1] === 5) { colour = from256(codes[i + 2] % 256); i += 2; }
        else if (i + 4 < codes.length && codes[i + 1] === 2) {
          colour = nearest16(Math.min(codes[i + 2], 255), Math.min(codes[i + 3], 255), Math.min(codes[i + 4], 255)); i += 4;
        }
        if (colour !== null) { if (c === 38) st.fg = colour; else st.bg = colour; }
      }
    }
  }
  function classesOf(st) {
    const names = Object.keys(st.flags).sort().map(function (f) { return "ansi-" + f; });
    if (st.fg !== null) names.push("ansi-fg-" + st.fg);
    if (st.bg !== null) names.push("ansi-bg-" + st.bg);
    return names.join(" ");
  }
  function ansiInto(el, text) {
    text = text.replace(/[\r\n]+$/, "");
    const cr = text.lastIndexOf("\r");
    if (cr >= 0) text = text.slice(cr + 1);
    const st = { fg: null, bg: null, flags: {} };
    let pos = 0;
    function emit(chunk) {
      chunk = chunk.replace(CTRL, "");
      if (!chunk) return;
      const cls = classesOf(st);
      if (!cls) { el.appendChild(document.createTextNode(chunk)); return; }
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = chunk;
      el.appendChild(span);
    }
    ESC.lastIndex = 0;
    let m;
    while ((m = ESC.exec(text)) !== null) {
      if (m[0] === "") { ESC.lastIndex++; continue; }
      if (m.index > pos) emit(text.slice(pos, m.index));
      if (m[2] === "m") applySgr(st, m[1] || "");
      pos = m.index + m[0].length;
    }
    if (pos < text.length) emit(text.slice(pos));
  }

  // ---- preferences and toggles ----
  function pref(name, fallback) { try { const v = localStorage.getItem("joblog." + name); return v === null ? fallback : v === "1"; } catch (e) { return fallback; } }
  function savePref(name, on) { try { localStorage.setItem("joblog." + name, on ? "1" : "0"); } catch (e) { /* private mode */ } }
  const state = { ts: pref("ts", false), wrap: pref("wrap", false), follow: !root.dataset.final || root.dataset.final !== "1" };
  function setToggle(id, on) { const b = document.getElementById(id); if (b) b.setAttribute("aria-pressed", on ? "true" : "false"); }
  function applyTs() { root.classList.toggle("hide-ts", !state.ts); setToggle("toggle-ts", state.ts); }
  function applyWrap() { root.classList.toggle("wrap", state.wrap); setToggle("toggle-wrap", state.wrap); }
  function setFollow(on) { state.follow = on; setToggle("toggle-follow", on); if (on) scrollToBottom(); }
  applyTs(); applyWrap(); setToggle("toggle-follow", state.follow);
  function on(id, ev, fn) { const el = document.getElementById(id); if (el) el.addEventListener(ev, fn); }
  on("toggle-ts", "click", function () { state.ts = !state.ts; savePref("ts", state.ts); applyTs(); });
  on("toggle-wrap", "click", function () { state.wrap = !state.wrap; savePref("wrap", state.wrap); applyWrap(); });
  on("toggle-follow", "click", function () { setFollow(!state.follow); });
  on("expand-all", "click", function () { document.querySelectorAll("details.step").forEach(function (d) { d.open = true; }); });
  on("collapse-all", "click", function () { document.querySelectorAll("details.step").forEach(function (d) { d.open = false; }); });

  // ---- follow mode: stick to the bottom until the user scrolls up; resume at the bottom ----
  let autoScrolling = false;
  let lastY = window.scrollY;
  function atBottom() { return window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 40; }
  function scrollToBottom() {
    autoScrolling = true;
    window.scrollTo(0, document.documentElement.scrollHeight);
    requestAnimationFrame(function () { autoScrolling = false; lastY = window.scrollY; });
  }
  window.addEventListener("scroll", function () {
    if (autoScrolling) return;
    const y = window.scrollY;
    if (y < lastY - 2 && state.follow && !atBottom()) setFollow(false);
    else if (!state.follow && atBottom() && y > lastY) setFollow(true);
    lastY = y;
  }, { passive: true });

  // ---- rendering lines ----
  function formatTs(iso) {
    const d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    return d.toISOString().slice(11, 23);
  }
  function ensureSection(key) {
    let d = sectionEl(key);
    if (d) return d;
    d = document.createElement("details");
    d.className = "step step-log";
    d.id = "step-" + key;
    d.dataset.section = key;
    d.open = true;
    const summary = document.createElement("summary");
    const icon = document.createElement("span"); icon.className = "step-icon";
    const name = document.createElement("span"); name.className = "step-name"; name.textContent = key === JOB_SECTION ? "Job" : key;
    const spacer = document.createElement("span"); spacer.className = "spacer";
    const lines = document.createElement("span"); lines.className = "step-lines muted small";
    const count = document.createElement("span"); count.className = "count"; count.textContent = "0";
    const unit = document.createElement("span"); unit.className = "unit"; unit.textContent = "lines";
    lines.append(count, " ", unit);
    summary.append(icon, name, spacer, lines);
    const log = document.createElement("div"); log.className = "log"; log.id = "log-" + key; log.dataset.section = key;
    d.append(summary, log);
    const empty = stepsBox.querySelector(":scope > .empty");
    if (empty) empty.remove();
    if (key === JOB_SECTION) stepsBox.prepend(d); else stepsBox.append(d);
    counts[key] = counts[key] || 0;
    return d;
  }
  function makeLine(line, key) {
    const n = (counts[key] || 0) + 1;
    counts[key] = n;
    const div = document.createElement("div");
    div.className = "log-line " + (line.stream || "stdout");
    div.id = key + "-L" + n;
    div.dataset.seq = line.seq;
    div.dataset.n = n;
    const a = document.createElement("a"); a.className = "ln"; a.href = "#" + div.id; a.textContent = n;
    const ts = document.createElement("span"); ts.className = "ts"; ts.textContent = formatTs(line.ts);
    const tx = document.createElement("span"); tx.className = "tx"; ansiInto(tx, line.text || "");
    div.append(a, ts, tx);
    return div;
  }
  // The websocket sends each line as a row [seq, step, stream, ts (ms since the epoch), text]
  // (jobs/live.py); the lines endpoint sends objects. Both become the same object here.
  function asLine(l) {
    return Array.isArray(l) ? { seq: l[0], step: l[1], stream: l[2], ts: new Date(l[3]).toISOString(), text: l[4] } : l;
  }
  function appendLines(lines) {
    const groups = new Map();
    lines.forEach(function (raw) {
      const line = asLine(raw);
      if (line.seq <= lastSeq) return;
      lastSeq = line.seq;
      const key = line.step || JOB_SECTION;
      if (!groups.has(key)) groups.set(key, { frag: document.createDocumentFragment(), els: [], ts: null });
      const g = groups.get(key);
      const el = makeLine(line, key);
      g.frag.appendChild(el); g.els.push(el); g.ts = line.ts;
    });
    groups.forEach(function (g, key) {
      const d = ensureSection(key);
      const log = logEl(key);
      const empty = log.querySelector(".log-empty");
      if (empty) empty.remove();
      log.appendChild(g.frag);
      d.dataset.count = counts[key];
      d.dataset.lastTs = g.ts;
      const c = d.querySelector(".step-lines .count");
      if (c) c.textContent = counts[key];
      const u = d.querySelector(".step-lines .unit");
      if (u) u.textContent = counts[key] === 1 ? "line" : "lines";
      trimSection(key, log);
      searchNewLines(g.els);
    });
    if (groups.size) { applyHashSelection(false); if (state.follow) scrollToBottom(); }
  }
  function trimSection(key, log) {
    const lines = log.querySelectorAll(":scope > .log-line");
    const extra = lines.length - MAX_DOM_LINES;
    if (extra <= 0) return;
    for (let i = 0; i < extra; i++) lines[i].remove();
    let link = log.querySelector(":scope > .earlier");
    if (!link) { link = document.createElement("a"); link.className = "earlier"; log.prepend(link); }
    const first = log.querySelector(":scope > .log-line");
    const url = root.dataset.linesUrl + "?section=" + encodeURIComponent(key) + "&before=" + first.dataset.seq;
    link.href = url;
    link.textContent = "Show " + (parseInt(first.dataset.n, 10) - 1) + " earlier lines";
  }

  // ---- steps and status pushed live ----
  function formatDuration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) return seconds + "s";
    const m = Math.floor(seconds / 60), s = seconds % 60;
    if (m < 60) return m + "m " + s + "s";
    return Math.floor(m / 60) + "h " + (m % 60) + "m";
  }
  function updateStep(step) {
    const d = ensureSection(step.op_id);
    ["pending", "running", "success", "failed", "stopped", "skipped", "log"].forEach(function (s) { d.classList.remove("step-" + s); });
    d.classList.add("step-" + step.status);
    d.dataset.status = step.status;
    const label = d.querySelector(".step-status");
    if (label) label.textContent = step.status;
    const exit = d.querySelector(".step-exit");
    if (exit) {
      exit.textContent = step.exit_code === null || step.exit_code === undefined ? "" : "exit " + step.exit_code;
      exit.classList.toggle("bad", !!step.exit_code);
    }
    const dur = d.querySelector(".step-duration");
    if (dur) { dur.dataset.start = step.started_at || ""; dur.dataset.end = step.ended_at || ""; }
    if (step.status === "running") {
      d.open = true;
      const log = logEl(step.op_id);
      const empty = log && log.querySelector(".log-empty");
      if (empty) empty.textContent = "Running…";
    }
    if (step.status === "failed") d.open = true;
    tick();
  }
  let headerTimer = null;
  function refreshHeader() {
    clearTimeout(headerTimer);
    headerTimer = setTimeout(function () {
      if (window.htmx) window.htmx.ajax("GET", root.dataset.headerUrl, { target: "#job-header", swap: "outerHTML" });
    }, 150);
  }
  function updateStatus(job) {
    const final = ["completed", "failed", "stopped", "post_failed"].indexOf(job.status) >= 0;
    root.dataset.final = final ? "1" : "0";
    refreshHeader();
  }

  // ---- ticking durations, cost and the stall indicator ----
  function tick() {
    const now = Date.now();
    document.querySelectorAll(".tick-duration, .tick-cost").forEach(function (el) {
      if (el.dataset.running !== "1" || !el.dataset.start) return;
      const start = Date.parse(el.dataset.start);
      let seconds = Math.max(0, Math.floor((now - start) / 1000));
      if (el.classList.contains("tick-duration")) { el.textContent = seconds + " seconds"; return; }
      const timeout = parseInt(el.dataset.timeout, 10) || 0;
      if (timeout > 0) seconds = Math.min(seconds, timeout);
      el.textContent = ((parseInt(el.dataset.price, 10) || 0) * seconds / 1e6).toFixed(6) + " NOS";
    });
    document.querySelectorAll("details.step").forEach(function (d) {
      const dur = d.querySelector(".step-duration");
      if (dur && dur.dataset.start) {
        const end = dur.dataset.end ? Date.parse(dur.dataset.end) : now;
        dur.textContent = formatDuration((end - Date.parse(dur.dataset.start)) / 1000);
      }
      const stall = d.querySelector(".stall");
      if (!stall) return;
      const since = d.dataset.lastTs ? Date.parse(d.dataset.lastTs) : (dur && dur.dataset.start ? Date.parse(dur.dataset.start) : NaN);
      const quiet = (now - since) / 1000;
      if (d.dataset.status === "running" && !isNaN(since) && quiet >= STALL_SECONDS) {
        stall.hidden = false;
        stall.textContent = "no output for " + Math.floor(quiet / 60) + " min";
      } else {
        stall.hidden = true;
      }
    });
  }
  setInterval(tick, 1000);
  tick();

  // ---- search ----
  const searchBox = document.getElementById("log-search");
  const matchCount = document.getElementById("match-count");
  let query = "";
  let matches = [];
  let current = -1;
  function lineMatches(el) { return query && el.querySelector(".tx").textContent.toLowerCase().indexOf(query) >= 0; }
  function showCount() {
    if (!matchCount) return;
    matchCount.textContent = query ? (matches.length ? (current + 1) + " of " + matches.length : "no matches") : "";
  }
  function runSearch() {
    matches.forEach(function (el) { el.classList.remove("match", "current"); });
    query = (searchBox.value || "").toLowerCase();
    matches = query ? Array.prototype.filter.call(document.querySelectorAll("#steps .log-line"), lineMatches) : [];
    matches.forEach(function (el) { el.classList.add("match"); });
    current = matches.length ? 0 : -1;
    if (current >= 0) focusMatch(); else showCount();
  }
  function searchNewLines(els) {
    if (!query) return;
    els.forEach(function (el) { if (lineMatches(el)) { el.classList.add("match"); matches.push(el); } });
    showCount();
  }
  function focusMatch() {
    document.querySelectorAll("#steps .log-line.current").forEach(function (el) { el.classList.remove("current"); });
    const el = matches[current];
    if (!el) return;
    const d = el.closest("details");
    if (d) d.open = true;  // search covers collapsed steps too
    el.classList.add("current");
    setFollow(false);
    el.scrollIntoView({ block: "center" });
    showCount();
  }
  function stepMatch(delta) {
    if (!matches.length) return;
    current = (current + delta + matches.length) % matches.length;
    focusMatch();
  }
  let searchTimer = null;
  if (searchBox) {
    searchBox.addEventListener("input", function () { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, 150); });
    searchBox.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") { ev.preventDefault(); if ((searchBox.value || "").toLowerCase() !== query) runSearch(); else stepMatch(ev.shiftKey ? -1 : 1); }
      else if (ev.key === "Escape") { searchBox.value = ""; runSearch(); searchBox.blur(); }
    });
  }
  on("search-next", "click", function () { stepMatch(1); });
  on("search-prev", "click", function () { stepMatch(-1); });

  // ---- line and range links: #op-L12, #op-L3-L9, kept working while lines stream in ----
  let anchorLine = null;
  let scrolledToHash = false;
  function parseHash() {
    const m = /^#(.+)-L(\d+)(?:-L(\d+))?$/.exec(decodeURIComponent(location.hash || ""));
    if (!m) return null;
    const a = parseInt(m[2], 10), b = m[3] ? parseInt(m[3], 10) : a;
    return { key: m[1], from: Math.min(a, b), to: Math.max(a, b) };
  }
  function applyHashSelection(scroll) {
    const sel = parseHash();
    if (!sel) return;
    const log = logEl(sel.key);
    if (!log) return;
    let first = null;
    log.querySelectorAll(".log-line").forEach(function (el) {
      const n = parseInt(el.dataset.n, 10);
      const inside = n >= sel.from && n <= sel.to;
      el.classList.toggle("selected", inside);
      if (inside && !first) first = el;
    });
    if (first && (scroll || !scrolledToHash)) {
      scrolledToHash = true;
      const d = first.closest("details");
      if (d) d.open = true;
      setFollow(false);
      first.scrollIntoView({ block: "center" });
    }
  }
  window.addEventListener("hashchange", function () {
    document.querySelectorAll(".log-line.selected").forEach(function (el) { el.classList.remove("selected"); });
    scrolledToHash = false;
    applyHashSelection(true);
  });
  stepsBox.addEventListener("click", function (ev) {
    const ln = ev.target.closest(".ln");
    if (!ln) return;
    const line = ln.closest(".log-line");
    const key = line.closest(".log").dataset.section;
    if (ev.shiftKey && anchorLine && anchorLine.key === key) {
      ev.preventDefault();
      const n = parseInt(line.dataset.n, 10);
      const a = Math.min(anchorLine.n, n), b = Math.max(anchorLine.n, n);
      history.replaceState(null, "", "#" + key + "-L" + a + "-L" + b);
      scrolledToHash = true;
      applyHashSelection(false);
    } else {
      anchorLine = { key: key, n: parseInt(line.dataset.n, 10) };
    }
  });
  applyHashSelection(true);

  // ---- copy a step's text ----
  stepsBox.addEventListener("click", function (ev) {
    const button = ev.target.closest(".copy-step");
    if (!button || !navigator.clipboard) return;
    const log = logEl(button.dataset.section);
    const text = Array.prototype.map.call(log.querySelectorAll(".log-line .tx"), function (el) { return el.textContent; }).join("\n");
    navigator.clipboard.writeText(text + "\n").then(function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 1200);
    });
  });

  // ---- keyboard ----
  function isError(el) {
    return el.classList.contains("stderr") || el.classList.contains("node") || /\b(error|fatal|exception|traceback|failed)\b/i.test(el.querySelector(".tx").textContent);
  }
  let cursor = null;
  function jump(list, delta) {
    if (!list.length) return;
    let i = cursor ? list.indexOf(cursor) : -1;
    if (i < 0) {
      // start from what is on screen
      const mid = window.innerHeight / 2;
      i = delta > 0 ? list.findIndex(function (el) { return el.getBoundingClientRect().top > mid; }) - 1 : list.findIndex(function (el) { return el.getBoundingClientRect().top >= mid; });
      if (i < -1) i = -1;
    }
    i = Math.max(0, Math.min(list.length - 1, i + delta));
    cursor = list[i];
    const d = cursor.closest("details");
    if (d && cursor.tagName !== "DETAILS") d.open = true;
    setFollow(false);
    cursor.scrollIntoView({ block: "center" });
    if (cursor.tagName === "DETAILS") cursor.querySelector("summary").focus();
    document.querySelectorAll(".log-line.current").forEach(function (el) { el.classList.remove("current"); });
    if (cursor.classList.contains("log-line")) cursor.classList.add("current");
  }
  document.addEventListener("keydown", function (ev) {
    const tag = (ev.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const errors = function () { return Array.prototype.filter.call(document.querySelectorAll("#steps .log-line"), isError); };
    const steps = function () { return Array.prototype.slice.call(document.querySelectorAll("#steps details.step")); };
    switch (ev.key) {
      case "/": if (searchBox) { ev.preventDefault(); searchBox.focus(); searchBox.select(); } break;
      case "e": jump(errors(), 1); break;
      case "E": jump(errors(), -1); break;
      case "]": jump(steps(), 1); break;
      case "[": jump(steps(), -1); break;
      case "t": document.getElementById("toggle-ts").click(); break;
      case "w": document.getElementById("toggle-wrap").click(); break;
      case "f": setFollow(!state.follow); break;
      default: return;
    }
  });

  // ---- the websocket: resume after the last seq we have; ack what we rendered ----
  const liveState = document.getElementById("live-state");
  function setLive(text, cls) { if (liveState) { liveState.textContent = text; liveState.className = "live-state small " + (cls || "muted"); } }
  let ws = null;
  let retry = 0;
  // Line frames come deflated when the browser can inflate them (jobs/consumers.py, `?z=1`):
  // about a seventh of the bytes, compressed once on the server for every viewer.
  const INFLATE = typeof DecompressionStream === "function";
  function inflate(buffer) {
    return new Response(new Blob([buffer]).stream().pipeThrough(new DecompressionStream("deflate"))).text();
  }
  let catchingUp = false;
  function send(obj) { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj)); }
  // Acks only feed the server's flow control (a window of 20,000 lines), so one a second is enough;
  // one per frame per viewer was a fifth of the server's work under load, and four a second still 7 %.
  const ACK_EVERY = 1000;
  let ackTimer = null;
  let lastAckAt = 0;
  function ack() {
    if (ackTimer !== null) return;
    ackTimer = setTimeout(function () {
      ackTimer = null;
      lastAckAt = Date.now();
      send({ type: "ack", seq: lastSeq });
    }, Math.max(0, lastAckAt + ACK_EVERY - Date.now()));
  }
  async function catchUp(after) {
    // The server dropped its buffer for us: read the missing lines from the database, then resume.
    catchingUp = true;
    lastSeq = Math.max(lastSeq, 0);
    try {
      for (let page = 0; page < 1000; page++) {
        const response = await fetch(root.dataset.linesUrl + "?format=json&limit=5000&after=" + lastSeq, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (!response.ok) break;
        const data = await response.json();
        appendLines(data.lines);
        if (!data.more) break;
      }
    } finally {
      catchingUp = false;
      send({ type: "resume", after: lastSeq });
    }
  }
  function handle(message) {
    if (message.type === "lines") {
      if (catchingUp) return;
      if (message.first > lastSeq + 1) { catchUp(lastSeq); return; }  // never expected: heal from the database
      appendLines(message.lines);
      ack();
    } else if (message.type === "step") {
      updateStep(message.step);
    } else if (message.type === "status") {
      updateStatus(message.job);
    } else if (message.type === "resync") {
      catchUp(message.after);
    }
  }
  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + root.dataset.wsPath + "?after=" + lastSeq + (INFLATE ? "&z=1" : ""));
    ws.binaryType = "arraybuffer";
    // Inflating is asynchronous: a chain keeps messages in the order they came.
    let chain = Promise.resolve();
    ws.addEventListener("open", function () { retry = 0; setLive("live", "live"); });
    ws.addEventListener("message", function (ev) {
      const data = ev.data;
      chain = chain.then(function () { return typeof data === "string" ? data : inflate(data); })
        .then(function (text) {
          let message;
          try { message = JSON.parse(text); } catch (e) { return; }
          handle(message);
        })
        .catch(function () { if (ws) ws.close(); });  // a frame we cannot read: reconnect and resume
    });
    ws.addEventListener("close", function (ev) {
      if (ev.code === 4403) { setLive("not allowed to watch this job", "down"); return; }
      setLive("reconnecting…", "down");
      const delay = Math.min(30000, 500 * Math.pow(2, retry)) + Math.random() * 300;
      retry = Math.min(retry + 1, 10);
      setTimeout(connect, delay);
    });
  }
  // Coming back from a suspended laptop: reconnect now instead of waiting for the backoff.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && ws && ws.readyState === WebSocket.CLOSED) { retry = 0; connect(); }
  });
  connect();
  if (state.follow && !location.hash) scrollToBottom();
  window.jobLog = { lastSeq: function () { return lastSeq; }, counts: counts };
})();
