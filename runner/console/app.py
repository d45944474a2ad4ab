"""The console's Starlette app: server-rendered pages, POST forms for the actions.

Pages read the state store at each request (and every ``refresh_s`` through a few lines of
inline JavaScript that re-fetch the page and swap its live region; without JavaScript the page
is still whole, it just does not update itself). Actions go through the same code as the CLI:
"run now" is ``commerce-sync trigger`` (``StateStore.request_trigger``), and retry/drop are
``commerce-sync quarantine retry|drop``.

Every value a template prints passes through ``runner.errors.redact`` (the Jinja ``finalize``
hook), and Jinja escapes it: a secret or a ``<script>`` in a record cannot reach a page raw.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from runner.console import actions, views
from runner.console.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    authorized,
    csrf_ok,
    is_loopback,
    new_csrf,
    session_value,
)
from runner.errors import redact
from runner.state.base import StateStore

__all__ = ["ConsoleOptions", "ConsoleSource", "create_app"]

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent
_OPEN_PATHS = ("/login", "/static/")
_RUN_LIMIT = 400  # run records read for a job page (job and step records together)


def _nothing_running() -> Mapping[str, Any]:
    return {}


def _no_wake() -> None:
    return None


@dataclass(frozen=True)
class ConsoleSource:
    """What the console reads and acts on; ``serve`` passes its scheduler's views."""

    project: Callable[[], Any]  # the current project (it changes when files are reloaded)
    state: StateStore
    clock: Callable[[], dt.datetime]
    running: Callable[[], Mapping[str, Any]] = _nothing_running
    wake: Callable[[], None] = _no_wake  # the scheduler looks for triggers at once
    owner: str = "console"


@dataclass(frozen=True)
class ConsoleOptions:
    read_only: bool = False
    token: str | None = None
    refresh_s: float = 5.0


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Markup):
        return value
    return redact(str(value))


