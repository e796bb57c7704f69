// Chart helpers over uPlot (vendored): time-series lines, an interval band, marked points,
// and canvas sparklines cheap enough for a thousand table rows.
"use strict";

const COLORS = ["#3a63d8", "#d0342c", "#1e8e4e", "#c77700", "#7c3aed", "#0891b2"];

// A sparkline drawn on a small canvas: no library objects per row.
function sparkline(values, width = 120, height = 26, color = "#3a63d8") {
  const canvas = document.createElement("canvas");
  const ratio = window.devicePixelRatio || 1;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  canvas.style.width = width + "px";
  canvas.style.height = height + "px";
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  const max = Math.max(1, ...values);
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.2;
  ctx.beginPath();
  values.forEach((v, i) => {
    const x = (i / Math.max(1, values.length - 1)) * (width - 2) + 1;
    const y = height - 2 - (v / max) * (height - 4);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
  return canvas;
}

// A chart card: a title and a uPlot of `series` ([{label, values, ...opts}]) over `xs`
// (unix seconds). `band`: [lowerIndex, upperIndex] of two series filled between.
// The card keeps its uPlot on `el.plot` so live updates call setData.
function chartCard(title, xs, series, opts = {}) {
  const card = document.createElement("div");
  card.className = "chart";
  if (opts.id) card.id = opts.id;
  const h = document.createElement("h3");
  h.textContent = title;
  card.appendChild(h);
  const holder = document.createElement("div");
  card.appendChild(holder);
  const width = opts.width || 540;
  const uSeries = [{}].concat(series.map((s, i) => ({
    label: s.label,
    stroke: s.color || COLORS[i % COLORS.length],
    width: s.pointsOnly ? 0 : 1.5,
    fill: s.fill,
    dash: s.dash,
    spanGaps: s.spanGaps !== false,
    points: s.pointsOnly
      ? { show: true, size: 9, stroke: s.color || "#d0342c", fill: s.color || "#d0342c" }
      : { show: false },
    paths: s.pointsOnly ? () => null : undefined,
  })));
  const config = {
    width,
    height: opts.height || 200,
    series: uSeries,
    axes: [{}, { size: 56, label: opts.yLabel }],
    scales: { x: { time: true } },
    legend: { show: true },
  };
  if (opts.band) config.bands = [{ series: opts.band, fill: "rgba(58,99,216,0.15)" }];
  const data = [xs].concat(series.map((s) => s.values));
  // uPlot needs a laid-out holder for its first draw: the card is attached by the caller,
  // so it is built on the next frame (and synchronously if the caller asks).
  card.build = () => {
    if (card.plot) return;
    card.plot = new uPlot(config, data, holder);
  };
  card.setData = (nx, nseries) => {
    const d = [nx].concat(nseries);
    if (card.plot) card.plot.setData(d); else data.splice(0, data.length, ...d);
  };
  return card;
}

// Minute columns from the server ({minute: [...], key: [...]}) as a dense series with
// zeros for the minutes without invocations, from `first` to `last` minute inclusive.
function denseMinutes(cols, keys, first, last) {
  const n = Math.max(0, last - first + 1);
  const xs = new Array(n);
  const out = keys.map(() => new Array(n).fill(null));
  for (let i = 0; i < n; i++) xs[i] = (first + i) * 60;
  (cols.minute || []).forEach((m, j) => {
    const i = m - first;
    if (i >= 0 && i < n) keys.forEach((k, ki) => { out[ki][i] = cols[k][j]; });
  });
  return [xs, out];
}

window.Charts = { sparkline, chartCard, denseMinutes, COLORS };
