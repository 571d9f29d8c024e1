// The jobs list: statuses update live. The server forwards only the user's own jobs;
// on a change we refetch the table fragment (same filters, same page) through htmx.
(function () {
  "use strict";
  let table = document.getElementById("job-table");
  if (!table || !window.WebSocket) return;
  let retry = 0;
  let timer = null;
  function refresh(address) {
    clearTimeout(timer);
    timer = setTimeout(function () {
      if (!window.htmx) return;
      const url = new URL(location.href);
      url.searchParams.set("fragment", "table");
      window.htmx.ajax("GET", url.pathname + url.search, { target: "#job-table", swap: "outerHTML" }).then(function () {
        const row = document.getElementById("job-row-" + address);
        if (row) row.classList.add("flash-row");
      });
    }, 250);
  }
  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(proto + "//" + location.host + table.dataset.wsPath);
    ws.addEventListener("open", function () { retry = 0; });
    ws.addEventListener("message", function (ev) {
      let message;
      try { message = JSON.parse(ev.data); } catch (e) { return; }
      if (message.type === "status" && message.job) refresh(message.job.address);
    });
    ws.addEventListener("close", function (ev) {
      if (ev.code === 4403) return;
      const delay = Math.min(30000, 1000 * Math.pow(2, retry));
      retry = Math.min(retry + 1, 10);
      setTimeout(connect, delay);
    });
  }
  connect();
})();
