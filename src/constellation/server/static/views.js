// One render function per dashboard view: (data, ctx) -> a DOM fragment. `ctx` has the
// helpers app.js gives: el(), act() (a POST with the UI header) and the route's name.
"use strict";

const fmtTime = (t) => (t ? new Date(t * 1000).toLocaleString() : "");
const fmtNum = (v, digits = 2) =>
  v === null || v === undefined ? "" : Number.isInteger(v) ? String(v) : Number(v).toFixed(digits);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return node;
}

function table(headers, rows, opts = {}) {
  if (!rows.length) return el("p", { class: "empty", text: opts.empty || "None." });
  const head = el("tr", {}, headers.map((h) => el("th", { text: h })));
  return el("table", { id: opts.id }, el("thead", {}, head), el("tbody", {}, rows));
}

function card(label, value, extra) {
  return el("div", { class: "card" }, el("div", { class: "label", text: label }),
    el("div", { class: "value", text: String(value) }), extra || null);
}

// -- overview -------------------------------------------------------------------------
function overviewView(d, ctx) {
  const t = d.totals;
  const frag = el("div", { id: "view-overview" });
  frag.appendChild(el("h1", { text: "Overview" }));
  frag.appendChild(el("div", { class: "cards", id: "totals" },
    card("Functions", t.functions), card("Deployments", t.deployments),
    card("Instances", t.instances),
    card("Invocations/s", fmtNum(t.invocations_per_s), Charts.sparkline(d.spark, 140, 28)),
    card("Errors (1 h)", t.errors_1h), card("Cold starts (1 h)", t.cold_starts_1h),
    card("Active anomalies", t.active_anomalies), card("GPUs", t.gpus)));
  frag.appendChild(el("h2", { text: "Functions" }));
  const filter = el("input", { class: "filter", placeholder: "Filter by name", type: "search" });
  frag.appendChild(filter);
  // Sparklines are drawn when their row scrolls into view: a thousand canvases up front
  // would be most of the first render.
  const observer = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (!e.isIntersecting) continue;
      const cell = e.target;
      if (!cell.firstChild) cell.appendChild(Charts.sparkline(cell.spark));
      observer.unobserve(cell);
    }
  });
  const makeRow = (f) => {
    const spark = el("td", { class: "spark" });
    spark.spark = f.spark;
    observer.observe(spark);
    return el("tr", { "data-name": f.name },
      el("td", {}, el("a", { href: "#/function/" + encodeURIComponent(f.name), text: f.name })),
      el("td", { text: f.runtime }), el("td", { class: "num", text: String(f.memory_mb) }),
      el("td", { class: "num", text: String(f.instances) }),
      el("td", { class: "num", text: String(f.invocations_1h) }),
      el("td", { class: "num " + (f.errors_1h ? "bad" : ""), text: String(f.errors_1h) }),
      el("td", { class: "num", text: String(f.cold_starts_1h) }), spark);
  };
  // The rows a screen shows are built at once; the rest follow in slices after the first
  // paint, so a thousand functions do not hold the page back.
  const FIRST = 60, SLICE = 250;
  const rows = d.functions.slice(0, FIRST).map(makeRow);
  const shown = (r) => r.dataset.name.toLowerCase().includes(filter.value.toLowerCase());
  const tbl = table(["Name", "Runtime", "Memory MB", "Instances", "Invocations (1 h)",
    "Errors (1 h)", "Cold starts (1 h)", "Last hour"], rows, { id: "functions", empty: "No functions yet." });
  frag.appendChild(tbl);
  const more = (from) => {
    if (from >= d.functions.length || !frag.isConnected) return;
    const body = tbl.querySelector("tbody");
    const slice = d.functions.slice(from, from + SLICE).map(makeRow);
    for (const r of slice) { r.hidden = !shown(r); rows.push(r); }
    body.append(...slice);
    if (from + SLICE < d.functions.length) setTimeout(() => more(from + SLICE), 0);
    else tbl.dataset.complete = "true";
  };
  if (d.functions.length > FIRST) setTimeout(() => more(FIRST), 0); else tbl.dataset.complete = "true";
  filter.addEventListener("input", () => { for (const r of rows) r.hidden = !shown(r); });
  frag.live = (live) => {
    const cards = frag.querySelectorAll("#totals .value");
    const lt = live.totals;
    [lt.functions, lt.deployments, lt.instances, fmtNum(lt.invocations_per_s), lt.errors_1h,
      lt.cold_starts_1h, lt.active_anomalies, lt.gpus].forEach((v, i) => { cards[i].textContent = String(v); });
  };
  return frag;
}

