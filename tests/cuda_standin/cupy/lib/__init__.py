from cupy.lib import stride_tricks  # noqa: F401
