"""nn.utils: gradient clipping."""