// -- one function ---------------------------------------------------------------------
function functionView(d, ctx) {
  const f = d.function;
  const frag = el("div", { id: "view-function", "data-name": f.name });
  frag.appendChild(el("h1", { text: "Function " + f.name }));
  const settings = el("dl", { class: "kv", id: "settings" });
  for (const k of ["runtime", "handler", "memory_mb", "timeout_s", "concurrency", "version", "status", "code_hash"]) {
    if (f[k] === undefined) continue;
    settings.append(el("dt", { text: k }), el("dd", { text: String(f[k]) }));
  }
  for (const [k, v] of Object.entries(f.env || {})) settings.append(el("dt", { text: "env " + k }), el("dd", { class: "secret", text: String(v) }));
  if (f.scaling_policy) settings.append(el("dt", { text: "scaling" }), el("dd", {}, el("code", { text: JSON.stringify(f.scaling_policy) })));
  frag.appendChild(settings);
  frag.appendChild(el("h2", { text: "Triggers" }));
  frag.appendChild(table(["Type", "Spec", "Id"], d.triggers.map((t) =>
    el("tr", {}, el("td", { text: t.type }), el("td", {}, el("code", { text: JSON.stringify(t.spec) })), el("td", { text: t.id }))),
    { empty: "No triggers." }));

  // per-minute charts over the day, updated live
  const last = Math.floor(d.now / 60);
  const first = last - 24 * 60 + 1;
  const state = { cols: d.series, first, last };
  const keys = ["invocations", "errors", "cold_starts", "p50_ms", "p99_ms"];
  let [xs, ys] = Charts.denseMinutes(d.series, keys, first, last);
  const total = (cols) => (cols.invocations || []).reduce((a, b) => a + b, 0);
  const inv = Charts.chartCard("Invocations per minute", xs, [
    { label: "invocations", values: ys[0] }, { label: "errors", values: ys[1], color: "#d0342c" }],
    { id: "chart-invocations" });
  inv.dataset.total = String(total(d.series));
  const dur = Charts.chartCard("Duration (ms)", xs, [
    { label: "p50", values: ys[3], spanGaps: false }, { label: "p99", values: ys[4], color: "#c77700", spanGaps: false }],
    { id: "chart-duration" });
  const cold = Charts.chartCard("Cold starts per minute", xs, [{ label: "cold starts", values: ys[2], color: "#7c3aed" }],
    { id: "chart-cold" });
  const charts = el("div", { class: "grid2" }, inv, dur, cold);

  // instances and concurrency; the autoscaler's decisions; the forecast with its band
  const dec = d.decisions || [];
  charts.appendChild(Charts.chartCard("Instances and concurrency", dec.map((r) => r.at), [
    { label: "instances", values: dec.map((r) => r.current) },
    { label: "desired", values: dec.map((r) => r.desired), color: "#1e8e4e", dash: [4, 3] },
    { label: "concurrency (stable)", values: dec.map((r) => r.stable_concurrency), color: "#c77700" }],
    { id: "chart-instances" }));
  charts.appendChild(Charts.chartCard("Autoscaler decisions", dec.map((r) => r.at), [
    { label: "reactive", values: dec.map((r) => r.reactive) },
    { label: "predicted", values: dec.map((r) => r.predicted), color: "#7c3aed" },
    { label: "desired", values: dec.map((r) => r.desired), color: "#1e8e4e" }],
    { id: "chart-decisions" }));
  charts.appendChild(forecastCard("Concurrency forecast", d.concurrency, d.forecast, "chart-forecast"));
  frag.appendChild(el("h2", { text: "Activity" }));
  frag.appendChild(charts);

  frag.appendChild(el("h2", { text: "Instances" }));
  const instances = el("div", { id: "instances" });
  frag.appendChild(instances);
  frag.appendChild(el("h2", { text: "Recent invocations" }));
  const invocations = el("div", { id: "invocations" });
  frag.appendChild(invocations);
  frag.appendChild(el("h2", { text: "Dead letters" }));
  frag.appendChild(table(["Request", "Status", "Attempts", "Error", ""], (d.dead_letters || []).map((x) =>
    el("tr", { "data-request": x.request_id }, el("td", {}, el("code", { text: x.request_id })),
      el("td", { text: x.status }), el("td", { class: "num", text: String(x.attempts ?? "") }),
      el("td", { text: x.error || "" }),
      el("td", {}, el("button", { class: "act redrive", text: "Redrive", onclick: (e) => ctx.redrive(x.request_id, e.target) })))),
    { id: "dead-letters", empty: "No dead letters." }));
  frag.appendChild(el("h2", { text: "Billing" }));
  const b = d.billing;
  const periods = el("select", { id: "billing-period", onchange: (e) => ctx.go("#/function/" + encodeURIComponent(f.name) + "?period=" + e.target.value) },
    ["hour", "day", "week", "month"].map((p) => el("option", p === b.period ? { value: p, selected: "" } : { value: p }, p)));
  frag.appendChild(el("div", {}, "Period: ", periods));
  frag.appendChild(el("dl", { class: "kv", id: "billing" },
    el("dt", { text: "invocations" }), el("dd", { text: String(b.invocation_count) }),
    el("dt", { text: "compute ms" }), el("dd", { text: String(b.compute_time_ms) }),
    el("dt", { text: "GB-seconds" }), el("dd", { text: fmtNum(b.memory_gb_seconds, 4) }),
    el("dt", { text: "requests" }), el("dd", { text: "$" + fmtNum(b.request_cost_usd, 6) }),
    el("dt", { text: "compute" }), el("dd", { text: "$" + fmtNum(b.compute_cost_usd, 6) }),
    el("dt", { text: "estimated cost" }), el("dd", { text: "$" + fmtNum(b.estimated_cost_usd, 6) })));

  const drawTables = (live) => {
    instances.replaceChildren(table(["Instance", "Status", "PID", "Uptime s", "Invocations", ""], live.instances.map((i) =>
      el("tr", { "data-instance": i.id }, el("td", {}, el("code", { text: i.id })), el("td", { text: i.status }),
        el("td", { class: "num", text: String(i.pid ?? "") }), el("td", { class: "num", text: fmtNum(i.uptime_s, 1) }),
        el("td", { class: "num", text: String(i.invocations ?? "") }),
        el("td", {}, el("button", { class: "act restart", text: "Restart", onclick: (e) => ctx.restart(i.id, e.target) })))),
    { empty: "No instances running." }));
    invocations.replaceChildren(table(["Started", "Request", "Status", "Duration ms", "Cold", "Logs"], live.invocations.map((r) =>
      el("tr", {}, el("td", { text: fmtTime(r.started_at) }), el("td", {}, el("code", { text: r.request_id })),
        el("td", { class: "status-" + r.status, text: r.status }), el("td", { class: "num", text: fmtNum(r.duration_ms) }),
        el("td", { text: r.cold_start ? "cold" : "" }),
        el("td", {}, el("pre", { class: "logs", text: (r.logs || "") + (r.error ? "\n" + r.error : "") })))),
    { empty: "No invocations yet." }));
  };
  drawTables(d);
  frag.live = (live) => {
    // merge the newest minutes into the day's columns and redraw
    const byMinute = new Map();
    state.cols.minute.forEach((m, i) => byMinute.set(m, i));
    live.series.minute.forEach((m, j) => {
      let i = byMinute.get(m);
      if (i === undefined) { state.cols.minute.push(m); for (const k of Object.keys(live.series)) if (k !== "minute") state.cols[k].push(live.series[k][j]); }
      else for (const k of Object.keys(live.series)) if (k !== "minute") state.cols[k][i] = live.series[k][j];
    });
    state.last = Math.floor(live.now / 60);
    state.first = state.last - 24 * 60 + 1;
    [xs, ys] = Charts.denseMinutes(state.cols, keys, state.first, state.last);
    inv.setData(xs, [ys[0], ys[1]]);
    dur.setData(xs, [ys[3], ys[4]]);
    cold.setData(xs, [ys[2]]);
    inv.dataset.total = String(total(state.cols));
    drawTables(live);
  };
  return frag;
}

