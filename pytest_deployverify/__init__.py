"""pytest-deployverify: verify a deployment against a baseline recorded locally."""

__version__ = "0.1.0"
