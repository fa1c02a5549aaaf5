"""Benchmarks of the Truc hub against the raw engines, measured in the same run.

``python -m bench`` (``make bench``) or ``python -m bench --quick`` (``make bench-quick``);
see docs/benchmarks.md. Every result is one JSON line on stdout and in
``bench/results/<timestamp>.jsonl``.
"""
