"""Type stubs of the `secpath._secpath` extension module (see `secpath/__init__.py`)."""

from os import PathLike
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union

import pyarrow as pa

__version__: str

_Path = Union[str, "PathLike[str]"]

class SecpathError(Exception):
    """Bad snapshot, DSL, flow or input; the message is the CLI's located message."""

class Policy:
    """A snapshot resolved under switches D1-D7 and compiled; immutable, thread-safe."""

    @staticmethod
    def load(
        paths: Union[_Path, Sequence[_Path]],
        *,
        service_tags: Optional[_Path] = None,
        manager_precedence: Literal["tiered", "merged"] = "tiered",
        assume_deployed: bool = True,
        any_protocol: Literal["all", "tcp-udp-icmp"] = "all",
        empty_match: Literal["any", "none"] = "any",
        always_allow_scope: Literal["side", "path"] = "side",
        admin_stateless: bool = False,
        no_nsg: Literal["pass", "deny"] = "pass",
        lenient: bool = False,
        stateless: bool = False,
        idle_timeout: int = 240,
    ) -> "Policy":
        """Loads what ``--snapshot`` reads, with the CLI's switches (and replay's
        ``--stateless`` / ``--idle-timeout``). Raises SecpathError with the located message."""

    @property
    def warnings(self) -> List[str]:
        """What the resolver wants the user to know."""

    @property
    def switches(self) -> Dict[str, Any]:
        """The switches this policy was loaded with."""

    def explain(
        self, flow: str, *, from_: Optional[str] = None, to: Optional[str] = None
    ) -> Dict[str, Any]:
        """The explain JSON (docs/explain-json.md) of ``PROTO SRC[:PORT] -> DST[:PORT]``."""

    def evaluate(
        self, batch: pa.RecordBatch, *, errors: Literal["raise", "skip"] = "raise"
    ) -> pa.RecordBatch:
        """Decides each row along the whole path, as ``secpath eval``.

        In: ``protocol`` (name or number), ``src``, ``dst``, ``src_port``, ``dst_port``,
        optional ``from`` / ``to``. Out: ``verdict``, ``layer``, ``side``, ``rule``,
        ``resource``, ``priority``, ``error`` (with ``errors="skip"``, the reason a row was
        not decided; with ``"raise"``, SecpathError ``row N: reason``)."""

    def replay_files(
        self, batch: pa.RecordBatch, *, input_format: str = "auto"
    ) -> pa.RecordBatch:
        """Reads and judges files (``path`` or ``name`` string, and ``content`` binary or
        ``local_path``, a file this process opens) as ``secpath replay`` does: one row per
        record read, schema :func:`replay_schema`."""

    def replay_totals(
        self,
        batch: pa.RecordBatch,
        *,
        input_format: str = "auto",
        disagreements_per_file: Optional[int] = None,
        denied_buckets: int = 1,
    ) -> pa.RecordBatch:
        """Like :meth:`replay_files` but summed per batch: rows (``kind``, ``key``,
        ``layer``, ``is_default``, ``count``) for counts, skip reasons and rule hits; a row
        per bucket of denied flows (``bucket``, and in ``blob`` the flows and counts packed,
        for :func:`top_denied`; flows are hashed into ``denied_buckets`` buckets); and one row
        per disagreement with its details (at most ``disagreements_per_file`` per file),
        these last; schema :func:`totals_schema`."""

    def replay_report(self, totals_json: str) -> Tuple[str, Dict[str, Any]]:
        """``secpath replay``'s summary from totals: the text and the JSON report."""

def read_records(
    data: bytes, name: str = "-", *, input_format: str = "auto"
) -> Tuple[pa.RecordBatch, Dict[str, int]]:
    """One file's records as read (flow, logged decision, or skip reason), and the skip
    counts by reason."""

def replay_schema() -> pa.Schema:
    """The schema of :meth:`Policy.replay_files`' rows."""

def top_denied(blobs: Any, k: int = 10) -> pa.RecordBatch:
    """The ``k`` most frequent denied flows of one bucket, from a table (or any Arrow
    stream) whose ``blob`` column holds that bucket's packs from any number of
    :meth:`Policy.replay_totals` batches: ``key`` (as :meth:`Policy.replay_report` reads
    them) and ``count``, most frequent first, ties as the CLI breaks them. Raises
    ``ValueError`` for a malformed pack."""

def totals_schema() -> pa.Schema:
    """The schema of :meth:`Policy.replay_totals`' rows."""

def input_formats() -> List[str]:
    """The input format names: auto, nsg, vnet, pcap, pcapng, flows."""
