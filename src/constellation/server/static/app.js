// The dashboard's router: #/view[/name][?period=...] -> fetch /ui/data/<view>, render it,
// then follow /ui/events for live updates (polling every 5 s only if EventSource fails).
"use strict";

const main = document.getElementById("main");
const liveDot = document.getElementById("live");
const UI = { "x-constellation-ui": "1" };
let stream = null, pollTimer = null, current = null;

function parseRoute() {
  const [path, query] = (location.hash.replace(/^#/, "") || "/").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query || "");
  return { view: parts[0] || "overview", name: parts.slice(1).join("/"), period: params.get("period") || "day" };
}

async function getJSON(url) {
  let r = null;
  const early = window.firstData;
  if (early && early.url === url) { // the request boot.js started before the scripts loaded
    window.firstData = null;
    r = await early.response.catch(() => null);
  }
  if (!r) r = await fetch(url, { headers: UI, credentials: "same-origin" });
  if (r.status === 401) { location.href = "/login"; throw new Error("logged out"); }
  const body = await r.json();
  if (!r.ok) throw new Error((body.error && body.error.message) || r.statusText);
  return body;
}

async function post(url, body) {
  const r = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: { ...UI, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 401) { location.href = "/login"; throw new Error("logged out"); }
  const text = await r.text();
  const data = text ? JSON.parse(text) : {};
  if (!r.ok) throw new Error((data.error && data.error.message) || r.statusText);
  return data;
}

function toast(text) {
  const t = Views.el("div", { class: "toast", role: "status", text });
  document.body.appendChild(t);
  setTimeout(() => t.remove(), 2500);
}

// what the views call back
const ctx = {
  go: (hash) => { location.hash = hash; },
  refresh: () => render(false),
  async act(button, fn, done) {
    if (button) button.disabled = true;
    try { await fn(); toast(done); render(false); }
    catch (e) { toast("Failed: " + e.message); if (button) button.disabled = false; }
  },
  redrive: (id, b) => ctx.act(b, () => post(`/api/v1/invocations/${encodeURIComponent(id)}/redrive`), "Redriven " + id),
  resolve: (id, b) => ctx.act(b, () => post(`/api/v1/anomalies/${encodeURIComponent(id)}/resolve`), "Resolved"),
  restart: (id, b) => ctx.act(b, () => post("/ui/action/restart", { instance_id: id }), "Restarting " + id),
  scale: (name, n, b) => ctx.act(b, () => post("/ui/action/scale", { deployment: name, instances: n }), `Scaled ${name} to ${n}`),
};

function stopLive() {
  if (stream) { stream.close(); stream = null; }
  if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  liveDot.classList.remove("on");
}

function startLive(route, view) {
  if (!view.live) return;
  const q = new URLSearchParams({ view: route.view, name: route.name });
  const apply = (data) => { if (current && current.live && !data.error) current.live(data); };
  if (window.EventSource) {
    stream = new EventSource("/ui/events?" + q);
    stream.onopen = () => liveDot.classList.add("on");
    stream.onmessage = (e) => apply(JSON.parse(e.data));
    stream.onerror = () => liveDot.classList.remove("on"); // the browser reconnects by itself
  } else {
    pollTimer = setInterval(async () => apply(await getJSON("/ui/data/" + route.view + "?" + q)), 5000);
  }
}

async function render(fresh = true) {
  const route = parseRoute();
  const draw = Views[route.view];
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === route.view));
  if (!draw || route.view === "el") { main.replaceChildren(Views.el("p", { class: "error", text: "No such page." })); return; }
  if (fresh) stopLive();
  const q = new URLSearchParams({ name: route.name, period: route.period });
  let data;
  try { data = await getJSON(`/ui/data/${route.view}?${q}`); performance.mark("data:" + route.view); }
  catch (e) { main.replaceChildren(Views.el("p", { class: "error", role: "alert", text: e.message })); return; }
  const view = draw(data, ctx);
  main.replaceChildren(view);
  view.querySelectorAll(".chart").forEach((c) => c.build && c.build());
  current = view;
  document.body.dataset.rendered = route.view;
  performance.mark("rendered:" + route.view);
  if (fresh || !stream) startLive(route, view);
}

window.addEventListener("hashchange", () => render(true));
render(true);
