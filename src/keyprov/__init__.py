"""keyprov: one budget-capped OpenRouter API key per workshop participant."""

from functools import cache


@cache
def tool_version() -> str:
    """This installation's version; looked up when first needed (importlib.metadata is slow)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("keyprov")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0+source"


def __getattr__(name: str) -> str:
    if name == "__version__":
        return tool_version()
    raise AttributeError(f"module 'keyprov' has no attribute {name!r}")
