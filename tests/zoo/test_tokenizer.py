import numpy as np
import pytest

from zoo.data import tokenizer

SAMPLE = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak."
          "  It's 2024 -- naïve café, 日本語 and emoji \U0001F600!\n\t tabs  and   spaces ")


def test_vocab_files_have_tiktokens_hashes(gpt2_encoding):
    bpe, enc = tokenizer.fetch_vocab_files()
    from zoo.data.download import file_hash
    assert file_hash(bpe) == tokenizer.VOCAB_BPE_SHA256
    assert file_hash(enc) == tokenizer.ENCODER_JSON_SHA256


def test_known_ids(gpt2_encoding):
    enc = gpt2_encoding
    assert enc.n_vocab == 50257 and enc.eot_token == 50256
    assert enc.encode("Hello world") == [15496, 995]
    assert enc.encode("<|endoftext|>", allowed_special="all") == [50256]
    ids = enc.encode_ordinary(SAMPLE)
    assert enc.decode(ids) == SAMPLE
    assert max(ids) < 50257


def test_matches_transformers_gpt2_tokenizer(gpt2_encoding):
    """An independent implementation (transformers/tokenizers) on the same files."""
    transformers = pytest.importorskip("transformers")
    bpe, enc = tokenizer.fetch_vocab_files()
    ref = transformers.GPT2Tokenizer(vocab=str(enc), merges=str(bpe))
    for text in (SAMPLE, "O Romeo, Romeo! wherefore art thou Romeo?", " leading space"):
        assert gpt2_encoding.encode_ordinary(text) == ref.encode(text)


def test_get_gpt2_encoding_uses_local_files(gpt2_encoding):
    enc = tokenizer.get_gpt2_encoding(online=False)
    text = "Now is the winter of our discontent"
    np.testing.assert_array_equal(enc.encode(text), gpt2_encoding.encode(text))
