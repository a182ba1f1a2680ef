"""The bench's peers: how to install, seed and start each one. Standard library only.

The orchestrator imports this module from vbauth's own venv, which has none of the peers'
packages; everything that needs them (seeding, serving) runs as a subprocess of the peers venv,
``<repo>/.bench/peers-venv``, built from ``requirements.lock`` by ``ensure_venv``.

    peer = catalog.fastapi_users(workdir, port)   # or catalog.drf_api_key(...)
    server = subprocess.Popen(peer.argv, env=os.environ | peer.env)
    # ... wait for 127.0.0.1:port, then: wrk -H "Authorization: ..." http://127.0.0.1:port/protected

Each preparer starts from a fresh database in ``workdir`` and returns a credential that stays
valid for at least a day (the JWT's lifetime; the API key never expires). Paths are derived
from this file's location, so the repo may live anywhere.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCRATCH = REPO / ".bench"
VENV = SCRATCH / "peers-venv"
LOCK_FILE = HERE / "requirements.lock"
UV = REPO / ".tools" / "bin" / "uv"
STAMP = VENV / ".requirements.lock.sha256"
DRF_SITE = HERE / "drf_site"
HOST = "127.0.0.1"
PATH = "/protected"

# One gunicorn worker process, gunicorn's default sync worker. Tried under the bench's own load
# (wrk -t1 -c64, 8-10 s runs, 2-core machine shared with wrk, runs taken only while nothing
# else was busy; req/s per run):
#   sync                   1,844  1,767  1,853   (p50 34 ms, p99 47 ms)   <- chosen
#   gthread --threads 1    1,435  1,676  1,649   (p50 38 ms, p99 55 ms)
#   gthread --threads 2    1,474
#   gthread --threads 4    1,171  1,312
#   gthread --threads 8    1,187  1,248  1,203
# The sync worker answers with "Connection: close", so wrk reconnects for every request; on
# loopback a connect costs less than what gthread adds: its main thread polls the kept-alive
# sockets and hands each request to a pool thread, and every extra thread contends for the GIL
# on a request that is CPU-bound Python (the SQLite lookup is short). If the comparison must use
# kept-alive connections on every server, use gthread with one thread, the best such option.
# Async workers (gevent, eventlet) would add a dependency and monkey-patching that a plain
# Django + DRF deployment does not have.
GUNICORN_WORKER = ["--workers", "1", "--worker-class", "sync"]


@dataclass(frozen=True)
class Peer:
    """One server to benchmark: how to start it and what a valid request looks like."""

    name: str  # "fastapi-users" / "drf-api-key"
    argv: list[str]  # starts the server on 127.0.0.1:<port>, in the foreground
    env: dict[str, str]  # extra environment for argv
    path: str  # "/protected"
    headers: dict[str, str]  # the credential, e.g. {"Authorization": "Bearer eyJ..."}


def venv_python() -> Path:
    """The peers venv's interpreter (it exists once ``ensure_venv`` has run)."""
    return VENV / "bin" / "python"


def lock_digest() -> str:
    """What the stamp compares: a change to the lock file means a rebuild."""
    return hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()


def venv_is_current(digest: str) -> bool:
    """True when the venv was last synced from exactly this lock file and still runs."""
    return venv_python().exists() and STAMP.exists() and STAMP.read_text().strip() == digest


@contextmanager
def build_lock() -> Iterator[None]:
    """Serialize builds, so two orchestrators started together do not sync over each other."""
    SCRATCH.mkdir(exist_ok=True)
    with (SCRATCH / "peers-venv.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a fixed command of ours, failing loudly with its output if it fails."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {result.returncode}\n{result.stdout}{result.stderr}"
        )
    return result


def build_with_uv() -> None:
    """A fresh venv, then an exact sync of the lock; uv's cache makes a rebuild take seconds."""
    run([str(UV), "venv", "--clear", "--quiet", "--python", sys.executable, str(VENV)])
    sync = [str(UV), "pip", "sync", "--quiet", "--compile-bytecode"]
    run([*sync, "--python", str(venv_python()), str(LOCK_FILE)])


