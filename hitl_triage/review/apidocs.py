"""``/api/docs``: the JSON API's interactive documentation (Swagger UI), served under the app's
Content-Security-Policy.

FastAPI's own docs page loads Swagger UI from a CDN and starts it with an inline script; the
CSP (scripts from this server only, no inline code) blocks both, and the machines running the
app may not reach a CDN. Here the Swagger UI files come from the ``swagger-ui-bundle`` package
and the start-up code is ``static/apidocs.js``. That Swagger UI (4.x) reads OpenAPI 3.0, so the
page is given ``/api/docs/openapi.json``, FastAPI's 3.1 document with its nullable types
written the 3.0 way. Without the package installed the page answers 404 with a hint.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} · API</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/api/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-spec-url="/api/docs/openapi.json"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script src="/static/apidocs.js"></script>
</body>
</html>
"""


def swagger_ui_dir() -> Any:
    """The installed Swagger UI files, or None without ``swagger-ui-bundle``."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    return swagger_ui_path


def openapi_30(node: Any) -> Any:
    """A copy of an OpenAPI 3.1 document (or part) with ``anyOf: [X, {type: null}]`` written
    as OpenAPI 3.0's ``X`` + ``nullable: true``."""
    if isinstance(node, list):
        return [openapi_30(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: openapi_30(v) for k, v in node.items()}
    options = out.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        del out["anyOf"]
        if len(rest) == 1 and "$ref" not in rest[0]:
            out = {**rest[0], **out}
        else:
            out["anyOf"] = rest
        out["nullable"] = True
    if "const" in out:
        out["enum"] = [out.pop("const")]
    return out


def mount(app: FastAPI) -> None:
    """Add ``/api/docs``, its assets and its OpenAPI 3.0 document to ``app``."""
    assets = swagger_ui_dir()
    if assets is not None:
        app.mount("/api/docs/assets", StaticFiles(directory=str(assets)), name="apidocs-assets")

    @app.get("/api/docs", include_in_schema=False)
    def docs_page(request: Request) -> HTMLResponse:
        if assets is None:
            raise HTTPException(404, "API docs need the swagger-ui-bundle package (pip install swagger-ui-bundle)")
        from html import escape

        return HTMLResponse(PAGE.format(title=escape(request.app.title)))

    @app.get("/api/docs/openapi.json", include_in_schema=False)
    def docs_spec(request: Request) -> JSONResponse:
        spec = openapi_30(request.app.openapi())
        spec["openapi"] = "3.0.3"
        return JSONResponse(spec)
