"""The stack the end-to-end tests and benchmarks start: its ports never race the dev server's own, and a dev server
that dies at start is started again."""

import socket
import sys
from pathlib import Path

import pytest

from scripts import stack as stack_module
from scripts.stack import BIN, Stack, free_port


def test_free_ports_are_free_distinct_and_outside_the_ephemeral_range():
    low, high = stack_module._ephemeral_range()
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    for port in ports:
        assert not low <= port <= high
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_dev_server_that_dies_at_start_is_started_again(tmp_path: Path):
    # the first start dies as a dev server whose internal port was taken does (a Go panic: exit 2)
    marker = tmp_path / "died-once"
    launcher = tmp_path / "dev-server.py"
    launcher.write_text(
        "import os, sys\n"
        f"marker = {str(marker)!r}\n"
        "if not os.path.exists(marker):\n"
        "    open(marker, 'w').close()\n"
        "    print('panic: listen tcp 127.0.0.1:1: bind: address already in use')\n"
        "    sys.exit(2)\n"
        "os.execv(sys.argv[1], sys.argv[1:])\n")
    port = free_port()
    s = Stack(var=tmp_path, quiet=True)
    s.ports.temporal = port
    args = [sys.executable, str(launcher), str(BIN / "temporal"), "server", "start-dev", "--headless",
            "--db-filename", str(tmp_path / "temporal.db"), "--ip", "127.0.0.1", "--port", str(port),
            "--ui-port", str(free_port()), "--log-level", "warn"]
    try:
        s._start_temporal(args)
        assert marker.exists()
        assert [p.poll() for p in s.procs] == [None]  # the dead one is forgotten, the second one runs
    finally:
        s.stop()


def test_a_process_that_dies_says_why_from_its_log(tmp_path: Path):
    s = Stack(var=tmp_path, quiet=True)
    proc = s.spawn("doomed", [sys.executable, "-c", "print('bind: address already in use'); raise SystemExit(2)"],
                   "doomed.log")
    proc.wait()
    with pytest.raises(RuntimeError, match=r"(?s)exited with 2.*bind: address already in use"):
        s.check_alive()
