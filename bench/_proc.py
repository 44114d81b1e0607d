"""Helpers the benchmarks share for the server processes they start on loopback (the servers
themselves are started by `tests.servers.UsagebookServer`, as the fault tests start theirs)."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc): unlike wall time,
    not inflated by other work competing for the machine's cores."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
