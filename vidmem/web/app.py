"""The web app: a JSON API over warm stores, the page, and (for ``webcam``) the live feed.

``create_app`` builds a FastAPI app; ``vidmem serve`` and ``vidmem webcam`` run it on uvicorn.
Errors are JSON ``{"error": "<one line>"}`` with a 4xx status, and a log line; the server keeps
running. Uploads are decoded only after their declared size is checked (``vidmem.images``).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from vidmem.errors import QueryError, StoreError, VidmemError
from vidmem.images import ImageLimits, decode_image
from vidmem.web.stores import TIMELINE_LIMIT, StoreHandle

log = logging.getLogger("vidmem.web")
STATIC = Path(__file__).parent / "static"
MAX_UPLOAD_BYTES = 16 << 20
"""Largest ask request body (JSON with a base64 image, or a multipart upload)."""
UPLOAD_LIMITS = ImageLimits(max_pixels=25_000_000, max_side=8192, max_bytes=12 << 20)


class BadRequest(VidmemError):
    """A request the API cannot use (HTTP 400)."""


class NotFound(VidmemError):
    """An unknown store, source or keyframe (HTTP 404)."""


def create_app(handles: list[StoreHandle], live: Any = None) -> FastAPI:
    """The app serving ``handles`` (and, when given, a ``LiveSession``'s feed and controls).

    Args:
        handles: the served stores, by their ``name``.
        live: a ``vidmem.web.live.LiveSession`` for ``webcam``, or None for ``serve``.
    """
    app = FastAPI(title="vidmem", description="Ask long videos; browse their memory.", version="1")
    stores = {h.name: h for h in handles}
    app.state.stores = stores
    app.state.live = live
    _errors(app)

    def handle(name: str | None) -> StoreHandle:
        if name is None:
            if len(stores) == 1:
                return next(iter(stores.values()))
            raise BadRequest(f"several stores are served; name one with 'store' ({', '.join(stores)})")
        if name not in stores:
            raise NotFound(f"unknown store {name!r}; served: {', '.join(stores)}")
        return stores[name]

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True, "stores": list(stores), "live": live is not None}

    @app.get("/api/info")
    async def info(store: str | None = None) -> dict[str, Any]:
        chosen = [handle(store)] if store else list(stores.values())
        out = []
        for h in chosen:
            try:
                out.append(await h.call(h.info))
            except StoreError as exc:  # a live store before its first commit
                out.append({"name": h.name, "store": str(h.root), "sources": [], "memories": {}, "error": str(exc)})
        return {"stores": out, "live": live.status() if live is not None else None}

    @app.get("/api/timeline")
    async def timeline(
        request: Request, store: str | None = None, source: int | None = None, limit: int = 500, offset: int = 0
    ) -> dict[str, Any]:
        """Memories in time order, paged: query ``from``/``to`` (seconds), ``limit``, ``offset``."""
        q = request.query_params  # "from" is a Python keyword, so from/to are read by hand
        t_from = _seconds(q["from"], "from") if q.get("from") else None
        t_to = _seconds(q["to"], "to") if q.get("to") else None
        if not 1 <= limit <= TIMELINE_LIMIT or offset < 0:
            raise BadRequest(f"limit must be 1..{TIMELINE_LIMIT} and offset >= 0")
        h = handle(store)
        return await h.call(h.timeline, source, t_from, t_to, limit, offset)

    @app.post("/api/ask")
    async def ask(request: Request) -> dict[str, Any]:
        body = await _ask_body(request)
        h = handle(body["store"])
        return await h.call(h.ask, body["question"], body["image"], body["choices"], body["window"])

    @app.get("/api/keyframes/{store}/{source_id}/{clip}")
    async def keyframe(store: str, source_id: int, clip: str) -> FileResponse:
        h = handle(store)
        try:
            path = h.keyframe_file(source_id, clip)
        except StoreError as exc:
            raise NotFound(str(exc)) from None
        return FileResponse(path, media_type="image/jpeg")

    @app.get("/api/video/{store}/{source_id}")
    async def video(store: str, source_id: int) -> FileResponse:
        h = handle(store)
        try:
            path = await h.call(h.video_file, source_id)
        except StoreError as exc:
            raise NotFound(str(exc)) from None
        return FileResponse(path)  # answers HTTP range requests, so the player can seek

    if live is not None:
        from vidmem.web.live_routes import add_live_routes

        add_live_routes(app, live)

    @app.get("/")
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _errors(app: FastAPI) -> None:
    """Every failure becomes ``{"error": one line}`` with a status, and one log line."""

    def reply(status: int, message: str, request: Request) -> JSONResponse:
        message = " ".join(message.split())
        log.warning("%s %s -> %d: %s", request.method, request.url.path, status, message)
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return reply(404, str(exc), request)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> JSONResponse:
        return reply(503, str(exc), request)  # e.g. a live store before its first commit

    @app.exception_handler(VidmemError)
    async def bad_input(request: Request, exc: VidmemError) -> JSONResponse:
        return reply(413 if "limit is" in str(exc) else 400, str(exc), request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = "no such page or API route" if exc.status_code == 404 else str(exc.detail)
        return reply(exc.status_code, f"{detail}: {request.url.path}", request)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
        return reply(400, f"bad {where or 'request'}: {first.get('msg', 'invalid')}", request)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected failure on %s", request.url.path)
        return reply(500, f"internal error: {type(exc).__name__}: {exc}", request)


async def _ask_body(request: Request) -> dict[str, Any]:
    """``{question, image, choices, window, store}`` from JSON (image as base64) or a multipart form."""
    size = int(request.headers.get("content-length") or 0)
    if size > MAX_UPLOAD_BYTES:
        raise BadRequest(f"request of {size / 1e6:.0f} MB; the limit is {MAX_UPLOAD_BYTES / 1e6:.0f} MB")
    kind = request.headers.get("content-type", "")
    if kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        fields, image = await _form_fields(request)
    else:
        fields, image = _json_fields(await request.body())
    question = fields.get("question") or ""
    if not isinstance(question, str):
        raise BadRequest("'question' must be a string")
    choices = fields.get("choices") or None
    if choices is not None and (not isinstance(choices, list) or not all(isinstance(c, str) for c in choices)):
        raise BadRequest("'choices' must be a list of strings")
    _check_question(question, image is not None, choices)
    window = None
    t_from, t_to = fields.get("from"), fields.get("to")
    if t_from not in (None, "") or t_to not in (None, ""):
        lo = _seconds(t_from, "from") if t_from not in (None, "") else 0.0
        hi = _seconds(t_to, "to") if t_to not in (None, "") else math.inf
        if lo >= hi:
            raise BadRequest(f"'from' {lo:g} must be before 'to' {hi:g}")
        window = (lo, hi)
    store = fields.get("store") or None
    return {"question": question, "image": image, "choices": choices, "window": window, "store": store}


def _json_fields(raw: bytes) -> tuple[dict[str, Any], Any]:
    if len(raw) > MAX_UPLOAD_BYTES:
        raise BadRequest(f"request of {len(raw) / 1e6:.0f} MB; the limit is {MAX_UPLOAD_BYTES / 1e6:.0f} MB")
    try:
        fields = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the request body is not valid JSON ({exc})") from None
    if not isinstance(fields, dict):
        raise BadRequest('the request body must be a JSON object like {"question": "..."}')
    image = None
    if fields.get("image"):
        data = fields["image"]
        if not isinstance(data, str):
            raise BadRequest("'image' must be a base64 string")
        if data.startswith("data:"):  # a data URL from a browser
            data = data.partition(",")[2]
        try:
            blob = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("'image' is not valid base64") from None
        image = decode_image(blob, "upload", UPLOAD_LIMITS)
    return fields, image


async def _form_fields(request: Request) -> tuple[dict[str, Any], Any]:
    form = await request.form(max_files=1, max_fields=64)
    fields: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    fields["choices"] = [c for c in form.getlist("choices") if isinstance(c, str) and c] or None
    upload = form.get("image")
    image = None
    if upload is not None and not isinstance(upload, str):
        blob = await upload.read(UPLOAD_LIMITS.max_bytes + 1)
        if blob:
            image = decode_image(blob, upload.filename or "upload", UPLOAD_LIMITS)
    return fields, image


def _check_question(question: str, has_image: bool, choices: list[str] | None) -> None:
    if question.strip() and not any(c.isalnum() for c in question):
        raise QueryError(f"the question {question[:40]!r} has no words (letters or digits) to search for")
    if not question.strip() and not has_image:
        raise QueryError("the question is empty; ask in words, or send an image to look for")
    for i, choice in enumerate(choices or [], 1):
        if not choice.strip():
            raise QueryError(f"choice {i} is empty; every option needs words")


def _seconds(value: Any, name: str) -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"'{name}' must be a number of seconds, got {str(value)[:20]!r}") from None
    if not (math.isfinite(t) and t >= 0):
        raise BadRequest(f"'{name}' must be a number of seconds >= 0, got {value}")
    return t
