// Market charts with the vendored uPlot. The page draws an SVG fallback without JS;
// this replaces it with an interactive chart whose colours follow the light/dark theme.
(function () {
  "use strict";
  if (typeof window.uPlot !== "function") return;

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
  }

  function readData(el) {
    const source = document.getElementById(el.dataset.chartSource);
    if (!source) return null;
    try { return JSON.parse(source.dataset.json); } catch (e) { return null; }
  }

  function axes() {
    const text = css("--muted"), grid = css("--border");
    return [
      { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
      { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
    ];
  }

  function build(el, data) {
    const width = Math.max(el.clientWidth, 300);
    if (el.dataset.chart === "jobs") {
      const bars = window.uPlot.paths && window.uPlot.paths.bars ? window.uPlot.paths.bars({ size: [0.8, 40] }) : undefined;
      return new window.uPlot({
        width: width, height: 160, axes: axes(), legend: { show: true },
        scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
        series: [{}, { label: "jobs started", stroke: css("--accent"), fill: css("--accent"), paths: bars, points: { show: false } }],
      }, [data.jobs.t, data.jobs.n], el);
    }
    const h = data.history;
    if (h.t.length < 2) return null; // one point gives no time axis: keep the server's text
    return new window.uPlot({
      width: width, height: 200, axes: axes().concat([{ side: 1, scale: "nos", stroke: css("--muted"), grid: { show: false } }]),
      scales: { x: { time: true }, nos: {} },
      series: [
        {},
        { label: "idle nodes", stroke: css("--ok"), width: 2 },
        { label: "jobs waiting", stroke: css("--warn"), width: 2 },
        { label: "running", stroke: css("--info"), width: 2 },
        { label: "NOS/hour", stroke: css("--muted"), dash: [4, 4], scale: "nos" },
      ],
    }, [h.t, h.idle, h.waiting, h.running, h.price], el);
  }

  const charts = [];
  function drawAll() {
    while (charts.length) { const c = charts.pop(); c.plot.destroy(); }
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      const data = readData(el);
      if (!data) return;
      const plot = build(el, data);
      if (plot) { el.classList.add("enhanced"); charts.push({ el: el, plot: plot }); }
    });
  }

  document.addEventListener("DOMContentLoaded", drawAll);
  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.plot.setSize({ width: Math.max(c.el.clientWidth, 300), height: c.plot.height }); });
  });
  // Redraw with the other palette when the system switches between light and dark.
  if (window.matchMedia) {
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", drawAll);
  }
})();
