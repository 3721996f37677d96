"""Train the small GPT and checkpoint it the way nanoGPT's train.py does; `--init_from resume`
continues from out_dir/ckpt.pt. Prints one JSON line: {"iter": loss} of the iterations run."""
import argparse
import json
import os

import torch
from gpt import GPT, GPTConfig, get_batch

parser = argparse.ArgumentParser()
parser.add_argument("--out_dir", required=True)
parser.add_argument("--max_iters", type=int, default=8)
parser.add_argument("--init_from", default="scratch")
args = parser.parse_args()

learning_rate, weight_decay, betas = 3e-3, 0.1, (0.9, 0.95)
model_args = dict(n_layer=2, n_head=2, n_embd=32, block_size=16, bias=True, vocab_size=32,
                  dropout=0.0)
iter_num, best_val_loss = 0, 1e9
if args.init_from == "scratch":
    torch.manual_seed(1337)
    model = GPT(GPTConfig(**model_args))
else:
    checkpoint = torch.load(os.path.join(args.out_dir, "ckpt.pt"), map_location="cpu")
    for k in ["n_layer", "n_head", "n_embd", "block_size", "bias", "vocab_size"]:
        model_args[k] = checkpoint["model_args"][k]
    model = GPT(GPTConfig(**model_args))
    state_dict = checkpoint["model"]
    unwanted_prefix = "_orig_mod."
    for k, v in list(state_dict.items()):
        if k.startswith(unwanted_prefix):
            state_dict[k[len(unwanted_prefix):]] = state_dict.pop(k)
    model.load_state_dict(state_dict)
    iter_num = checkpoint["iter_num"]
    best_val_loss = checkpoint["best_val_loss"]
optimizer = model.configure_optimizers(weight_decay, learning_rate, betas)
if args.init_from == "resume":
    optimizer.load_state_dict(checkpoint["optimizer"])
checkpoint = None

losses = {}
while iter_num < args.max_iters:
    X, Y = get_batch(iter_num, model.config)
    logits, loss = model(X, Y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    iter_num += 1
    losses[iter_num] = loss.item()
    best_val_loss = min(best_val_loss, loss.item())

checkpoint = {
    "model": model.state_dict(),
    "optimizer": optimizer.state_dict(),
    "model_args": model_args,
    "iter_num": iter_num,
    "best_val_loss": best_val_loss,
    "config": {"learning_rate": learning_rate, "weight_decay": weight_decay, "betas": betas,
               "init_from": args.init_from, "compile": False},
}
torch.save(checkpoint, os.path.join(args.out_dir, "ckpt.pt"))
print(json.dumps(losses))
