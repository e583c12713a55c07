#!/usr/bin/env python3
"""Checks the host crate's module graph (src/): no import cycle between its top-level
modules, and only the allowed files import the composition root (`node`).

A module is a file `src/<m>.rs` or a folder `src/<m>/`. An edge m -> n exists when a file of
m names `crate::n` (in a `use` line, a grouped `use crate::{n, …}` or an inline path).
Comments are ignored. Prints the graph; exits 1 on a cycle or a forbidden import.

    scripts/module-graph.py            # check and print the graph
    scripts/module-graph.py --dot      # the graph in Graphviz form
"""

import pathlib
import re
import sys

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"
# Files that may import the composition root.
NODE_IMPORTERS = {"lib.rs", "main.rs"}
ROOT_FILES = {"lib.rs", "main.rs"}


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    lines = []
    for line in text.splitlines():
        at = line.find("//")
        # Keep `//` inside string literals (URLs): only cut when no quote precedes it.
        if at >= 0 and line[:at].count('"') % 2 == 0:
            line = line[:at]
        lines.append(line)
    return "\n".join(lines)


def module_of(path: pathlib.Path) -> str:
    rel = path.relative_to(SRC)
    if len(rel.parts) == 1:
        return rel.stem
    return rel.parts[0]


def referenced_modules(text: str) -> set:
    names = set()
    for match in re.finditer(r"\bcrate::(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)", text):
        target = match.group(1)
        if target.startswith("{"):
            for part in re.split(r",", target[1:-1]):
                head = part.strip().split("::")[0].strip()
                if head and head != "self":
                    names.add(head)
        else:
            names.add(target)
    return names


def main() -> int:
    modules = {module_of(p) for p in SRC.rglob("*.rs")} - {"lib", "main"}
    edges = {m: set() for m in modules}
    problems = []
    for path in sorted(SRC.rglob("*.rs")):
        rel = str(path.relative_to(SRC))
        text = strip_comments(path.read_text())
        refs = referenced_modules(text) & modules
        if "node" in refs and rel not in NODE_IMPORTERS and module_of(path) != "node":
            problems.append(f"{rel} imports node: only {sorted(NODE_IMPORTERS)} may")
        if rel in ROOT_FILES:
            continue
        source = module_of(path)
        edges[source] |= refs - {source}

    # Tarjan's strongly connected components, iteratively.
    index, low, on_stack, stack, comps = {}, {}, set(), [], []
    counter = 0
    for start in sorted(modules):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.append(member)
                    if member == node:
                        break
                if len(comp) > 1:
                    comps.append(sorted(comp))
    for comp in comps:
        problems.append("import cycle among modules: " + " <-> ".join(comp))

    if "--dot" in sys.argv:
        print("digraph modules {")
        for m in sorted(modules):
            for n in sorted(edges[m]):
                print(f'  "{m}" -> "{n}";')
        print("}")
    else:
        for m in sorted(modules):
            print(f"{m:>10} -> {', '.join(sorted(edges[m])) or '(leaf)'}")
    for problem in problems:
        print("error:", problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
