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
            src = open(os.path.join(dp, f)).read().split("#[cfg(test)]")[0]
            src = "\n".join(l for l in src.split("\n") if not l.strip().startswith("//"))
            refs = set(re.findall(r"crate::([a-z_]+)", src))
            for group in re.findall(r"use crate::\{([^}]*)\}", src, re.S):
                refs.update(part.strip().split("::")[0] for part in group.split(","))
            for item, module in ROOT_ITEMS.items():
                if re.search(r"crate::" + item + r"\b", src) or re.search(
                    r"use crate::\{[^}]*\b" + item + r"\b", src, re.S
                ):
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
