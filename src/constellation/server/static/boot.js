// Loaded first, in <head>: starts the first view's data request while the page's other
// scripts load (app.js takes the answer; the URL is made as app.js makes it).
"use strict";
(function () {
  const [path, query] = (location.hash.replace(/^#/, "") || "/").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query || "");
  const q = new URLSearchParams({ name: parts.slice(1).join("/"), period: params.get("period") || "day" });
  const url = `/ui/data/${parts[0] || "overview"}?${q}`;
  const response = fetch(url, { headers: { "x-constellation-ui": "1" }, credentials: "same-origin" });
  response.catch(() => {}); // app.js asks again if this one failed
  window.firstData = { url, response };
})();
