"""The model zoo: ready models with shipped checkpoints and cards.

    import zoo
    zoo.list()                                  # ['mnist-mlp', 'convnet', 'gpt2-shakespeare', ...]
    model = zoo.load("mnist-mlp")               # pretrained, eval mode, sha256-checked
    print(zoo.card("mnist-mlp"))                # command, data, steps, hardware, metrics
"""
from zoo.registry import REGISTRY, ModelCard, card, list_models, load, ship

list = list_models

__all__ = ["REGISTRY", "ModelCard", "card", "list", "load", "ship"]
