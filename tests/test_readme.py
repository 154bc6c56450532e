"""The README's scripting example runs as written, and its set-up commands stay what CI runs."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_scripting_examples_run(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks()
    assert len(blocks) >= 2
    for block in blocks:
        if "import torch" in block and importlib.util.find_spec("torch") is None:
            continue  # PyTorch is an optional extra; CI installs it
        exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    accuracy = float(re.search(r"test accuracy ([\d.]+)%", out).group(1))
    assert accuracy >= 95.0
    assert (tmp_path / "spiral.npz").exists()


def test_readme_opens_with_the_two_setup_commands() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks[0].strip().endswith(".venv/bin/dltui")
    assert blocks[1].strip().endswith(".venv/bin/pytest")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "README.md" in ci and "pip install -e" in blocks[1]
