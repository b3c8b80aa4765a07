"""A workflow that tries one forbidden thing, for tests/test_sandbox.py (a module of its own: the sandbox imports
a workflow's module again for each run)."""

from temporalio import workflow


@workflow.defn(name="SandboxProbe")
class SandboxProbeWorkflow:
    @workflow.run
    async def run(self, probe: str) -> str:
        if probe == "open":
            with open("/etc/hostname") as f:
                return f.read()
        if probe == "listdir":
            import os

            return str(os.listdir("."))
        if probe == "socket":
            import socket

            socket.create_connection(("127.0.0.1", 9))
        if probe == "http":
            import urllib.request

            urllib.request.urlopen("http://127.0.0.1:9")
        if probe == "subprocess":
            import subprocess

            subprocess.run(["true"], check=True)
        if probe == "sleep":
            import time

            time.sleep(0.01)
        if probe == "clock":
            import datetime

            return str(datetime.datetime.now())
        if probe == "passthrough":  # a passthrough module is the worker's own, loaded once
            from domain import clock
            from workflows.orders import contract

            return f"{id(clock)} {id(contract)}"
        return "nothing tried"
