"""Shared kernel of the crash warehouse: where data lives and how readers open gold."""

__version__ = "0.1.0"
