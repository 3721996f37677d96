from cupyx.scipy import special  # noqa: F401
