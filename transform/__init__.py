"""The transform stage: dbt builds silver and gold in the warehouse, then gold is published.

`build()` and `docs()` are what other stages and the CLI call; dbt itself is imported only when
they run, since it is slow to import.
"""

from transform.build import BuildResult, build
from transform.docs import docs

__all__ = ["BuildResult", "build", "docs"]