function forecastCard(title, history, forecast, id) {
  const hx = (history && history.t) || [];
  const fx = forecast && forecast.t ? forecast.t : [];
  const xs = hx.concat(fx);
  const pad = (n) => new Array(n).fill(null);
  const actual = ((history && history.y) || []).concat(pad(fx.length));
  const value = pad(hx.length).concat(fx.length ? forecast.value : []);
  const lower = pad(hx.length).concat(fx.length ? forecast.lower : []);
  const upper = pad(hx.length).concat(fx.length ? forecast.upper : []);
  const chart = Charts.chartCard(title + (forecast && forecast.level ? ` (${Math.round(forecast.level * 100)}% interval)` : ""), xs, [
    { label: "actual", values: actual },
    { label: "forecast", values: value, color: "#7c3aed", dash: [5, 3] },
    { label: "lower", values: lower, color: "rgba(124,58,237,0.4)" },
    { label: "upper", values: upper, color: "rgba(124,58,237,0.4)" }],
    { id, band: [4, 3] });
  if (forecast && forecast.error) chart.appendChild(el("p", { class: "muted", text: "No forecast yet: " + forecast.error }));
  return chart;
}

// -- anomalies ------------------------------------------------------------------------
function anomalyBlock(a, ctx) {
  const t = a.chart.t.slice(), y = a.chart.y.slice();
  // the marked points join the time axis (uPlot needs one x column for all series)
  const marks = new Map();
  a.marked.t.forEach((mt, i) => marks.set(mt, a.marked.y[i]));
  for (const mt of marks.keys()) if (!t.includes(mt)) { t.push(mt); y.push(null); }
  const order = t.map((_, i) => i).sort((i, j) => t[i] - t[j]);
  const xs = order.map((i) => t[i]);
  const values = order.map((i) => y[i]);
  const marked = xs.map((x) => (marks.has(x) ? marks.get(x) : null));
  const lows = xs.map(() => a.expected_low), highs = xs.map(() => a.expected_high);
  const series = [{ label: a.metric_name, values }, { label: "anomalous", values: marked, pointsOnly: true, color: "#d0342c" }];
  const opts = { id: "chart-anomaly-" + a.id, width: 640, height: 180 };
  if (a.expected_low !== null && a.expected_high !== null) {
    series.push({ label: "expected low", values: lows, color: "rgba(30,142,78,0.5)", dash: [3, 3] });
    series.push({ label: "expected high", values: highs, color: "rgba(30,142,78,0.5)", dash: [3, 3] });
    opts.band = [4, 3];
  }
  const chart = Charts.chartCard(a.metric_name + " around " + fmtTime(a.detected_at), xs, series, opts);
  chart.dataset.marked = String(marked.filter((v) => v !== null).length);
  const head = el("div", {},
    el("strong", { class: "sev-" + a.severity, text: a.severity }), " ",
    el("code", { text: a.metric_name }), " ",
    `value ${fmtNum(a.detected_value)}` + (a.expected_value !== null ? ` (expected ${fmtNum(a.expected_value)})` : ""),
    ` · ${a.type} · confidence ${fmtNum(a.confidence)} · ${fmtTime(a.detected_at)}`,
    a.resolved_at ? el("span", { class: "muted", text: " · resolved " + fmtTime(a.resolved_at) }) :
      el("button", { class: "act resolve", text: "Resolve", onclick: (e) => ctx.resolve(a.id, e.target) }));
  return el("section", { class: "anomaly", "data-id": a.id, "data-metric": a.metric_name },
    head, a.recommendation ? el("p", { class: "muted", text: a.recommendation }) : null, chart);
}

