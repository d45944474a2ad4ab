"""One HTTP client per opened source or sink: rate limit, auth, response decisions.

Every request goes through :meth:`HttpClient.send`, which is the edge where httpx exceptions
become RetryableError/FatalError and where logged URLs lose their query strings.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import functools
import logging
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import httpx
import orjson

from connectors.api import MISSING, ConnectorContext, get_path
from runner.errors import FatalError, RecordError, RetryableError, redact

from .auth import Auth, build_auth
from .bodies import graphql_error, html_text, jsonrpc_error, looks_like_html, rest_error
from .options import DEFAULT_MAX_IN_FLIGHT, HttpOptions, ResponseRule, Timeouts
from .pacing import Pacer, Slot, retry_after_seconds
from .tls import LazyVerifyingContext

__all__ = ["Decision", "HttpClient", "Reply", "Rule", "encode_json"]

log = logging.getLogger(__name__)


class _RedactHttpxLog(logging.Filter):
    """httpx logs every request URL at INFO, query string included, where an API key may sit;
    mask registered secrets in those records wherever the application sends them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def _guard_httpx_log() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactHttpxLog) for f in logger.filters):
        logger.addFilter(_RedactHttpxLog())

Protocol = Literal["rest", "graphql", "jsonrpc"]
_EXCERPT = 200
# Statuses that say "not now" whatever the body: timeouts, rate limits, gateways, overload.
_TEMPORARY = frozenset({408, 429, 502, 503, 504})


class Decision(enum.Enum):
    OK = "ok"
    IGNORE = "ignore"
    RETRY = "retry"
    FAIL = "fail"
    QUARANTINE = "quarantine"


@dataclass(frozen=True)
class Rule:
    """One ``responses`` entry: all given conditions must hold."""

    action: Decision
    status: frozenset[int] | None = None
    path: str | None = None
    contains: str | None = None

    @classmethod
    def from_options(cls, options: ResponseRule) -> Rule:
        match = options.match
        return cls(
            action=Decision(options.action),
            status=frozenset(match.status) if match.status else None,
            path=match.path,
            contains=match.contains,
        )

    def matches(self, reply: Reply) -> bool:
        if self.status is not None and reply.status not in self.status:
            return False
        if self.path is not None:
            value = get_path(reply.json(), self.path)
            if value is MISSING or value in (None, "", [], {}):
                return False
            if self.contains is not None:
                text = value if isinstance(value, str) else orjson.dumps(value).decode()
                return self.contains in text
            return True
        return self.contains is None or self.contains in reply.response.text


class Reply:
    """A response with its decision and a lazily decoded JSON body (MISSING if not JSON)."""

    def __init__(self, response: httpx.Response, method: str) -> None:
        self.response = response
        self.method = method
        self.decision = Decision.OK
        self._body: Any = None
        self._decoded = False

    @property
    def status(self) -> int:
        return self.response.status_code

    def json(self) -> Any:
        if not self._decoded:
            try:
                self._body = orjson.loads(self.response.content) if self.response.content else None
            except orjson.JSONDecodeError:
                self._body = MISSING
            self._decoded = True
        return self._body

    def where(self) -> str:
        return f"{self.method} {self.response.request.url.path}"

    def describe(self) -> str:
        """``POST /v1/orders -> 422: <body excerpt>``; no query string, secrets masked; an HTML
        page is given as its text, not its markup."""
        text = self.response.text
        if looks_like_html(self.response.headers.get("content-type", ""), text):
            text = html_text(text)
        else:
            text = text[:_EXCERPT].replace("\n", " ")
        return redact(f"{self.where()} -> {self.status}: {text}")

    def embedded_error(self, protocol: Protocol, single_record: bool = True) -> str | None:
        """The error an answer carries in its body: GraphQL ``errors``, ``userErrors`` or a
        typed error result; a JSON-RPC ``error`` member; the non-empty ``errors`` of a
        successful REST answer to one record (a REST batch's answer is read per record, and a
        4xx is better told by its status)."""
        if protocol == "graphql":
            found = graphql_error(self.json())
        elif protocol == "jsonrpc":
            found = jsonrpc_error(self.json())
        elif single_record and 200 <= self.status < 300:
            found = rest_error(self.json())
        else:
            return None
        return None if found is None else redact(f"{self.where()}: {found}")


# The JSON text of the Decimals met, by identity: a mapping's decimal conversion gives one
# object per distinct price (runner.transforms.convert), and a body of 500 products encodes
# in 0.14 ms instead of 0.27 when each price's text is made once (format + Fragment, ~0.5 us).
# Keyed by id with the object kept, so an id is never reused while its entry lives; Decimal
# equality would not do, since 1.0 == 1.00 but their texts differ. Cleared when full.
_DECIMAL_TEXTS: dict[int, tuple[decimal.Decimal, orjson.Fragment]] = {}
_DECIMAL_TEXTS_MAX = 4096


