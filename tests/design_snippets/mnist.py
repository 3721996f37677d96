# glue: the document's text is kept verbatim, so it is not linted
# ruff: noqa
# DESIGN.md, "MyTorch Basic Usage": the MNIST model with its training and eval loop, verbatim
# except the lines marked `# glue:` (what a user must add for the parts the document elides or
# leaves undefined). On a machine without a GPU the test runs this file with
# `import cupy as cp` replaced by `import numpy as cp` (see _run.py).
import argparse  # glue: `args` is undefined in the document
from tqdm import tqdm  # glue: the document uses tqdm without importing it
from zoo.data.mnist import MNIST  # glue: the document uses MNIST without importing it
from mytorch.utils.data import Subset  # glue: a small subset keeps the test fast

import cupy as cp
import numpy as np
import mytorch 
import mytorch.nn as nn
import mytorch.optim as optim
from mytorch.utils.data import DataLoader

args = argparse.Namespace(batch_size=32, lr=1e-2, epochs=2)  # glue: small run for the test
N_TRAIN, N_TEST = 1024, 256  # glue
mytorch.manual_seed(0)  # glue: the same run every time


class MyTorchMNIST(nn.Module):

    def __init__(self):

        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 32)
        self.fc4 = nn.Linear(32, 10)

        self.activation = nn.Sigmoid()

    def forward(self, x):

        x = self.activation(self.fc1(x))
        x = self.activation(self.fc2(x))
        x = self.activation(self.fc3(x))
        x = self.fc4(x)

        return x

model = MyTorchMNIST()
# glue: like PyTorch, mytorch creates parameters on the CPU; the document's batches live where
# `cp` puts them (the GPU with CuPy), so the model goes there too.
model = model.to("cuda" if cp.__name__ == "cupy" else "cpu")
print(model)

### Prep Dataset ###
train = MNIST("../../data", train=True, download=True)
test = MNIST("../../data", train=False, download=True)
train = Subset(train, range(N_TRAIN))  # glue
test = Subset(test, range(N_TEST))  # glue

def collate_fn(batch):

    ### Prep and Scale Images ###
    images = cp.stack([cp.array(i[0]).reshape(28*28)for i in batch]) / 255

    ### One Hot Encode Label (MNIST only has 10 classes) ###
    labels = [i[1] for i in batch]

    images = mytorch.Tensor(images).astype(cp.float32)
    labels = mytorch.Tensor(labels)

    return images, labels

trainloader = DataLoader(train, batch_size=args.batch_size, collate_fn=collate_fn, num_workers=2)
testloader = DataLoader(test, batch_size=args.batch_size, collate_fn=collate_fn, num_workers=2)

optimizer = optim.Adam(model.parameters(), lr=args.lr)

loss_fn = nn.CrossEntropyLoss(auto=False)

history = []  # glue: per-epoch means, read by the test

for epoch in range(args.epochs):

    print(f"Training Epoch {epoch}")

    train_loss, train_acc = [], []
    eval_loss, eval_acc = [], []

    model.train()
    for images, labels in tqdm(trainloader):

        pred = model(images)
        
        loss = loss_fn(pred, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        ...
        train_loss.append(loss.item())  # glue: the document elides the bookkeeping
        train_acc.append((pred.argmax(dim=-1) == labels).float().mean().item())  # glue

    model.eval() # Supported Eval
    for images, labels in tqdm(testloader):

        with mytorch.no_grad(): # Supported Context Manager
            pred = model(images)
            
        loss = loss_fn(pred, labels)
        ...
        eval_loss.append(loss.item())  # glue
        eval_acc.append((pred.argmax(dim=-1) == labels).float().mean().item())  # glue

    history.append({name: float(np.mean(values)) for name, values in  # glue
                    [("train_loss", train_loss), ("train_acc", train_acc),  # glue
                     ("eval_loss", eval_loss), ("eval_acc", eval_acc)]})  # glue
    print(history[-1])  # glue
