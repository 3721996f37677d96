"""Optimizers and learning-rate schedules with PyTorch's API."""
from mytorch.optim import lr_scheduler
from mytorch.optim.adagrad import Adadelta, Adagrad
from mytorch.optim.adam import Adam, AdamW
from mytorch.optim.adamax import Adamax
from mytorch.optim.lbfgs import LBFGS
from mytorch.optim.nadam import NAdam
from mytorch.optim.optimizer import Optimizer
from mytorch.optim.radam import RAdam
from mytorch.optim.rmsprop import RMSprop
from mytorch.optim.sgd import SGD

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "LBFGS", "NAdam", "Optimizer",
           "RAdam", "RMSprop", "lr_scheduler"]
