from experiments.finetune.run import FinetuneExperiment

EXPERIMENT = FinetuneExperiment("gpt2")
