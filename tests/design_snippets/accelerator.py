# glue: the document's text is kept verbatim, so it is not linted
# ruff: noqa
# DESIGN.md, "Distributed Training": the Accelerator loop, verbatim except the lines marked
# `# glue:`. Run it on one process (`python tests/design_snippets/_run.py <this file>`) or on N
# ranks (`mpiexec -n 2 python -m mpi4py tests/design_snippets/_run.py <this file>`).
#
# What the document gets wrong, kept as written:
# - forward uses self.drop2 and self.fc4, which __init__ never defines; the glue defines them.
# - `testloader` is passed to prepare() but never built here; the glue builds it.
# - train_loss and NUM_EPOCHS are undefined; the glue defines them.
... 
import numpy as np  # glue: the document's imports come from the MNIST example above it
import mytorch  # glue
import mytorch.nn as nn  # glue
import mytorch.optim as optim  # glue
from mytorch.utils.data import DataLoader, Subset  # glue (Subset: a small run for the test)
from tqdm import tqdm  # glue
from zoo.data.mnist import MNIST  # glue
NUM_EPOCHS, N_TRAIN, N_TEST = 2, 512, 128  # glue: a small run for the test
mytorch.manual_seed(0)  # glue: the same run every time
train_loss = []  # glue

from miniddp.accelerate import Accelerator
accelerator = Accelerator()

class MyTorchMNIST(nn.Module):
    def __init__(self):
        super().__init__()
        
        self.fc1 = nn.Linear(784, 512)
        self.drop1 = nn.Dropout(0.1)
        self.fc2 = nn.Linear(512, 10)
        self.activation = nn.ReLU()
        self.drop2 = nn.Dropout(0.1)  # glue: forward uses drop2, never defined in the document
        self.fc4 = nn.Linear(10, 10)  # glue: forward uses fc4, never defined in the document

    def forward(self, x):
        x = self.drop1(self.activation(self.fc1(x)))
        x = self.drop2(self.activation(self.fc2(x)))
        x = self.fc4(x)
        return x

model = MyTorchMNIST()
accelerator.print(model) # Only prints on main rank

train = MNIST("../../data", train=True, download=False)
train = Subset(train, range(N_TRAIN))  # glue

def collate_fn(batch):
    images = np.concatenate([np.array(i[0]).astype(np.float32).reshape(1,784) for i in batch]) / 255
    labels = np.array([i[1] for i in batch])
    return images, labels

trainloader = DataLoader(train, batch_size=16, collate_fn=collate_fn, num_workers=2)
test = Subset(MNIST("../../data", train=False, download=False), range(N_TEST))  # glue
testloader = DataLoader(test, batch_size=16, collate_fn=collate_fn, num_workers=2)  # glue
optimizer = optim.Adam(model.parameters(), lr=0.001)
loss_fn = nn.CrossEntropyLoss()

### Prepares everything for DDP ###
model, optimizer, trainloader, testloader = accelerator.prepare(
    model, optimizer, trainloader, testloader
) 

for epoch in range(NUM_EPOCHS):

    model.train()
    for images, labels in tqdm(trainloader, disable=not accelerator.is_main_process()):
        images = mytorch.Tensor(images)
        labels = mytorch.Tensor(labels)

        pred = model(images)
        loss = loss_fn(pred, labels)

        # Backward w/ all_gather ops
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()

        train_loss.append(accelerator.gather_for_metrics(loss))

# glue: evaluation, so the test can check that the ranks trained one model that learned
model.eval()  # glue
correct, seen = 0, 0  # glue
for images, labels in testloader:  # glue
    with mytorch.no_grad():  # glue
        pred = model(mytorch.Tensor(images))  # glue
    hits = accelerator.gather_for_metrics(pred.argmax(dim=-1) == mytorch.Tensor(labels))  # glue
    correct, seen = correct + int(hits.sum().item()), seen + len(hits)  # glue
weights = accelerator.unwrap_model(model).fc1.weight.detach()  # glue
sums = accelerator.gather(weights.sum().reshape(1))  # glue: one per rank
accelerator.print(f"RESULT world={accelerator.num_processes} steps={len(train_loss)} "  # glue
                  f"gathered={len(train_loss[0])} "  # glue
                  f"weight_spread={float((sums.max() - sums.min()).item()):.3g} "  # glue
                  f"first={float(train_loss[0].mean().item()):.4f} "  # glue
                  f"last={float(mytorch.cat(train_loss[-8:]).mean().item()):.4f} "  # glue
                  f"acc={correct / seen:.4f} seen={seen}")  # glue
