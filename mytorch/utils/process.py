"""Process liveness on this host, for code that finds another process's leftovers."""
import os


def pid_alive(pid):
    """True while process `pid` runs on this host: it exists (or we may not signal it) and,
    where /proc shows it, it is no zombie (a zombie has exited, only its parent has not
    reaped it yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
