"""ConvNet with BatchNorm: mytorch (zoo's `convnet`) vs a torch.nn twin on MNIST digits."""
from experiments.convnet.config import ConvNetRunConfig
from experiments.harness import Experiment, batch_indices
from experiments.mnist_mlp.run import classification_eval


class ConvNetExperiment(Experiment):
    name = "convnet"
    Config = ConvNetRunConfig
    zoo_name = "convnet"

    def model_config(self, cfg):
        from zoo.convnet import ConvNetConfig
        return ConvNetConfig(dropout=cfg.dropout)

    def load_data(self, cfg):
        from zoo.data.mnist import mnist_arrays
        xtr, ytr = mnist_arrays(train=True, source=cfg.source)
        xte, yte = mnist_arrays(train=False, source=cfg.source)
        shape = (-1, 1, 28, 28)
        return {"x": xtr.reshape(shape), "y": ytr, "x_eval": xte.reshape(shape), "y_eval": yte}

    def build(self, lib, cfg):
        if lib.__name__ == "torch":
            from experiments.convnet.baseline import ConvNet
            return ConvNet(self.model_config(cfg))
        from zoo.convnet import ConvNet
        return ConvNet(self.model_config(cfg))

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


EXPERIMENT = ConvNetExperiment()
