"""`from miniddp.accelerate import Accelerator`, as in the design document."""
from miniddp.accelerator import Accelerator

__all__ = ["Accelerator"]