function anomaliesView(d, ctx) {
  const frag = el("div", { id: "view-anomalies" });
  frag.appendChild(el("h1", { text: "Anomalies" }));
  frag.appendChild(el("h2", { text: `Active (${d.active.length})` }));
  const active = el("div", { id: "anomalies-active" }, d.active.map((a) => anomalyBlock(a, ctx)));
  if (!d.active.length) active.appendChild(el("p", { class: "empty", text: "No active anomalies." }));
  frag.appendChild(active);
  frag.appendChild(el("h2", { text: `Resolved (${d.resolved.length})` }));
  const resolved = el("div", { id: "anomalies-resolved" }, d.resolved.map((a) => anomalyBlock(a, ctx)));
  if (!d.resolved.length) resolved.appendChild(el("p", { class: "empty", text: "None resolved yet." }));
  frag.appendChild(resolved);
  const ids = (x) => x.active.map((a) => a.id).join() + "|" + x.resolved.map((a) => a.id).join();
  frag.live = (live) => { if (ids(live) !== ids(d)) ctx.refresh(); };
  return frag;
}

// -- forecasts ------------------------------------------------------------------------
function forecastsView(d) {
  const frag = el("div", { id: "view-forecasts" });
  frag.appendChild(el("h1", { text: "Forecasts" }));
  if (!d.predictors.length) frag.appendChild(el("p", { class: "empty", text: "No predictors yet (a function with predictive scaling gets one)." }));
  const grid = el("div", { class: "grid2" });
  for (const p of d.predictors) {
    const c = forecastCard(p.metric, p.history, p.forecast, null);
    const acc = p.accuracy || {};
    const text = acc.count ? Object.entries(acc).filter(([, v]) => v !== null).map(([k, v]) => `${k} ${fmtNum(v, 3)}`).join(" · ")
      : `none yet (${acc.pending ?? 0} forecasts waiting for their time)`;
    c.appendChild(el("p", { class: "muted accuracy", text: "live accuracy: " + text }));
    grid.appendChild(c);
  }
  frag.appendChild(grid);
  return frag;
}

