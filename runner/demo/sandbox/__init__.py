"""The sandbox store: an HTTP API standing in for the online store (issue #5).

``create_app(data_path, api_key, faults=None, rate_limit=None)`` returns the ASGI app; serve it
with uvicorn (``commerce-sync sandbox`` does). ``storage`` reads a data file directly.
"""

from runner.demo.sandbox import storage
from runner.demo.sandbox.app import create_app
from runner.demo.sandbox.faults import FaultConfig, Gate

__all__ = ["FaultConfig", "Gate", "create_app", "storage"]
