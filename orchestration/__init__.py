"""Dagster definitions, the ``q2c`` command and the demo: the only package that imports the others."""
