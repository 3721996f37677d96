"""MNIST MLP: mytorch (zoo's `mnist-mlp`) vs a torch.nn twin, same weights, same batches."""
import numpy as np

from experiments.harness import Experiment, batch_indices
from experiments.mnist_mlp.config import MnistConfig


class DigitsExperiment(Experiment):
    """A classifier of MNIST digits: batches, loss, evaluation and card data shared by the MLP
    and the ConvNet experiments; subclasses say which model and image shape."""
    image_shape = (-1, 784)

    def load_data(self, cfg):
        return mnist_data(cfg.source, self.image_shape)

    def batch(self, data, step, cfg):
        idx = batch_indices(len(data["x"]), cfg.batch, step, cfg.seed)
        return data["x"][idx], data["y"][idx]

    def loss(self, lib, model, batch):
        x, y = batch
        return lib.nn.functional.cross_entropy(model(x), y)

    def evaluate(self, lib, model, data, cfg):
        return classification_eval(lib, model, data["x_eval"], data["y_eval"],
                                   next(iter(model.parameters())).device)

    def data_note(self, cfg):
        return f"MNIST digits (source={cfg.source}), batch {cfg.batch}"


class MnistExperiment(DigitsExperiment):
    name = "mnist_mlp"
    Config = MnistConfig
    zoo_name = "mnist-mlp"

    def build(self, lib, cfg):
        if lib.__name__ == "torch":
            from experiments.mnist_mlp.baseline import build
            return build()
        from zoo.mlp import MnistMLP
        return MnistMLP()

    def optimizer(self, lib, model, cfg):
        return lib.optim.Adam(model.parameters(), lr=cfg.lr)


def mnist_data(source, shape):
    """Both MNIST splits as {"x", "y", "x_eval", "y_eval"}, images reshaped to `shape`."""
    from zoo.data.mnist import mnist_arrays
    xtr, ytr = mnist_arrays(train=True, source=source)
    xte, yte = mnist_arrays(train=False, source=source)
    return {"x": xtr.reshape(shape), "y": ytr, "x_eval": xte.reshape(shape), "y_eval": yte}


def classification_eval(lib, model, x, y, device, batch=500):
    """Mean cross-entropy and accuracy over the eval split."""
    total_loss, correct = 0.0, 0
    with lib.no_grad():
        for i in range(0, len(x), batch):
            xb = _tensor(lib, x[i:i + batch], device)
            yb = _tensor(lib, y[i:i + batch], device)
            logits = model(xb)
            total_loss += float(lib.nn.functional.cross_entropy(logits, yb, reduction="sum"))
            correct += int((logits.argmax(1) == yb).sum())
    return {"loss": total_loss / len(x), "accuracy": correct / len(x)}


def _tensor(lib, a, device):
    if lib.__name__ == "torch":
        return lib.from_numpy(np.ascontiguousarray(a)).to(device)
    return lib.tensor(a, device=device)


EXPERIMENT = MnistExperiment()
