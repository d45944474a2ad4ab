"""One retry owner: the step's retrier reaches connectors through their context, and what a
connector's request exhausted is not retried again by the write around it."""

from __future__ import annotations

import pytest

from connectors.api import ConnectorContext
from runner.build import build_job
from runner.config import load_text
from runner.engine.retry import Retrier, call_with_retry
from runner.errors import RetryableError, RunFailed
from runner.spec import RetryPolicy

PIPELINE = """\
version: 1
name: j
connections:
  store:
    connector: http
    base_url: http://api
    retry: {{attempts: 8, backoff: 0.5, max_backoff: 30}}
steps:
  - name: s
    source: {{connector: csv, path: in.csv}}
    key: [sku]
    destination:
      connection: store
      upsert: {{path: /v1/p, body: "{{record}}"}}
{errors}
"""


def test_request_retries_do_not_nest_inside_the_write_retry() -> None:
    policy = RetryPolicy(attempts=3, backoff_s=0.25, max_backoff_s=1.0)
    waits: list[float] = []
    ctx = ConnectorContext(job="j", step="s", retry=Retrier(policy, waits.append),
                           sleep=waits.append)
    sent: list[int] = []

    def request() -> None:
        sent.append(1)
        raise RetryableError("POST /v1/p -> 503", retry_after=2.0)

    with pytest.raises(RunFailed, match="POST /v1/p still failing after 3 attempts"):
        call_with_retry(lambda: ctx.retry(request, "POST /v1/p"), policy, what="write",
                        sleep=waits.append)
    assert len(sent) == 3  # not 3 x 3
    assert waits == [2.0, 2.0]  # Retry-After is a floor
    assert ctx.sleep == waits.append


@pytest.mark.parametrize(
    ("errors", "expected"),
    [
        ("", RetryPolicy(attempts=8, backoff_s=0.5, max_backoff_s=30.0)),
        ("    errors: {retry: {attempts: 2, backoff: 3s}}",
         RetryPolicy(attempts=2, backoff_s=3.0, max_backoff_s=60.0)),
    ],
)
def test_a_step_keeps_its_connections_deprecated_retry_budget(
    errors: str, expected: RetryPolicy
) -> None:
    doc = load_text(PIPELINE.format(errors=errors), "p.yaml", env={})
    job = build_job(doc)
    assert job is not None
    assert job.steps[0].errors.retry == expected
