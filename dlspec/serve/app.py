"""The web application: a ServedRun and ServeOptions in, a FastAPI (ASGI) app out.

POST /predict reads a body by its content type (multipart files, JSON texts/rows/values, a CSV
body, one raw image), encodes it with served.py and answers through the batcher; GET /health,
GET /metadata (the run's inputs, outputs, classes, metrics, spec text, model table), GET /curves.png,
the page at / (page/: plain HTML, CSS and a script, no build step) and FastAPI's /openapi.json and
/docs. Every refusal is a 4xx JSON {"error": one line, "hint": advice}, never a traceback.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import asdict, dataclass
from typing import Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from ..errors import DlspecError, did_you_mean
from .batcher import Batcher
from .served import BadInput, ServedRun

PAGE = os.path.join(os.path.dirname(__file__), "page")
PAGE_FILES = {"page.js": "text/javascript", "page.css": "text/css"}


@dataclass
class ServeOptions:
    """How the server batches and what it accepts (docs/serve.md): `wait_ms` and `max_batch` shape the
    batches, `max_body` caps a request's bytes, `max_files` the files in one upload, `max_steps` a forecast."""

    wait_ms: float = 5.0
    max_batch: int = 32
    max_body: int = 10_000_000
    max_files: int = 64
    max_steps: int = 1000


PREDICT_BODY = {"requestBody": {"content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "array", "items": {"type": "string", "format": "binary"}}}}},
    "application/json": {"schema": {"type": "object", "properties": {
        "text": {"type": "string"}, "texts": {"type": "array", "items": {"type": "string"}},
        "rows": {"type": "array", "items": {"type": "object"}}, "row": {"type": "object"},
        "values": {"type": "array", "items": {"type": "number"}}}}},
    "text/csv": {"schema": {"type": "string"}},
    "image/png": {"schema": {"type": "string", "format": "binary"}}}}}


def create_app(served: ServedRun, options: Optional[ServeOptions] = None) -> "BodyCap":
    """The ASGI app answering for `served` (already loaded: loading errors belong to the caller): the
    FastAPI app inside the body cap; `.state` holds the run, the options and the batcher."""
    options = options or ServeOptions()
    batcher = Batcher(served.answer, options.wait_ms, options.max_batch)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        batcher.close()  # the batching task ends with the server

    app = FastAPI(title=f"dlspec serve: {os.path.basename(os.path.abspath(served.run_dir))}", lifespan=lifespan,
                  description=f"Predictions of a dlspec run ({served.kind} inputs). {served.usage()}.")
    app.state.served, app.state.options, app.state.batcher = served, options, batcher
    _add_errors(app)
    from .metadata import metadata_file, run_metadata
    metadata = run_metadata(served)

    @app.get("/health")
    async def health() -> dict:
        """The server is up and its run is loaded."""
        return {"status": "ok", "kind": served.kind, "checkpoint": served.run.checkpoint,
                "epoch": served.run.epoch}

    @app.get("/metadata")
    async def get_metadata() -> dict:
        """The run's inputs, outputs, classes, metrics, spec text and model table."""
        return {**metadata, "options": asdict(options)}

    @app.post("/predict", openapi_extra=PREDICT_BODY)
    async def predict(request: Request) -> JSONResponse:
        """Answers as `dlspec predict` gives them: {"predictions": [...], "notes": [...]}."""
        top, steps = _whole(request, "top", 1, 1000), _whole(request, "steps", 1, options.max_steps)
        if served.kind == "series":
            return JSONResponse({"predictions": await _forecast(served, request, steps, options.max_steps)})
        names, samples, notes = await _samples(served, request, options)
        if not samples:
            raise BadInput("the request holds no input to predict on", hint=served.usage())
        answers = await batcher.submit(names, samples, top)
        return JSONResponse({"predictions": answers, **({"notes": notes} if notes else {})})

    @app.get("/curves.png")
    async def curves() -> Response:
        """The run's training curves."""
        data = metadata_file(served.run_dir, "curves.png")
        if data is None:
            return JSONResponse({"error": "this run has no curves.png"}, status_code=404)
        return Response(data, media_type="image/png")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(os.path.join(PAGE, "index.html"), media_type="text/html")

    for name, media in PAGE_FILES.items():
        app.add_api_route(f"/{name}", _static(name, media), include_in_schema=False)
    return BodyCap(app, options.max_body)


