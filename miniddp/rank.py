"""What each rank of `python -m miniddp.launch` runs: `python -m miniddp.rank script.py args...`
sets torchrun's per-rank variables from the MPI launcher's, then runs the script under mpi4py
(an uncaught exception aborts every rank)."""
import os

# (torchrun's name, MPICH/Hydra's, Open MPI's)
_VARS = (("RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK"),
         ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE"),
         ("LOCAL_RANK", "MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK"),
         ("LOCAL_WORLD_SIZE", "MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE"))


def torchrun_env(environ):
    """torchrun's rank variables from an MPI launcher's environment (those it has)."""
    out = {}
    for name, *sources in _VARS:
        for src in sources:
            if src in environ:
                out[name] = environ[src]
                break
    return out


def main():
    os.environ.update(torchrun_env(os.environ))
    from mpi4py.run import main as run_under_mpi4py
    run_under_mpi4py()


if __name__ == "__main__":
    main()