// -- GPUs -----------------------------------------------------------------------------
function gpusView(d) {
  const frag = el("div", { id: "view-gpus" });
  frag.appendChild(el("h1", { text: "GPUs" }));
  if (!d.gpus.length) frag.appendChild(el("p", { class: "empty", text: "No GPUs discovered on this platform." }));
  for (const g of d.gpus) {
    frag.appendChild(el("h2", { text: `${g.id} · ${g.name}` + (g.mig_enabled ? " · MIG" : "") }));
    const grid = el("div", { class: "grid2" });
    const names = { gpu_utilization_percent: "Utilisation %", gpu_memory_used_mb: "Memory used MB", gpu_temperature_celsius: "Temperature °C", gpu_power_watts: "Power W" };
    for (const [metric, label] of Object.entries(names)) {
      const c = g.charts[metric] || { t: [], y: [] };
      grid.appendChild(Charts.chartCard(label, c.t, [{ label, values: c.y }], { width: 440, height: 160 }));
    }
    frag.appendChild(grid);
  }
  frag.appendChild(el("h2", { text: "Allocations" }));
  frag.appendChild(table(["Owner", "GPUs", "Sharing", "Memory MB", "MIG profile", "Since"], d.allocations.map((a) =>
    el("tr", {}, el("td", { text: a.owner }), el("td", { text: a.gpu_ids.join(", ") }), el("td", { text: a.sharing }),
      el("td", { class: "num", text: String(a.memory_mb) }), el("td", { text: a.mig_profile || "" }), el("td", { text: fmtTime(a.created_at) }))),
  { id: "allocations", empty: "No allocations." }));
  return frag;
}

