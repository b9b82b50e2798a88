"""docs/ARCHITECTURE.md and docs/RESULTS-SCHEMA.md against the code: every `bench.…`/`shop.…` name they cite in
backticks resolves, every repository file they name exists, every class they name is defined (with the attribute
they name), and the schema version they state is the code's.

A rename that leaves the docs behind fails here, with the name and the document.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import json
import re
from functools import cache
from pathlib import Path

import pytest

from bench import results

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parent.parent
DOCS = ("docs/ARCHITECTURE.md", "docs/RESULTS-SCHEMA.md")
#: Where a bare class name cited by the docs may be defined.
SOURCE_DIRS = ("bench", "projects/shop")
#: Classes the docs name that belong to a library, not to this repository.
LIBRARY_CLASSES = {"Protocol", "Schedule"}
#: Folders a cited file path may start with.
TOP_FOLDERS = ("bench/", "projects/", "tests/", "docs/", "locks/", "results/", ".ci/")


def _cited(doc: str) -> list[str]:
    """Every backticked span of ``doc``."""
    return re.findall(r"`([^`\n]+)`", (REPO / doc).read_text())


def _dotted_names(doc: str) -> list[str]:
    """Backticked ``bench.…``/``shop.…`` names, without call arguments, return annotations or ``<placeholders>``."""
    names = []
    for span in _cited(doc):
        match = re.match(r"(?:bench|shop)(?:\.\w+)+", span)
        if match and span[match.end() : match.end() + 2] != ".<":  # `shop.dtasks.tasks.<name>`: a pattern
            names.append(match.group())
    return names


def _resolves(dotted: str) -> bool:
    """Whether ``dotted`` is a module, or an attribute (chain) of the longest importable module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(obj, attribute):
                return False
            obj = getattr(obj, attribute)
        return True
    return False


@cache
def _definitions() -> dict[str, set[str]]:
    """Class name → the names its body defines (methods, attributes), over every module of :data:`SOURCE_DIRS`."""
    found: dict[str, set[str]] = {}
    for folder in SOURCE_DIRS:
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef):
                    members = found.setdefault(node.name, set())
                    for item in node.body:
                        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                            members.add(item.name)
                        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                            members.add(item.target.id)
                        elif isinstance(item, ast.Assign):
                            members.update(t.id for t in item.targets if isinstance(t, ast.Name))
    return found


@pytest.mark.parametrize("doc", DOCS)
def test_cited_bench_and_shop_names_exist(doc: str) -> None:
    names = _dotted_names(doc)
    assert names, f"{doc} cites no bench./shop. names: the pattern no longer matches the document"
    missing = sorted({name for name in names if not _resolves(name)})
    assert not missing, f"{doc} cites names the code does not have: {missing}"


@pytest.mark.parametrize("doc", DOCS)
def test_cited_files_exist(doc: str) -> None:
    paths = {
        match.group()
        for span in _cited(doc)
        if span.startswith(TOP_FOLDERS) and (match := re.match(r"[\w./-]+\.(py|toml|md|json|txt)\b", span))
    }
    missing = sorted(path for path in paths if not (REPO / path).exists())
    assert not missing, f"{doc} names files that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS)
def test_cited_classes_and_their_attributes_exist(doc: str) -> None:
    classes = _definitions()
    cited = {
        span.removesuffix("()")
        for span in _cited(doc)
        if re.fullmatch(r"[A-Z][a-z]\w*[a-z]\w*(\.\w+)?(\(\))?", span)  # CamelCase, optionally `.attribute`
    }
    wrong = []
    for name in sorted(cited):
        cls, _, attribute = name.partition(".")
        if cls in LIBRARY_CLASSES or hasattr(builtins, cls):
            continue
        if cls not in classes or (attribute and attribute not in classes[cls]):
            wrong.append(name)
    assert not wrong, f"{doc} names classes or attributes the code does not define: {wrong}"


def test_the_exception_classes_named_are_the_code_s() -> None:
    """Every exception of ``bench.errors`` named anywhere in the docs is spelled as in the code."""
    from bench import errors

    known = {name for name, value in vars(errors).items() if isinstance(value, type)} | set(_definitions())
    for doc in DOCS:
        words = set(re.findall(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)+\b", (REPO / doc).read_text()))  # CamelCase
        named = {word for word in words if "Error" in word or "Unavailable" in word}
        unknown = sorted(name for name in named - known if not hasattr(builtins, name))
        assert not unknown, f"{doc} names exceptions the code does not define: {unknown}"


def test_schema_version_is_the_code_s() -> None:
    version = results.SCHEMA_VERSION
    schema = (REPO / "docs/RESULTS-SCHEMA.md").read_text()
    assert schema.splitlines()[0] == f"# Results file schema (version {version})"
    row = next(line for line in schema.splitlines() if line.startswith("| `schema_version` |"))
    assert f"`{version}`" in row, row
    history = schema[schema.index("## Format history") :]
    assert all(f"- **{v}**" in history for v in range(1, version + 1)), "a version is missing from the history"
    architecture = (REPO / "docs/ARCHITECTURE.md").read_text()
    example = architecture[architecture.index("```json", architecture.index("## Results file")) :]
    assert json.loads(re.search(r'"schema_version": (\d+)', example).group(1)) == version  # type: ignore[union-attr]
