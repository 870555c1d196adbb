"""keyprov: one budget-capped OpenRouter API key per workshop participant."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("keyprov")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
