"""The communicators live in `mytorch.distributed.comm` (mytorch imports nothing from miniddp);
this name keeps `from miniddp.comm import ...` working."""
from mytorch.distributed.comm import (
    Communicator,
    LocalCommunicator,
    MPICommunicator,
    NCCLCommunicator,
)

__all__ = ["Communicator", "LocalCommunicator", "MPICommunicator", "NCCLCommunicator"]