// -- WASM -----------------------------------------------------------------------------
function wasmView(d) {
  const frag = el("div", { id: "view-wasm" });
  frag.appendChild(el("h1", { text: "WASM" }));
  if (!d.running) frag.appendChild(el("p", { class: "muted", text: "The WASM host of this process is not started." }));
  frag.appendChild(el("h2", { text: "Modules" }));
  frag.appendChild(table(["Module (SHA-256)", "Source", "Bytes", "Exports"], d.modules.map((m) =>
    el("tr", {}, el("td", {}, el("code", { text: m.id.slice(0, 16) })), el("td", { text: m.source }),
      el("td", { class: "num", text: String(m.size) }), el("td", { text: m.exports.join(", ") }))),
  { id: "wasm-modules", empty: "No modules loaded." }));
  frag.appendChild(el("h2", { text: "Instances" }));
  frag.appendChild(table(["Instance", "Module", "Runtime", "State"], d.instances.map((i) =>
    el("tr", {}, el("td", {}, el("code", { text: i.id })), el("td", {}, el("code", { text: i.module_id.slice(0, 16) })),
      el("td", { text: i.runtime }), el("td", { text: i.closed ? "closed" : "open" }))),
  { id: "wasm-instances", empty: "No instances." }));
  return frag;
}

// -- deployments and clusters ----------------------------------------------------------
const scaleDrafts = new Map();
function deploymentsView(d, ctx) {
  const frag = el("div", { id: "view-deployments" });
  frag.appendChild(el("h1", { text: "Deployments and clusters" }));
  frag.appendChild(table(["Name", "Running / wanted", "GPU", "Restart policy", "Script", "Scale to"], d.deployments.map((x) => {
    // what was typed survives the page's live redraws (kept until that scale is sent)
    const input = el("input", { type: "number", min: "0", value: String(scaleDrafts.get(x.name) ?? x.instances), class: "scale-to", style: "width:60px",
      oninput: (e) => scaleDrafts.set(x.name, e.target.value) });
    return el("tr", { "data-deployment": x.name }, el("td", { text: x.name }),
      el("td", { class: "num", text: `${x.running} / ${x.instances}` }),
      el("td", { text: x.gpu ? x.gpu + (x.gpu_memory ? ` (${x.gpu_memory} MB)` : "") : "" }),
      el("td", { text: x.restart_policy }), el("td", {}, el("code", { text: x.script })),
      el("td", {}, input, " ", el("button", { class: "act scale", text: "Scale", onclick: (e) => { scaleDrafts.delete(x.name); ctx.scale(x.name, Number(input.value), e.target); } })));
  }), { id: "deployments", empty: "No deployments." }));
  frag.appendChild(el("h2", { text: "Instances" }));
  frag.appendChild(table(["Instance", "Deployment", "Status", "PID", "Restarts", ""], d.instances.map((i) =>
    el("tr", { "data-instance": i.id }, el("td", {}, el("code", { text: i.id })), el("td", { text: String(i.deployment ?? "") }),
      el("td", { text: String(i.status ?? "") }), el("td", { class: "num", text: String(i.pid ?? "") }),
      el("td", { class: "num", text: String(i.restarts ?? "") }),
      el("td", {}, el("button", { class: "act restart", text: "Restart", onclick: (e) => ctx.restart(i.id, e.target) })))),
  { id: "deployment-instances", empty: "No instances." }));
  frag.appendChild(el("h2", { text: "Clusters" }));
  frag.appendChild(table(["Name", "Details"], d.clusters.map((c) =>
    el("tr", {}, el("td", { text: String(c.name ?? "") }), el("td", {}, el("code", { text: JSON.stringify(c) })))), { empty: "No clusters." }));
  frag.live = (live) => {
    const sig = (x) => JSON.stringify(x.instances.map((i) => [i.id, i.status, i.pid, i.restarts])) + JSON.stringify(x.deployments.map((y) => [y.name, y.instances, y.running]));
    if (sig(live) !== sig(d)) ctx.refresh();
  };
  return frag;
}

window.Views = {
  overview: overviewView, function: functionView, anomalies: anomaliesView, forecasts: forecastsView,
  gpus: gpusView, wasm: wasmView, deployments: deploymentsView, el,
};
