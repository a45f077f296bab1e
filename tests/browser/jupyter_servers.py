"""JupyterLab, Notebook 7 and Voilà as subprocesses on 127.0.0.1, isolated from the user's setup.

Each server gets a free port, a token, a root dir holding the notebooks it serves, and
config, data, runtime, settings and workspace dirs of its own under a temp dir, so no
user setting (commsOverSubshells included) changes what the tests see: JupyterLab runs
with its defaults.  Only two switches are set, both to keep the server off the network
(this machine reaches nothing beyond loopback): no news feed, no update check.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Seconds a server may take to answer its first request (a cold 2-core machine).
START_DEADLINE = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def isolated_env(home: Path) -> dict[str, str]:
    """The environment for a server (and its kernels): no key, no user config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MISTRAL_", "JUPYTER"))}
    dirs = {
        "JUPYTER_CONFIG_DIR": home / "config",
        "JUPYTER_DATA_DIR": home / "data",
        "JUPYTER_RUNTIME_DIR": home / "runtime",
        "JUPYTERLAB_SETTINGS_DIR": home / "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": home / "lab-workspaces",
        "IPYTHONDIR": home / "ipython",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    env.update({name: str(path) for name, path in dirs.items()})
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    return env


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A notebook of code cells, unexecuted, for the python3 kernel."""
    notebook: dict[str, Any] = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "cells": [
            {
                "cell_type": "code",
                "id": f"cell-{i}",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": source.strip(),
            }
            for i, source in enumerate(cells)
        ],
    }
    path.write_text(json.dumps(notebook, indent=1))
    return path


@dataclass
class Server:
    """A running Jupyter server process and how to reach it."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    token: str
    root: Path
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """``path`` on this server, with the token as a query parameter."""
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{sep}token={self.token}"

    def shut_down_kernels(self) -> None:
        """Shut down every kernel the server runs: a closed page leaves its kernel alive,
        and a module of tests would otherwise keep one kernel per test to its end."""
        with urllib.request.urlopen(self.url("api/kernels"), timeout=10) as response:
            kernels = json.load(response)
        for kernel in kernels:
            request = urllib.request.Request(
                self.url(f"api/kernels/{kernel['id']}"), method="DELETE"
            )
            with urllib.request.urlopen(request, timeout=30):
                pass

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def wait_ready(self, path: str | None) -> None:
        """Wait until ``path`` answers 200 (None: until the port accepts connections)."""
        deadline = time.monotonic() + START_DEADLINE
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.process.returncode}):\n{self.output()}"
                )
            try:
                if path is None:
                    # Voilà's only page runs the notebook: knocking is enough.
                    socket.create_connection(("127.0.0.1", self.port), timeout=5).close()
                    return
                with urllib.request.urlopen(self.url(path), timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.name} did not answer in {START_DEADLINE:.0f} s:\n{self.output()}"
                )
            time.sleep(0.25)

    def stop(self) -> None:
        """Stop the server and the kernels it started (they share its process group)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # kernels left behind, if any
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)


def _start(
    name: str, args: list[str], home: Path, root: Path, port: int, token: str, ready: str | None
) -> Server:
    """``python -m *args`` as a server on ``port``; returns once ``ready`` answers (see
    :meth:`Server.wait_ready`), or stops it and raises."""
    log = home / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=root,
            env=isolated_env(home),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends its kernels too
        )
    server = Server(name, process, port, token, root, log)
    try:
        server.wait_ready(ready)
    except BaseException:
        server.stop()
        raise
    return server


def _start_server_app(name: str, module: str, home: Path, root: Path, *extra: str) -> Server:
    """A jupyter_server application (JupyterLab, Notebook 7) on 127.0.0.1, serving ``root``."""
    port, token = free_port(), secrets.token_hex(16)
    args = [
        module,
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.allow_root=True",  # CI runs as root
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        *extra,
    ]
    return _start(name, args, home, root, port, token, "api/status")


def start_lab(home: Path, root: Path) -> Server:
    """JupyterLab with its default settings, serving ``root``."""
    return _start_server_app(
        "jupyterlab",
        "jupyterlab",
        home,
        root,
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    )


def start_notebook7(home: Path, root: Path) -> Server:
    """Jupyter Notebook 7 with its default settings, serving ``root``."""
    return _start_server_app("notebook7", "notebook", home, root)


def start_voila(home: Path, root: Path, notebook: str) -> Server:
    """Voilà serving one notebook of ``root``."""
    port, token = free_port(), secrets.token_hex(16)
    args = [
        "voila",
        notebook,
        "--no-browser",
        "--Voila.ip=127.0.0.1",
        f"--Voila.port={port}",
        "--Voila.port_retries=0",
        f"--Voila.token={token}",
    ]
    return _start("voila", args, home, root, port, token, None)
