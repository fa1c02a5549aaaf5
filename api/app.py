"""The FastAPI application: built by a factory, wired in the lifespan, nothing at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api import problems
from hub.processors import PROJECTORS
from infra.bootstrap import Backend, open_backend
from infra.settings import Settings
from streams.runner import InProcessProcessors


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backend = await open_backend(settings)
        processors = None
        if not settings.distributed:
            processors = InProcessProcessors(PROJECTORS, backend.events, backend.projections)
            processors.start()
        app.state.backend = backend
        try:
            yield
        finally:
            if processors is not None:
                await processors.stop()
            await backend.close()

    app = FastAPI(title="Truc", version="0.1.0", lifespan=lifespan,
                  summary="Government interoperability hub")
    problems.install(app)

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        """Which backend runs and whether each engine answers; 503 when one does not."""
        backend: Backend = request.app.state.backend
        report = await backend.health()
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    return app