def _static(name: str, media: str):
    async def serve_file() -> FileResponse:
        return FileResponse(os.path.join(PAGE, name), media_type=media)
    return serve_file


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _samples(served: ServedRun, request: Request, options: ServeOptions) -> tuple:
    """(names, samples, notes) of a request's body, read by its content type (the encoding runs in a thread)."""
    kind = _content_type(request)
    if kind == "multipart/form-data":
        return await asyncio.to_thread(served.image_samples, await _uploads(request, options))
    body = await request.body()
    if kind == "application/json":
        return await asyncio.to_thread(_json_samples, served, _json(body))
    if kind in ("text/csv", "application/csv"):
        return await asyncio.to_thread(served.csv_samples, body)
    if kind.startswith("image/"):
        return await asyncio.to_thread(served.image_samples, [(f"body.{kind.split('/')[1]}", body)])
    raise BadInput(f"/predict cannot read a body of type '{kind or 'none'}'", hint=served.usage())


async def _forecast(served: ServedRun, request: Request, steps: int, most: int) -> list:
    """A series run's forecast: from JSON {"values": [...], "steps": N} (or {}: after the training series) or a
    CSV body; `steps` is the query's (at most `most`)."""
    kind, body = _content_type(request), await request.body()
    if kind == "application/json":
        payload = _json(body)
        if not isinstance(payload, dict):
            raise BadInput("give the series as JSON {\"values\": [...]} (or {} to continue the training series)")
        _known_keys(payload, ("values", "steps"), served)
        if "steps" in payload:  # the body may name the steps, as the usage line says; the query must then agree
            steps = _body_steps(payload["steps"], request, steps, most)
        source, history = served.series_history(values=payload.get("values"))
    elif kind in ("text/csv", "application/csv"):
        source, history = await asyncio.to_thread(served.series_history, None, body)
    else:
        raise BadInput(f"/predict cannot read a body of type '{kind or 'none'}' for a series", hint=served.usage())
    return await asyncio.to_thread(served.forecast, history, steps, source)


def _json_samples(served: ServedRun, payload) -> tuple:
    """A JSON body's samples: {"text"}, {"texts"}, {"rows"}, {"row"}, or a bare list of texts or rows."""
    key = None
    if isinstance(payload, dict):
        known = [k for k in JSON_KEYS if k in payload]
        if not known:
            raise BadInput(f"the JSON body has none of the keys text, texts, rows, row "
                           f"(received: {', '.join(map(str, payload)) or 'an empty object'})."
                           f"{did_you_mean(str(next(iter(payload), '')), JSON_KEYS)}", hint=served.usage())
        _known_keys(payload, JSON_KEYS, served)
        if len(known) > 1:  # answering one and dropping the other would hide inputs the client sent
            raise BadInput(f"the JSON body has both keys {' and '.join(known)}; give one of them", hint=served.usage())
        key = known[0]
        payload = [payload[key]] if key in ("text", "row") else payload[key]
    if not isinstance(payload, list) or not payload:
        raise BadInput("the JSON body holds no input: give a non-empty list", hint=served.usage())
    texts = key in ("text", "texts") or (key is None and served.kind == "text")
    if texts:
        return served.text_samples(payload)
    if served.kind == "text":
        raise BadInput("this run reads texts, not table rows", hint=served.usage())
    return served.row_samples(payload)


JSON_KEYS = ("text", "texts", "rows", "row")
QUERY_HINT = "top and steps go in the query: POST /predict?top=K&steps=N"


