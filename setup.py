"""Only what pyproject.toml cannot say: ``schemas/`` (kept at the repository top, where editors
point at it) ships inside the wheel as ``runner/schemas``. Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["runner*", "connectors*"]), "runner.schemas"],
    package_dir={"runner.schemas": "schemas"},
    package_data={"runner.schemas": ["*.json", "*.yaml"]},
)
