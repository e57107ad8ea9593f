"""The shape of the code: modules per folder, the longest functions, and the import arrows between our modules.

Usage: python .ci/structure.py [--top N]   (from the project root; reads the code, runs none of it)
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import Counter
from pathlib import Path

PACKAGES = ("pbx", "directory", "tickets", "notify", "web")


def modules(root: Path) -> list[Path]:
    return sorted(
        p
        for pkg in PACKAGES
        for p in (root / pkg).rglob("*.py")
        if "migrations" not in p.parts and "__pycache__" not in p.parts
    )


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(tree: ast.AST, name: str, known: set[str]) -> set[str]:
    """Our modules imported by ``name`` (a package import counts as an arrow to the package's __init__)."""
    found: set[str] = set()
    package = name if name in PACKAGES else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target.split(".")[0] in PACKAGES:
                found.add(target)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--top", type=int, default=10, help="how many of the longest functions to list")
    args = parser.parse_args()
    root = Path.cwd()
    paths = modules(root)
    names = {module_name(root, p): p for p in paths}
    per_folder = Counter(str(p.parent.relative_to(root)) for p in paths if p.name != "__init__.py")
    print("modules per folder (without __init__.py and migrations):")
    for folder, count in sorted(per_folder.items()):
        print(f"  {folder + '/':<24} {count}")
    functions: list[tuple[int, str]] = []
    arrows: set[tuple[str, str]] = set()
    for name, path in names.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno:
                statements = sum(isinstance(n, ast.stmt) for n in ast.walk(node)) - 1
                where = f"{path.relative_to(root)}:{node.lineno} {node.name}"
                functions.append((statements, node.end_lineno - node.lineno + 1, where))
        arrows |= {(name, target) for target in imports_of(tree, name, set(names))}
    print(f"\nthe {args.top} longest functions (statements, which formatting does not change; lines):")
    for statements, lines, where in sorted(functions, reverse=True)[: args.top]:
        print(f"  {statements:>4} {lines:>5}  {where}")
    between = Counter((a.split(".")[0], b.split(".")[0]) for a, b in arrows if a.split(".")[0] != b.split(".")[0])
    print(f"\nimport arrows between our modules: {len(arrows)}; between packages:")
    for (a, b), count in sorted(between.items()):
        print(f"  {a} -> {b}: {count}")
    inside_web = sum(1 for a, b in arrows if a.startswith("web") and b.startswith("web"))
    print(f"  inside web/: {inside_web}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
