"""CPU time of the processes a benchmark measures, read from Linux's /proc: unlike wall time,
not inflated by other work competing for the machine's cores. The servers themselves are started
by `tests.support.servers.UsagebookServer`, as the fault tests start theirs."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu(pid: int) -> float:
    """CPU seconds of a server and its worker processes (`usagebook serve --workers N`)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return cpu_seconds(pid) + sum(cpu_seconds(int(child)) for child in children)


def postgres_cpu(database: str) -> float:
    """CPU seconds used so far by PostgreSQL for one database: the backends connected to it, and
    the server's own processes (WAL writer, checkpointer...), but not backends of other
    databases (other engineers' tests share the server)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().decode(errors="replace")
                backend = "(" in title or "[local]" in title  # "user db host(port) ..."
                if title.startswith("postgres:") and (not backend or f" {database} " in title):
                    total += cpu_seconds(int(entry.name))
            except (OSError, IndexError):
                continue  # gone meanwhile
    return total