def _when(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


def _when_parts(moment: dt.datetime | None) -> Markup:
    """``_when`` that wraps between date and time only (a table cell may break it)."""
    if moment is None:
        return Markup("-")
    day, _, clock = _when(moment).partition(" ")
    return Markup('<span class="nw">{}</span> <span class="nw">{}</span>').format(day, clock)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["whenw"] = _when_parts
    env.filters["duration"] = views.duration
    env.filters["q"] = lambda value: quote(str(value), safe="")
    return env


def _hostname(host: str) -> str:
    """``[::1]:8080`` -> ``::1``; ``localhost:8080`` -> ``localhost``."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


class _Guard(BaseHTTPMiddleware):
    """The token check on every request, and headers that keep the pages in their lane."""

    def __init__(self, app: Any, token: str | None) -> None:
        super().__init__(app)
        self._token = token

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.url.path
        if self._token is None and not is_loopback(_hostname(request.headers.get("host", ""))):
            # Without a token only loopback may ask: a page of another site whose name was
            # re-pointed at 127.0.0.1 (DNS rebinding) still sends its own name as Host.
            return PlainTextResponse(
                "421: this console answers to 127.0.0.1 or localhost only; set "
                "COMMERCE_SYNC_CONSOLE_TOKEN to serve it under another name\n", status_code=421,
            )
        if not path.startswith(_OPEN_PATHS) and not authorized(request, self._token):
            if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                return RedirectResponse("/login", status_code=303)
            return PlainTextResponse(
                "401: this console needs its token: send `Authorization: Bearer <token>` or "
                "sign in at /login\n", status_code=401,
            )
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
        return response


class _Pages:
    def __init__(self, source: ConsoleSource, options: ConsoleOptions) -> None:
        self.source = source
        self.options = options
        self.env = _environment()

    # --- rendering ------------------------------------------------------------------------
    def render(
        self, request: Request, name: str, status: int = 200, live: bool = True, **context: Any
    ) -> Response:
        csrf = request.cookies.get(CSRF_COOKIE) or new_csrf()
        nonce = secrets.token_urlsafe(16)
        notice = actions.NOTICES.get(request.query_params.get("notice", ""))
        html = self.env.get_template(name).render(
            csrf=csrf, nonce=nonce, read_only=self.options.read_only, notice=notice,
            refresh_ms=int(self.options.refresh_s * 1000) if live else 0,
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            f"script-src 'nonce-{nonce}'; form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'"
        )
        if request.cookies.get(CSRF_COOKIE) != csrf:
            response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict")
        return response

    def problem(self, request: Request, status: int, message: str) -> Response:
        return self.render(request, "problem.html", status=status, live=False,
                           status_code=status, message=message)

    # --- pages ------------------------------------------------------------------------------
    def overview(self, request: Request) -> Response:
        src = self.source
        jobs = src.project().jobs
        rows = views.job_rows(jobs, src.state, src.clock(), set(src.running()))
        return self.render(request, "jobs.html", rows=rows, now=src.clock())

    def job(self, request: Request) -> Response:
        name = request.path_params["job"]
        jobs = self.source.project().jobs
        if name not in jobs:
            return self.problem(request, 404, f"no job named {name!r}; see the jobs overview")
        runs = views.group_runs(self.source.state.runs(name, limit=_RUN_LIMIT))
        [row] = [r for r in views.job_rows({name: jobs[name]}, self.source.state,
                                           self.source.clock(), set(self.source.running()))]
        return self.render(request, "job.html", job=jobs[name], row=row, runs=runs,
                           duplicates=views.duplicates(self.source.state, name))

    def quarantine(self, request: Request) -> Response:
        job = request.query_params.get("job") or None
        step = request.query_params.get("step") or None
        records = self.source.state.quarantine_list(job, step)
        return self.render(request, "quarantine.html", job=job, step=step,
                           groups=views.quarantine_groups(records),
                           record_json=views.record_json)

    def login_form(self, request: Request) -> Response:
        return self.render(request, "login.html", live=False, failed=False)

    # --- actions ---------------------------------------------------------------------------
    async def _form(self, request: Request) -> dict[str, str] | Response:
        raw = (await request.body()).decode("utf-8", "replace")
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        if not csrf_ok(request, form.get("csrf")):
            return self.problem(request, 403, "the form's security token is missing or out of "
                                "date: reload the page and press the button again")
        if self.options.read_only and request.url.path != "/login":
            return self.problem(request, 403, "this console is read-only (--console-read-only)")
        return form

    async def login(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        token = self.options.token
        if not token or not secrets.compare_digest(form.get("token", "").encode(),
                                                   token.encode()):
            return self.render(request, "login.html", status=401, live=False, failed=True)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(SESSION_COOKIE, session_value(token), httponly=True,
                            samesite="strict")
        return response

    async def run_now(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        name = request.path_params["job"]
        if name not in self.source.project().jobs:
            return self.problem(request, 404, f"no job named {name!r}; see the jobs overview")
        await run_in_threadpool(actions.run_now, self.source, name)
        return _back(f"/jobs/{quote(name, safe='')}", "run-requested")

    async def retry(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        qid = int(request.path_params["qid"])
        notice = await run_in_threadpool(actions.retry, self.source, qid)
        return _back("/quarantine", notice, job=form.get("job"))

    async def drop(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        qid = int(request.path_params["qid"])
        notice = await run_in_threadpool(actions.drop, self.source, qid)
        return _back("/quarantine", notice, job=form.get("job"))


def _back(path: str, notice: str, **params: str | None) -> Response:
    query = {k: v for k, v in params.items() if v}
    query["notice"] = notice
    return RedirectResponse(f"{path}?{urlencode(query)}", status_code=303)


def create_app(source: ConsoleSource, options: ConsoleOptions | None = None) -> Starlette:
    options = options or ConsoleOptions()
    pages = _Pages(source, options)
    routes = [
        Route("/", pages.overview),
        Route("/jobs/{job}", pages.job),
        Route("/jobs/{job}/run", pages.run_now, methods=["POST"]),
        Route("/quarantine", pages.quarantine),
        Route("/quarantine/{qid:int}/retry", pages.retry, methods=["POST"]),
        Route("/quarantine/{qid:int}/drop", pages.drop, methods=["POST"]),
        Route("/login", pages.login_form, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(_Guard, token=options.token)])