def _default(value: Any) -> Any:
    if type(value) is decimal.Decimal:
        found = _DECIMAL_TEXTS.get(id(value))
        if found is not None and found[0] is value:
            return found[1]
        if not value.is_finite():
            return str(value)
        # A JSON number with the exact digits; a float would round prices.
        text = orjson.Fragment(format(value, "f"))
        if len(_DECIMAL_TEXTS) >= _DECIMAL_TEXTS_MAX:
            _DECIMAL_TEXTS.clear()
        _DECIMAL_TEXTS[id(value)] = (value, text)
        return text
    if isinstance(value, decimal.Decimal):  # a subclass: not remembered
        return orjson.Fragment(format(value, "f")) if value.is_finite() else str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def encode_json(value: Any) -> bytes:
    """Encode a request body. What cannot be encoded comes from a record's data (bytes from a
    BLOB column, a lone surrogate), so it is a record error: the sink quarantines that record."""
    try:
        return orjson.dumps(value, default=_default)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise RecordError(f"the record cannot be encoded as JSON: {exc}") from exc


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # One verifying context serves every client; its CA bundle (~30 ms) is loaded on the first
    # TLS connection, so a run against an http:// API never loads it (connectors.http.tls).
    return cast(ssl.SSLContext, LazyVerifyingContext())


def _timeout(option: float | Timeouts) -> httpx.Timeout:
    if isinstance(option, Timeouts):
        connect, read = option.connect, option.read
        return httpx.Timeout(read, connect=connect, read=read, write=read, pool=connect)
    return httpx.Timeout(float(option))


