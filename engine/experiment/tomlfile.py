"""Writing the small subset of TOML that experiment configs use (reading is ``tomllib``'s)."""

from __future__ import annotations

from typing import Any


def dump_toml(doc: dict[str, Any]) -> str:
    """Writes the small subset of TOML configs use: top-level scalars, then flat tables."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines += ["", f"[{k}]"] + [
                f"{kk} = {_toml_value(vv)}" for kk, vv in v.items() if vv is not None
            ]
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    text = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
