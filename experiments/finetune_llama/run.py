from experiments.finetune.run import FinetuneExperiment

EXPERIMENT = FinetuneExperiment("llama")
