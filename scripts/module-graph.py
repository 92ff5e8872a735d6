#!/usr/bin/env python3
"""Fails, naming them, when the top-level modules of a crate import each
other in a cycle (a -> b -> ... -> a). Data flows one way through fairway
(docs/architecture.md); test code (`#[cfg(test)]`, `tests.rs`) and
comments do not count."""
import os
import re
import sys

ROOTS = ["crates/fairway/src", "crates/fairway-config/src", "crates/fairway-haproxy/src"]
# Items re-exported at the crate root, and the module they live in.
ROOT_ITEMS = {"Runtime": "runtime", "Control": "control", "Metrics": "metrics"}


def matching(src, at):
    """The index just after the brace that closes the `{` at `at`."""
    depth = 0
    for i in range(at, len(src)):
        if src[i] == "{":
            depth += 1
        elif src[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(src)


def without_tests(src):
    """`src` without the items under `#[cfg(test)]` (a `mod tests { ... }`
    block, or an item up to its `;`); the rest of the file is kept."""
    out, at = [], 0
    while True:
        found = src.find("#[cfg(test)]", at)
        if found < 0:
            out.append(src[at:])
            return "".join(out)
        out.append(src[at:found])
        rest = found + len("#[cfg(test)]")
        brace, semi = src.find("{", rest), src.find(";", rest)
        if brace < 0 and semi < 0:
            return "".join(out)
        if semi >= 0 and (brace < 0 or semi < brace):
            at = semi + 1
        else:
            at = matching(src, brace)


def grouped(src):
    """The first names of every `use crate::{...}` group, nested groups
    included (`use crate::{a::{b, c}, d}` gives a and d)."""
    names = []
    for m in re.finditer(r"use crate::\{", src):
        start = m.end() - 1
        body = src[start + 1 : matching(src, start) - 1]
        depth, part = 0, ""
        for c in body + ",":
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            if c == "," and depth == 0:
                names.append(part.strip().split("::")[0])
                part = ""
            else:
                part += c
    return names


def edges(root):
    graph, where = {}, {}
    for dp, _, fs in os.walk(root):
        for f in fs:
            if not f.endswith(".rs") or f == "tests.rs":
                continue
            rel = os.path.relpath(os.path.join(dp, f), root)[:-3].split("/")
            top = rel[0]
            if top in ("lib", "main"):
                continue
            src = open(os.path.join(dp, f)).read()
            src = "\n".join(l for l in src.split("\n") if not l.strip().startswith("//"))
            src = without_tests(src)
            refs = set(re.findall(r"crate::([a-z_]+)", src))
            names = grouped(src)
            refs.update(names)
            for item, module in ROOT_ITEMS.items():
                if re.search(r"crate::" + item + r"\b", src) or item in names:
                    refs.add(module)
            for r in refs:
                if r and r != top:
                    graph.setdefault(top, set()).add(r)
                    where.setdefault((top, r), set()).add(os.path.join(dp, f))
    tops = set(graph) | {r for rs in graph.values() for r in rs}
    return {k: {r for r in v if r in tops} for k, v in graph.items()}, where


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


failed = False
for root in ROOTS:
    graph, where = edges(root)
    for comp in cycles(graph):
        failed = True
        print(f"module-graph: {root}: modules import each other: {', '.join(comp)}", file=sys.stderr)
        for a in comp:
            for b in sorted(graph.get(a, ())):
                if b in comp:
                    print(f"  {a} -> {b}: {', '.join(sorted(where[(a, b)]))}", file=sys.stderr)
sys.exit(1 if failed else 0)
