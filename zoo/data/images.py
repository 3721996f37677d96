"""What the image datasets share: `dataset[i]` is `(image, label)` after the transforms."""


class ImageDataset:
    """Base of MNIST and CIFAR10: subclasses fill `data` (N, ...) and `targets` (N,) and set
    `transform` / `target_transform` (callables or None), as torchvision's datasets do."""

    transform = None
    target_transform = None

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        image, target = self.data[index], int(self.targets[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target
