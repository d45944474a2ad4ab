"""Connector plugins. The public API for writing one is :mod:`connectors.api`."""