def build_with_pip() -> None:
    """The fallback without uv: the lock's hashes make pip install exactly the pinned files."""
    shutil.rmtree(VENV, ignore_errors=True)
    run([sys.executable, "-m", "venv", str(VENV)])
    pip = [str(venv_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run([*pip, "--require-hashes", "--no-deps", "-r", str(LOCK_FILE)])


def ensure_venv() -> Path:
    """Create/refresh <repo>/.bench/peers-venv from requirements.lock; a no-op when up to date.

    Uses the repo's own uv (.tools/bin/uv, installed by scripts/install) and falls back to
    venv + pip. The stamp is written last, so an interrupted build is redone next time.
    """
    digest = lock_digest()
    if venv_is_current(digest):
        return VENV
    with build_lock():
        if not venv_is_current(digest):  # another process may have built it while we waited
            STAMP.unlink(missing_ok=True)
            if UV.exists():
                build_with_uv()
            else:
                build_with_pip()
            STAMP.write_text(digest + "\n")
    return VENV


def fresh_database(path: Path) -> Path:
    """Remove a database left by an earlier run (with its WAL files): seeds expect none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    return path


def seed(script: Path, env: dict[str, str]) -> dict[str, str]:
    """Run a seed script in the peers venv with the server's environment; it prints JSON."""
    result = run([str(venv_python()), str(script)], env=os.environ | env, cwd=script.parent)
    seeded: dict[str, str] = json.loads(result.stdout)
    return seeded


def fastapi_users(workdir: Path, port: int) -> Peer:
    """Create the SQLite schema in workdir, one active user, and its JWT; return the Peer.

    The token is issued by the library's JWTStrategy in a subprocess (fastapi_users_seed.py),
    signed with a secret made here and handed to the server through its environment. The
    server runs under uvicorn with vbauth's settings: one worker, uvloop + httptools, no access
    log, no Server header, no proxy headers, log level warning.
    """
    ensure_venv()
    env = {
        "PEER_FASTAPI_USERS_DB": str(fresh_database(workdir / "fastapi_users.sqlite3")),
        "PEER_FASTAPI_USERS_SECRET": secrets.token_urlsafe(32),
    }
    token = seed(HERE / "fastapi_users_seed.py", env)["token"]
    argv = [str(venv_python()), "-m", "uvicorn", "fastapi_users_app:app", "--app-dir", str(HERE)]
    argv += ["--host", HOST, "--port", str(port), "--workers", "1", "--no-access-log"]
    argv += ["--loop", "uvloop", "--http", "httptools", "--log-level", "warning"]
    argv += ["--no-server-header", "--no-proxy-headers"]
    return Peer("fastapi-users", argv, env, PATH, {"Authorization": f"Bearer {token}"})


def drf_api_key(workdir: Path, port: int) -> Peer:
    """Migrate a fresh SQLite file in workdir, create an API key with the library's manager.

    The key comes from APIKey.objects.create_key in a subprocess (drf_site/seed.py). The server
    is Django under gunicorn with GUNICORN_WORKER (see the numbers above it); gunicorn writes
    no access log unless asked.
    """
    ensure_venv()
    env = {
        "DJANGO_SETTINGS_MODULE": "peer_site.settings",
        "PEER_DRF_DB": str(fresh_database(workdir / "drf_api_key.sqlite3")),
        "PEER_DRF_SECRET_KEY": secrets.token_urlsafe(50),
    }
    key = seed(DRF_SITE / "seed.py", env)["key"]
    argv = [str(venv_python()), "-m", "gunicorn", "--chdir", str(DRF_SITE)]
    argv += ["--bind", f"{HOST}:{port}", *GUNICORN_WORKER, "--log-level", "warning"]
    argv += ["peer_site.wsgi:application"]
    return Peer("drf-api-key", argv, env, PATH, {"Authorization": f"Api-Key {key}"})


# By name, for orchestrators that loop over the peers.
PEERS: dict[str, Callable[[Path, int], Peer]] = {
    "fastapi-users": fastapi_users,
    "drf-api-key": drf_api_key,
}
