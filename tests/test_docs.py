"""Every ```python block of every page in docs/ and of the README runs (blocks of one page share a namespace)."""
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(p for p in DOCS.glob("*.md") if "```python" in p.read_text()) + [DOCS.parent / "README.md"]


def python_blocks(text: str):
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_docs_have_examples():
    assert PAGES, "no docs page with a python example"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_examples_run(page, monkeypatch, tmp_path):
    monkeypatch.chdir(DOCS.parent)  # examples may read models/ and tests/data/
    namespace = {"__name__": f"docs_{page.stem}"}
    for k, block in enumerate(python_blocks(page.read_text())):
        code = compile(block, f"{page.name}[block {k}]", "exec")
        exec(code, namespace)
