"""The sandbox store: an HTTP API standing in for the online store (issue #5).

``create_app(data_path, api_key, faults=None, rate_limit=None, clock=time.monotonic)`` returns
the ASGI app; serve it with uvicorn (``commerce-sync sandbox`` does). ``storage`` reads a data
file directly. The REST API is described by schemas/sandbox.openapi.yaml, the GraphQL API
(``/graphql``) by schemas/sandbox.graphql; ``FaultConfig`` switches faults, the behaviours of
real stores (create-always, errors in 200) and the rate budgets.
"""

from runner.demo.sandbox import storage
from runner.demo.sandbox.app import create_app
from runner.demo.sandbox.faults import FaultConfig, Gate

__all__ = ["FaultConfig", "Gate", "create_app", "storage"]
