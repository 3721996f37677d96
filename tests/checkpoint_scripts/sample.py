"""Greedy samples from out_dir/ckpt.pt, as nanoGPT's sample.py loads it. Prints the token ids
as one JSON line."""
import argparse
import json
import os

import torch
from gpt import GPT, GPTConfig

parser = argparse.ArgumentParser()
parser.add_argument("--out_dir", required=True)
parser.add_argument("--start", default="3,4,5")
parser.add_argument("--max_new_tokens", type=int, default=20)
args = parser.parse_args()

checkpoint = torch.load(os.path.join(args.out_dir, "ckpt.pt"), map_location="cpu",
                        weights_only=True)
model = GPT(GPTConfig(**checkpoint["model_args"]))
model.load_state_dict(checkpoint["model"])
model.eval()
x = torch.tensor([[int(t) for t in args.start.split(",")]], dtype=torch.long)
with torch.no_grad():
    y = model.generate(x, args.max_new_tokens)
print(json.dumps(y[0].tolist()))
