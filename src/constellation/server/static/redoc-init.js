// ReDoc over the server's own OpenAPI document.
Redoc.init("/openapi.json", { hideDownloadButton: false }, document.getElementById("redoc"));
