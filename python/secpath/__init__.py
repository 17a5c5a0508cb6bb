"""secpath for Python: what Azure's network security layers do to a flow, decided offline.

The package wraps the `secpath` Rust library (the same code as the `secpath` command):

* :class:`Policy` loads a snapshot (ARM JSON, secpath DSL, directories of both) under the
  switches D1-D7, as ``secpath --snapshot`` does, and compiles it once;
* :meth:`Policy.evaluate` decides an Arrow record batch of flows and returns a record batch
  of verdicts, through the Arrow C data interface (no Python per row, no copy of columns);
* :meth:`Policy.explain` returns the explain JSON of one flow as a dict;
* :func:`read_records` reads one flow-log blob (or capture, or tuple file) with secpath's own
  readers into a record batch, with the skip counts by reason;
* :meth:`Policy.replay_files` reads and judges whole files as ``secpath replay`` does, one
  row per record; :meth:`Policy.replay_totals` does the same and adds up per batch, which is
  what the Spark job (:mod:`secpath.spark`) runs on executors.

Bad input raises :class:`SecpathError` whose message is the CLI's located message (what
``secpath`` prints after ``error:``). See ``docs/spark.md``.
"""

from ._secpath import (
    Policy,
    SecpathError,
    __version__,
    input_formats,
    read_records,
    replay_schema,
    top_denied,
    totals_schema,
)

__all__ = [
    "Policy",
    "SecpathError",
    "__version__",
    "input_formats",
    "read_records",
    "replay_schema",
    "top_denied",
    "totals_schema",
]
