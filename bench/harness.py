"""Shared by the benchmarks: a moto_server in its own process and child-process measurement.

The harness itself imports neither boto3 nor moto, so a measured child's peak RSS is its own
(a child forked from a big parent would count the parent's pages until it execs).
"""

from __future__ import annotations

import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Run:
    """One measured child: wall seconds, peak RSS in MiB, its stdout, CPU seconds."""

    wall_s: float
    peak_mib: float
    stdout: str
    returncode: int
    cpu_s: float = 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fake_env(url: str) -> dict[str, str]:
    """Credentials that reach nothing but the local moto_server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "COSTGUARD_"))}
    env.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    return env


@contextmanager
def moto_server():
    """A moto_server on a free port for the duration; yields its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, MOTO_EC2_LOAD_DEFAULT_AMIS="false"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def measure(cmd: list[str], env: dict[str, str]) -> Run:
    """Run a child to completion; wall time around it, its own peak RSS from wait4."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            cwd=ROOT)
    out = proc.stdout.read().decode() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(wall, usage.ru_maxrss / 1024, out, proc.returncode,
               usage.ru_utime + usage.ru_stime)


def compiled() -> None:
    """Bytecode for costguard's modules, as `pip install` writes it. Without it, a machine that
    sets PYTHONDONTWRITEBYTECODE (this benchmark's machine does) compiles every module from
    source on every run: about 0.5 s of a one-shot scan that an installed costguard never pays,
    and a bare script of one file hardly at all."""
    import compileall

    compileall.compile_dir(str(ROOT / "costguard"), quiet=1)


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    """What the figures were measured on."""
    cpus = os.cpu_count()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.machine()}, {cpus} CPUs, {mem:.0f} GiB, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")
