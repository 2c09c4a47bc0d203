"""docservice: the reference document-ingestion service the smoke suite verifies."""

__version__ = "1.0.0"
