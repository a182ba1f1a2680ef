"""The pieces of an end-to-end benchmark: real server processes, wrk, CPU time from /proc.

Every figure the bench prints comes from here: a server started as a real process on loopback,
loaded by ``wrk`` (another process), and the CPU the server's process tree spent over the run,
read from ``/proc`` before and after.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """One server process (and its workers), started in the foreground of its own group."""

    name: str
    argv: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)
    ready_path: str = "/ping"
    ready_headers: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Server:
        env = {**os.environ, **self.env}
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}")
            try:
                answer = httpx.get(self.base + self.ready_path, headers=self.ready_headers)
                if answer.status_code < 500:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer in {timeout} s")

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and every process below it (workers), so far."""
        assert self.process is not None
        return sum(_cpu_of(pid) for pid in _tree(self.process.pid))

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()


def _tree(pid: int) -> list[int]:
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
                queue.extend(int(child) for child in children)
        except OSError:
            continue
    return pids


def _cpu_of(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLOCK_TICKS


@dataclass(frozen=True)
class Load:
    """What wrk sends: one request, repeated (or one of several, chosen by a Lua script)."""

    path: str
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "GET"
    body: str | None = None
    paths: tuple[str, ...] = ()  # several paths taken in turn (e.g. distinct accesskeys)


@dataclass(frozen=True)
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    bad: int  # non-2xx answers and socket errors: a run with any is not a result
    cpu_us: float  # the server's CPU per request


WRK = "/usr/bin/wrk"
_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_TOTAL = re.compile(r"(\d+) requests in")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_PERCENTILE = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def ensure_wrk() -> None:
    """wrk from Debian's package, installed when missing and we may."""
    if Path(WRK).exists():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit("the bench needs wrk (Debian package 'wrk'); install it and run again")
    subprocess.run(["apt-get", "update", "-qq"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def wrk(
    server: Server,
    load: Load,
    *,
    seconds: float,
    connections: int = 64,
    threads: int = 1,
) -> WrkResult:
    """Load ``server`` for ``seconds`` and return what wrk and /proc say."""
    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "load.lua"
        script.write_text(_lua(load))
        argv = [
            WRK,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "5s",  # an answer later than this counts as bad (wrk's default is 2 s)
            "--latency",
            "-s",
            str(script),
            server.base + load.path,
        ]
        cpu_before = server.cpu_seconds()
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        cpu_after = server.cpu_seconds()
    return _parse(done.stdout, cpu_after - cpu_before)


def _lua(load: Load) -> str:
    lines = [f'wrk.method = "{load.method}"']
    for name, value in load.headers.items():
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    if load.body is not None:
        lines.append(f"wrk.body = [==[{load.body}]==]")
    if load.paths:
        listed = ", ".join(f'"{path}"' for path in load.paths)
        lines += [
            f"local paths = {{{listed}}}",
            "local n = 0",
            "request = function()",
            "  n = n % #paths + 1",
            "  return wrk.format(nil, paths[n])",
            "end",
        ]
    return "\n".join(lines) + "\n"


def _parse(output: str, cpu_seconds: float) -> WrkResult:
    total = int(_TOTAL.search(output).group(1))  # type: ignore[union-attr]
    rps = float(_RPS.search(output).group(1))  # type: ignore[union-attr]
    bad = int(match.group(1)) if (match := _NON_2XX.search(output)) else 0
    if errors := _SOCKET_ERRORS.search(output):
        bad += sum(int(count) for count in errors.groups())
    percentiles = {
        name: float(value) * _UNIT_MS[unit] for name, value, unit in _PERCENTILE.findall(output)
    }
    return WrkResult(
        requests=total,
        rps=rps,
        p50_ms=percentiles.get("50", 0.0),
        p99_ms=percentiles.get("99", 0.0),
        bad=bad,
        cpu_us=cpu_seconds / total * 1e6 if total else 0.0,
    )
