"""``webcam``'s routes: the session's status, the latest frame, switching source, the browser's camera."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request, Response, WebSocket, WebSocketDisconnect

from vidmem.errors import VidmemError

log = logging.getLogger("vidmem.web.live")


def add_live_routes(app: FastAPI, live: Any) -> None:
    """Adds ``/api/live`` (status), ``/api/live/frame.jpg``, ``/api/live/source`` and ``/api/live/ws``."""

    @app.get("/api/live")
    async def status() -> dict[str, Any]:
        return live.status()

    @app.get("/api/live/frame.jpg")
    async def frame() -> Response:
        data = live.latest_jpeg()
        if data is None:
            return Response(status_code=204)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.post("/api/live/source")
    async def switch(request: Request) -> dict[str, Any]:
        from starlette.concurrency import run_in_threadpool

        from vidmem.web.app import BadRequest

        try:
            body = json.loads(await request.body() or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("the request body is not valid JSON") from None
        source = body.get("source") if isinstance(body, dict) else None
        if not isinstance(source, str) or not source.strip():
            raise BadRequest('send {"source": "browser" | camera index | URL | file}')
        await run_in_threadpool(live.start, source.strip())  # waits for the old ingest's last commit
        return live.status()

    @app.websocket("/api/live/ws")
    async def camera(ws: WebSocket) -> None:
        await ws.accept()
        log.info("browser camera connected")
        try:
            while True:
                data = await ws.receive_bytes()
                try:
                    live.push_jpeg(data)
                except VidmemError as exc:  # a bad frame is skipped; the camera stays connected
                    log.warning("browser camera: %s", exc)
                    await ws.send_text(json.dumps({"error": str(exc)}))
        except WebSocketDisconnect:
            log.info("browser camera disconnected; the memory is kept and the server keeps running")
