"""Datasets, samplers and the DataLoader, with PyTorch's API (`torch.utils.data`)."""
from mytorch.utils.data._worker import WorkerInfo, get_worker_info
from mytorch.utils.data.collate import default_collate, default_convert
from mytorch.utils.data.dataloader import DataLoader
from mytorch.utils.data.dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset,
                                        Subset, TensorDataset, random_split)
from mytorch.utils.data.distributed import DistributedSampler
from mytorch.utils.data.sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                                        SubsetRandomSampler, WeightedRandomSampler)

__all__ = ["BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset",
           "DistributedSampler", "IterableDataset", "RandomSampler", "Sampler",
           "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset",
           "WeightedRandomSampler", "WorkerInfo",
           "default_collate", "default_convert", "get_worker_info", "random_split"]