def _known_keys(payload: dict, keys: tuple, served: ServedRun) -> None:
    """Refuses a key /predict does not read (a misspelt one would otherwise be silently ignored)."""
    for key in payload:
        if key not in keys:
            raise BadInput(f"the JSON body has a key '{str(key)[:40]}' that /predict does not read; it reads "
                           f"{', '.join(keys)}.{did_you_mean(str(key), keys)}",
                           hint=QUERY_HINT if key in ("top", "steps") else served.usage())


def _body_steps(value, request: Request, query_steps: int, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise BadInput(f"steps must be a whole number between 1 and {most}, received {str(value)[:40]}")
    if request.query_params.get("steps") is not None and value != query_steps:
        raise BadInput(f"steps is {value} in the body but {query_steps} in the query; give it once")
    return value


def _json(body: bytes):
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadInput(f"the body is not valid JSON: {exc}") from None
    try:  # JSON may escape a lone surrogate (\ud800), which no UTF-8 text (a CSV, an answer) can hold
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput("the JSON body holds a lone surrogate escape (such as \\ud800), which is not a character",
                       hint="send text as UTF-8, escaping only whole characters") from None
    except (ValueError, RecursionError):  # nesting past the encoder's depth: no input /predict reads is that deep
        raise BadInput("the JSON body is nested too deeply") from None
    return payload


async def _uploads(request: Request, options: ServeOptions) -> list:
    """[(filename, bytes)] of a multipart body's files (field 'file', or any file field)."""
    try:
        form = await request.form(max_files=options.max_files, max_fields=options.max_files)
    except BadInput:
        raise
    except HTTPException as exc:
        raise BadInput(f"the multipart body cannot be read: {exc.detail}") from None
    except Exception as exc:  # python-multipart's parse errors
        raise BadInput(f"the multipart body cannot be read: {exc}") from None
    files = [v for _, v in form.multi_items() if hasattr(v, "read")]
    return [(f.filename, await f.read()) for f in files]


def _whole(request: Request, name: str, default: int, most: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadInput(f"{name} must be a whole number, received '{text[:40]}'") from None
    if not 1 <= value <= most:
        raise BadInput(f"{name} must be between 1 and {most}, received {value}")
    return value


def _add_errors(app: FastAPI) -> None:
    """Every refusal as one JSON line and a 4xx; anything unexpected a 500 that names it, without a traceback."""

    @app.exception_handler(DlspecError)
    async def bad_input(request: Request, exc: DlspecError) -> JSONResponse:
        status = getattr(exc, "status", 400)
        return JSONResponse({"error": exc.message, "hint": exc.hint}, status_code=status)

    @app.exception_handler(HTTPException)
    async def no_route(request: Request, exc: HTTPException) -> JSONResponse:
        """404, 405: the same shape as every refusal, naming the routes."""
        return JSONResponse({"error": f"{request.method} {request.url.path}: {exc.detail}", "hint": ROUTES},
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = (exc.errors() or [{}])[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid request')}", "hint": ""}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}",
                             "hint": "this is a bug in dlspec; please report it"}, status_code=500)


class BodyCap:
    """ASGI middleware: a request body over `limit` bytes is refused with 413 (by its Content-Length
    before anything is read, or as soon as a chunked body passes the limit)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit
        self.state = app.state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await _too_large(send, self.limit)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:  # reported by the app's handler for BadInput, as every refusal is
                raise BadInput(_too_large_message(self.limit), hint=TOO_LARGE_HINT, status=413)
            return message

        await self.app(scope, counted, send)


ROUTES = "the API: POST /predict, GET /metadata, GET /health, GET /curves.png, GET /openapi.json, GET / (the page)"
TOO_LARGE_HINT = "send fewer or smaller inputs, or start the server with a larger --max-body"


def _too_large_message(limit: int) -> str:
    return f"the request body is larger than the cap of {limit:,} bytes"


async def _too_large(send, limit: int) -> None:
    body = json.dumps({"error": _too_large_message(limit), "hint": TOO_LARGE_HINT}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
