"""The PyTorch side of fine-tuning: experiments/gpt2's torch GPT for GPT-2, transformers' own
model for the Llama family, seen through zoo.llama's parameter names so that the harness
loads the shared initial weights into it."""
import torch
from torch.nn import functional as F


class HFLlamaTwin(torch.nn.Module):
    """transformers' LlamaForCausalLM / Qwen2ForCausalLM with zoo.llama's parameter names and
    forward(idx, targets) -> (logits, loss)."""

    def __init__(self, hf_model, n_layer):
        super().__init__()
        from zoo.llama import HF_NAMES
        self.hf = hf_model
        # ours -> HF, per block
        self.to_hf = {}
        for hf_name, ours in HF_NAMES.items():
            for i in range(n_layer) if "{i}" in hf_name else [None]:
                self.to_hf[ours.replace("{i}", str(i))] = hf_name.replace("{i}", str(i))
        self.from_hf = {v: k for k, v in self.to_hf.items()}

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        for name, p in self.hf.named_parameters(remove_duplicate=remove_duplicate):
            yield self.from_hf[name], p

    def state_dict(self, *args, **kwargs):
        return {self.from_hf[k]: v for k, v in self.hf.state_dict().items()
                if k in self.from_hf}

    def load_state_dict(self, state, strict=True):
        return self.hf.load_state_dict({self.to_hf[k]: v for k, v in state.items()},
                                       strict=strict)

    def forward(self, idx, targets=None):
        logits = self.hf(idx).logits
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.reshape(-1, logits.size(-1)),
                                       targets.reshape(-1), ignore_index=-1)


def build_twin(family, folder, hf_config):
    if family == "gpt2":
        from experiments.gpt2.baseline import GPT
        from zoo.gpt2 import GPTConfig
        return GPT(GPTConfig(block_size=hf_config["n_positions"],
                             vocab_size=hf_config["vocab_size"], n_layer=hf_config["n_layer"],
                             n_head=hf_config["n_head"], n_embd=hf_config["n_embd"]))
    import transformers
    config = transformers.AutoConfig.from_pretrained(folder)
    hf = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    return HFLlamaTwin(hf, config.num_hidden_layers)
