"""A fake `nvidia-smi` for tests that need "a host with GPUs": put `write(tmp)` first on PATH."""
import os

HEADER = """\
Wed Dec  2 11:00:00 2026
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI {driver}              Driver Version: {driver}      CUDA Version: {cuda}     |
|-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
|=========================================+========================+======================|
|   0  NVIDIA H100 80GB HBM3          On  |   00000000:19:00.0 Off |                    0 |
+-----------------------------------------+------------------------+----------------------+
"""


def write(directory, gpus=2, driver="570.86.15", cuda="12.8", name="NVIDIA H100 80GB HBM3"):
    """Write an executable `nvidia-smi` into `directory` and return the directory.

    `nvidia-smi -L` lists `gpus` GPUs; plain `nvidia-smi` prints the header with the driver and
    CUDA versions (cuda=None leaves "CUDA Version" out, as very old builds do).
    """
    header = HEADER.format(driver=driver, cuda=cuda or "")
    if cuda is None:
        header = header.replace("CUDA Version: ", "")
    listing = "".join(f"GPU {i}: {name} (UUID: GPU-{i:08d}-fake)\n" for i in range(gpus))
    status = 0 if gpus else 6  # what the real one does with a driver and no GPU
    listing = listing or "No devices were found\n"
    path = os.path.join(directory, "nvidia-smi")
    with open(path, "w") as f:
        f.write("#!/bin/sh\nPATH=/usr/bin:/bin\n"
                f"if [ \"$1\" = \"-L\" ]; then\ncat <<'END'\n{listing}END\nexit {status}\nfi\n"
                f"cat <<'END'\n{header}END\n")
    os.chmod(path, 0o755)
    return str(directory)
