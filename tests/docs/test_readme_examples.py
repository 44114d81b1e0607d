"""The README's shell examples run as written after `make demo`: every ```sh block marked
`<!-- runnable -->` is run, in order, in one bash session, against a real `usagebook serve` on
a small demo made by `usagebook demo --env-file` exactly as `make demo` makes it. The only
change is the port (the demo's 8000 may be taken). curl is given --fail-with-body, so any
answer other than 2xx fails the test."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.servers import UsagebookServer

README = Path(__file__).resolve().parents[2] / "README.md"
RUNNABLE = re.compile(r"<!-- runnable -->\n```(\w+)\n(.*?)\n```", re.S)
PYTHON = ".venv/bin/python"
PREAMBLE = """set -euo pipefail
curl() { command curl --fail-with-body -sS "$@"; }
"""


def runnable_blocks(language: str) -> list[str]:
    blocks = [(lang, body) for lang, body in RUNNABLE.findall(README.read_text())]
    return [body for lang, body in blocks if lang == language]


def read_env_file(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            found[name] = shlex.split(value)[0]
    return found


class Demo:
    """A folder laid out as a clone after `make demo`: demo-data/ and .venv/bin."""

    def __init__(self, root: Path, server: UsagebookServer) -> None:
        self.root = root
        self.server = server

    def localise(self, text: str) -> str:
        return text.replace("127.0.0.1:8000", f"127.0.0.1:{self.server.port}")

    def run(self, script: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("USAGEBOOK_", "DEMO_"))}
        return subprocess.run(["bash", "-c", PREAMBLE + self.localise(script)], cwd=self.root,
                              env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("clone")
    (root / ".venv").symlink_to(Path(sys.executable).parent.parent)  # the suite's own venv
    env_file = root / "demo-data" / "usagebook.env"
    subprocess.run([str(root / ".venv/bin/usagebook"), "demo", "--entries", "400",
                    "--database-url", "sqlite:///demo-data/usagebook.db", "--env-file",
                    str(env_file)], cwd=root, check=True, capture_output=True, timeout=300)
    server = UsagebookServer(env=read_env_file(env_file), log_path=root / "serve.log")
    server.start()
    try:
        yield Demo(root, server)
    finally:
        server.stop()


def test_the_readme_marks_its_examples() -> None:
    assert len(runnable_blocks("sh")) >= 6
    assert any("/api/v1/usage/events" in block for block in runnable_blocks("sh"))
    assert any("usage-history?cursor=" in block for block in runnable_blocks("sh"))


def test_the_readme_shell_examples_run_as_written(demo: Demo) -> None:
    script = "\n".join(f"echo '=== README block {n}'\n{block}"
                       for n, block in enumerate(runnable_blocks("sh"), 1))
    ran = demo.run(script)
    assert ran.returncode == 0, f"{ran.stdout[-3000:]}\n{ran.stderr[-3000:]}"
    assert '"status":"recorded"' in ran.stdout or '"status":"duplicate"' in ran.stdout
    assert "readme-1" in ran.stdout.rsplit("=== README block", 1)[0]  # read back by the CLI
    assert "FAILED" not in ran.stderr


def test_the_readme_client_example_runs_as_written(demo: Demo) -> None:
    (example,) = runnable_blocks("python")
    ran = demo.run(f". demo-data/usagebook.env\n{PYTHON} - <<'PY'\n{example}\nPY")
    assert ran.returncode == 0, ran.stderr[-3000:]
    statuses, read_back, recent = ran.stdout.splitlines()[-5:-2], *ran.stdout.splitlines()[-2:]
    assert all(line.split()[0] in ("recorded", "duplicate") for line in statuses), ran.stdout
    assert "client-example-" in read_back
    assert int(recent.split()[0]) >= 3


EXAMPLE = README.parent / "docs" / "examples" / "inference_server.py"


def marked_block(marker: str) -> str:
    """The code block right after `<!-- marker -->` in the README."""
    found = re.search(rf"<!-- {re.escape(marker)} -->\n```\w+\n(.*?)```", README.read_text(), re.S)
    assert found, marker
    return found[1]


def test_the_readme_shows_the_inference_server_example_whole() -> None:
    assert marked_block(f"example: {EXAMPLE.relative_to(README.parent)}") == EXAMPLE.read_text()


def test_the_inference_server_example_records_each_call(demo: Demo) -> None:
    """The guide as a newcomer runs it: the example server beside the demo's, one call with
    the demo's INFERENCE key, the server stopped (its queue flushed), the entries read back."""
    (demo.root / "docs").mkdir(exist_ok=True)
    (demo.root / "docs" / "examples").mkdir(exist_ok=True)
    shutil.copy(EXAMPLE, demo.root / "docs" / "examples" / EXAMPLE.name)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ran = demo.run(marked_block("runnable: inference server").replace("8100", str(port)))
    assert ran.returncode == 0, f"{ran.stdout[-3000:]}\n{ran.stderr[-3000:]}"
    # stdout holds the server's access log lines too: the two answers are found by their start.
    decoder = json.JSONDecoder(parse_float=Decimal)  # exact, as written
    completion, read_back = (decoder.raw_decode(ran.stdout, ran.stdout.index(start))[0]
                             for start in ('{"id":"chatcmpl-', '{"warningMessage"'))
    tokens = completion["usage"]
    assert tokens["prompt_tokens"] == 2 and tokens["completion_tokens"] == 2
    recorded = {(e["sku"], str(e["units"])) for e in read_back["data"]
                if e["inferenceDetails"]["requestId"] == completion["id"]}
    # Recorded while the server stopped at the latest: no call ends without its entries.
    assert recorded == {("llama-3.3-70b-llm-input-mtoken", "0.000002"),
                        ("llama-3.3-70b-llm-output-mtoken", "0.000002")}
    assert all(e["inferenceDetails"]["promptTokens"] == 2 for e in read_back["data"])
