# glue: the document's text is kept verbatim, so it is not linted
# ruff: noqa
# DESIGN.md, "Convolutions": the ConvNet. The constructor is verbatim; the lines marked
# `# glue:` are added because the document elides them (`...`).
#
# What the document gets wrong, kept as written:
# - conv1, bn1 and drop1 are assigned twice; the second assignment replaces the first (the
#   module is registered once, under the same name, as in PyTorch).
# - conv2 takes in_channels=3, but conv1 puts out 32 channels, so conv1 -> conv2 cannot be
#   chained (mytorch raises a clear error, as PyTorch does). The glue forward therefore runs the
#   two conv blocks side by side on the 3-channel input and concatenates them.
# - forward is elided entirely; the one below is glue.
import mytorch  # glue: the document's imports come from the MNIST example above it
import mytorch.nn as nn  # glue

class ConvNet(nn.Module):

    def __init__(self):
        super().__init__()

        self.conv1 = nn.Conv2d(in_channels=3, 
                               out_channels=32, 
                               kernel_size=3,
                               stride=2, 
                               padding=1)

        self.bn1 = nn.BatchNorm2d(32)
        self.drop1 = nn.Dropout(0.1)

        self.conv1 = nn.Conv2d(in_channels=3, 
                               out_channels=32, 
                               kernel_size=3,
                               stride=2, 
                               padding=1)
                               
        self.bn1 = nn.BatchNorm2d(32)
        self.drop1 = nn.Dropout(0.1)

        self.conv2 = nn.Conv2d(in_channels=3, 
                               out_channels=32, 
                               kernel_size=3,
                               stride=2, 
                               padding=1)
                               
        self.bn2 = nn.BatchNorm2d(32)
        self.drop2 = nn.Dropout(0.1)
        
        ...
        self.activation = nn.ReLU()  # glue: the elided rest of the model
        self.pool = nn.AdaptiveAvgPool2d(1)  # glue
        self.head = nn.Linear(64, 10)  # glue

    def forward(self, x):
        
        # Standard Forward Definition 
        ...
        a = self.drop1(self.activation(self.bn1(self.conv1(x))))  # glue: (B, 32, H/2, W/2)
        b = self.drop2(self.activation(self.bn2(self.conv2(x))))  # glue: (B, 32, H/2, W/2)
        x = self.pool(mytorch.cat([a, b], dim=1))  # glue: (B, 64, 1, 1)
        return self.head(x.flatten(1))  # glue: (B, 10)
