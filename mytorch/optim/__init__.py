"""Optimizers and learning-rate schedules with PyTorch's API."""
from mytorch.optim import lr_scheduler
from mytorch.optim.adam import Adam, AdamW
from mytorch.optim.optimizer import Optimizer
from mytorch.optim.rmsprop import RMSprop
from mytorch.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]
