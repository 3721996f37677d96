"""Datasets of the zoo: MNIST, CIFAR-10, Shakespeare text, the GPT-2 tokenizer and token streams."""
from zoo.data.cifar import CIFAR10
from zoo.data.download import DATA_ROOT
from zoo.data.mnist import MNIST, mnist_arrays, read_idx
from zoo.data.text import shakespeare
from zoo.data.tokenizer import get_gpt2_encoding
from zoo.data.tokens import TokenStream, prepare_shakespeare, read_tokens, write_tokens

__all__ = ["CIFAR10", "DATA_ROOT", "MNIST", "TokenStream", "get_gpt2_encoding", "mnist_arrays",
           "prepare_shakespeare", "read_idx", "read_tokens", "shakespeare", "write_tokens"]
