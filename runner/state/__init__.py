"""State between runs: see :mod:`runner.state.base` for the protocol."""
