"""Reverse-ETL: diffed, idempotent writebacks from payload models to the systems people work in."""
