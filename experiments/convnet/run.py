"""ConvNet with BatchNorm: mytorch (zoo's `convnet`) vs a torch.nn twin on MNIST digits."""
from experiments.convnet.config import ConvNetRunConfig
from experiments.mnist_mlp.run import DigitsExperiment


class ConvNetExperiment(DigitsExperiment):
    name = "convnet"
    Config = ConvNetRunConfig
    zoo_name = "convnet"
    image_shape = (-1, 1, 28, 28)

    def model_config(self, cfg):
        from zoo.convnet import ConvNetConfig
        return ConvNetConfig(dropout=cfg.dropout)

    def build(self, lib, cfg):
        if lib.__name__ == "torch":
            from experiments.convnet.baseline import ConvNet
            return ConvNet(self.model_config(cfg))
        from zoo.convnet import ConvNet
        return ConvNet(self.model_config(cfg))


EXPERIMENT = ConvNetExperiment()
