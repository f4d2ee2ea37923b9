"""Configuration errors that name the key path of every problem."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigError(ValueError):
    """The configuration is invalid; ``problems`` lists ``(key path, message)``."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}: {len(problems)} problem(s)"]
        lines += [f"  {path}: {message}" for path, message in problems]
        super().__init__("\n".join(lines))


class Strict(BaseModel):
    """Base of every config model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def key_path(loc: tuple[int | str, ...], data: object) -> str:
    """Render a pydantic location as ``a.b[2] (id=x).c``, naming list items by id."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            item = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(item, dict) and "id" in item:
                out += f" (id={item['id']})"
            node = item
        else:
            if isinstance(node, dict) and node.get("type") == part:
                continue  # a discriminated union's tag (tcp, rtu, snmp ...), not a key in the file
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(top level)"
