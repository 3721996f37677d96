"""The watchdog's timeout setting (its behaviour on real jobs is in tests/faults)."""
import datetime

import pytest

from mytorch.distributed.watchdog import DEFAULT_TIMEOUT, resolve_timeout


def test_timeout_from_argument_environment_or_default(monkeypatch):
    monkeypatch.delenv("MINIDDP_TIMEOUT", raising=False)
    assert resolve_timeout() == DEFAULT_TIMEOUT == 600.0  # torch's default
    monkeypatch.setenv("MINIDDP_TIMEOUT", "2.5")
    assert resolve_timeout() == 2.5
    assert resolve_timeout(7) == 7.0  # an explicit value wins
    assert resolve_timeout(datetime.timedelta(minutes=2)) == 120.0


@pytest.mark.parametrize("value, message", [
    (0, "positive number of seconds, got 0"),
    (-3, "positive number of seconds, got -3"),
    (float("nan"), "positive number of seconds, got nan"),
])
def test_bad_timeouts_are_refused(value, message):
    with pytest.raises(ValueError, match=message):
        resolve_timeout(value)


def test_bad_environment_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("MINIDDP_TIMEOUT", "ten")
    with pytest.raises(ValueError, match="MINIDDP_TIMEOUT='ten': expected a number of seconds"):
        resolve_timeout()