def _raise_if_tls_refused(exc: BaseException, host: str) -> None:
    """A certificate that fails verification will fail the same way on every retry (a retry
    budget of 8 attempts per call, times the engine's, kept a run busy for minutes): stop at
    once and say what to do."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            raise FatalError(
                f"the TLS certificate of {host} could not be verified "
                f"({cause.verify_message or 'verification failed'}); install a certificate "
                "your system trusts, or, for a test server only, set verify_tls: false"
            ) from exc
        cause = cause.__cause__ or cause.__context__
    return None


class HttpClient:
    """Sends requests for one source or sink. Thread-safe: batch writes share it."""

    def __init__(self, options: HttpOptions, ctx: ConnectorContext,
                 max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> None:
        _guard_httpx_log()
        self.base_url = options.base_url.rstrip("/")
        self._origin = httpx.URL(self.base_url)
        self._ctx = ctx
        self._headers = dict(options.headers)
        self.rules = tuple(Rule.from_options(r) for r in options.responses)
        self._pacer = Pacer(
            max_in_flight=max_in_flight,
            rate_limit=options.rate_limit, clock=ctx.clock, sleep=ctx.sleep,
            where={"job": ctx.job, "step": ctx.step},
        )
        verify = options.verify_tls
        if not verify:
            log.warning(
                "http.tls_verification_disabled",
                extra={"job": ctx.job, "step": ctx.step, "host": self._origin.host},
            )
        if ctx.http_client is not None:
            self._client = ctx.http_client
            self._owned = False
        else:
            http2 = options.http2
            if http2:
                try:
                    import h2  # noqa: F401
                except ImportError as exc:
                    raise FatalError(
                        "http2: true needs the h2 package; install it with "
                        "pip install 'httpx[http2]' or set http2: false"
                    ) from exc
            self._client = httpx.Client(
                timeout=_timeout(options.timeout),
                verify=_ssl_context() if verify else False,
                http2=http2,
                follow_redirects=True,
            )
            self._owned = True
        self.auth: Auth = build_auth(options.auth, self._send_raw, self.url)

    # --- URLs ---------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """An absolute URL for ``path``: relative paths are appended to base_url."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url

    def follow(self, link: str) -> str:
        """The absolute URL of a next-page link, refused when it leaves the API's origin
        (following it would send our credentials to another host)."""
        url = httpx.URL(self.base_url + "/").join(link)
        if (url.scheme, url.host, url.port) != (
            self._origin.scheme,
            self._origin.host,
            self._origin.port,
        ):
            raise FatalError(
                f"next-page link points to another host ({url.host}); refusing to send "
                "credentials there"
            )
        return str(url)

    # --- sending ------------------------------------------------------------------------------

    def _send_raw(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """For auth flows: no auth, no rules, transport errors translated."""
        try:
            return self._client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise RetryableError(f"{method} {httpx.URL(url).path} timed out") from exc
        except httpx.HTTPError as exc:
            _raise_if_tls_refused(exc, httpx.URL(url).host)
            raise RetryableError(
                f"{method} {httpx.URL(url).path} failed: {type(exc).__name__}"
            ) from exc

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = MISSING,
        headers: Mapping[str, str] | None = None,
        protocol: Protocol = "rest",
        single_record: bool = False,
    ) -> Reply:
        """Send one request; returns a Reply whose decision is OK, IGNORE, FAIL or QUARANTINE.

        A temporary failure (408, 429, 5xx, a transport error, a ``retry`` rule) raises
        RetryableError with the server's Retry-After; whether and when the request is sent
        again is the framework's decision (``ctx.retry``), never this client's: two nested
        retry loops once turned one failing batch into 80 requests."""
        method = method.upper()
        url = self.url(path)
        all_headers = {**self._headers, **(headers or {})}
        content: bytes | None = None
        if body is not MISSING:
            content = encode_json(body)
            all_headers["Content-Type"] = "application/json"
        query = {k: _param(v) for k, v in (params or {}).items()}

        cost_body = body if protocol == "graphql" else None  # the pacer learns query costs

        def attempt() -> Reply:
            return self._attempt(method, url, query, content, all_headers, protocol,
                                 single_record, cost_body)

        return self._ctx.retry(attempt, f"{method} {httpx.URL(url).path}")

    def _attempt(
        self, method: str, url: str, query: Mapping[str, Any], content: bytes | None,
        headers: Mapping[str, str], protocol: Protocol, single_record: bool, cost_body: Any,
    ) -> Reply:
        """One attempt: the request, and once more with a renewed credential after a 401 (a
        renewed credential is not a retry of a failing server)."""
        renewed = False
        while True:
            response, slot = self._exchange(method, url, query, content, headers, cost_body)
            reply = Reply(response, method)
            throttled = slot.observe(response, reply.json)  # pacing hook: the server's budget
            if response.status_code == 401 and not renewed and self.auth.renew():
                renewed = True
                log.info("http.reauthenticate", extra={
                    "job": self._ctx.job, "step": self._ctx.step, "path": reply.where()})
                continue
            reply.decision = self.decide(reply, protocol, single_record)
            if throttled:  # e.g. a GraphQL THROTTLED error inside a 200
                reply.decision = Decision.RETRY
            if reply.decision is Decision.RETRY:
                # a date is read once: the pacer's pause and the retrier's wait end together
                delay = (slot.retry_after if slot.retry_after is not None
                         else retry_after_seconds(response.headers.get("Retry-After")))
                log.warning("http.retryable", extra={
                    "job": self._ctx.job, "step": self._ctx.step, "path": reply.where(),
                    "status": reply.status, "retry_after_s": delay})
                raise RetryableError(
                    f"{reply.describe()} (a temporary failure: the API is overloaded or "
                    "failing; if it persists, try again later or raise errors.retry)",
                    retry_after=delay,
                )
            return reply

    def _exchange(
        self, method: str, url: str, query: Mapping[str, Any], content: bytes | None,
        headers: Mapping[str, str], cost_body: Any,
    ) -> tuple[httpx.Response, Slot]:
        request = self._client.build_request(
            method, url, params=query or None, content=content, headers=headers
        )
        self.auth.apply(request)
        slot = self._pacer.before(cost_body)  # pacing hook: waits for the server's budget
        started = self._ctx.clock()
        try:
            response = self._client.send(request)
            response.read()
            # httpx leaves a response in a reference cycle with its stream (the stream holds
            # the response), so the bodies of the request and the response lived until the
            # collector's next pass instead of until the batch was done with them. Read and
            # closed, the response needs no more than its bytes.
            response.stream = httpx.ByteStream(response.content)
        except httpx.HTTPError as exc:
            _raise_if_tls_refused(exc, request.url.host)
            kind = "timed out" if isinstance(exc, httpx.TimeoutException) else (
                f"failed ({type(exc).__name__})"
            )
            raise RetryableError(
                f"{method} {request.url.path} {kind}; the API may be down or slow (raise "
                "timeout if it is just slow)"
            ) from exc
        finally:
            slot.release()
        log.debug(
            "http.response",
            extra={"job": self._ctx.job, "step": self._ctx.step, "method": method,
                   "path": request.url.path, "status": response.status_code,
                   "duration_s": round(self._ctx.clock() - started, 4)},
        )
        return response, slot

    def decide(self, reply: Reply, protocol: Protocol, single_record: bool) -> Decision:
        for rule in self.rules:
            if rule.matches(reply):
                return rule.action
        status = reply.status
        if 200 <= status < 300:
            if reply.embedded_error(protocol, single_record) is not None:
                return Decision.QUARANTINE if single_record else Decision.FAIL
            return Decision.OK
        if status in _TEMPORARY:
            return Decision.RETRY
        if protocol == "jsonrpc" and reply.embedded_error(protocol) is not None:
            # A JSON-RPC error member is the application's answer to this call, whatever the
            # status it came with (some servers send 400 or 500): sending it again gets the
            # same answer.
            return Decision.QUARANTINE if single_record else Decision.FAIL
        if status >= 500:
            return Decision.RETRY
        if 400 <= status < 500 and status not in (401, 403) and single_record:
            return Decision.QUARANTINE
        return Decision.FAIL

    def close(self) -> None:
        if self._owned:
            self._client.close()


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_param(v) for v in value]
    return value
