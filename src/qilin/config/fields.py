"""A recipe key's declaration: its default and its help text, the one documentation `--help` prints."""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any


def help_field(text: str, default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    """A dataclass field with `text` as its help; a list or dict default is copied for every instance."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": text}, **kwargs)
    return field(default=default, metadata={"help": text}, **kwargs)
