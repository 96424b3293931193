#!/usr/bin/env python3
"""Import loops between files, and upward imports in the core.

Reads every crate's `src/` in the workspace, follows each `use crate::…`, `use super::…`
and `use self::…` (and a crate's own paths written inline) to the file that defines the
name, through `pub use` re-exports, and reports:
- every cycle of files importing each other (anywhere in the workspace);
- in telepay-core, every import of a file on a higher floor (FLOORS below).
Test files (`tests.rs`, `tests/`, `#[cfg(test)]` modules) are left out. Exit 1 on any.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# telepay-core's floors, lowest first: a file may import its own floor or lower.
FLOORS = [
    # values and pure rules
    ["clock", "metrics", "signature", "ipn", "order", "subscription", "directory",
     "payment", "review", "fixtures", "stars"],
    # ports
    ["store", "queue", "telegram", "rotation"],
    # workflows
    ["owner", "access", "invite", "held", "processor", "webhook", "reconcile", "recovery",
     "operator", "bot", "topup", "doctor", "catalog", "setup", "polling"],
    # the one builder
    ["chain"],
]


def crates():
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in ("target", ".git", ".venv", "node_modules")]
        if "Cargo.toml" in filenames and os.path.isdir(os.path.join(dirpath, "src")):
            yield os.path.join(dirpath, "src")


def strip_tests(text):
    """Drops `#[cfg(test)] mod x { … }` blocks and comments."""
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub(\([a-z]+\))? )?mod \w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while depth and j < len(text):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def modules(src):
    """Module path (tuple) -> file, for one crate's src/ (the library's where there is
    one; a `main.rs` beside `lib.rs` is a crate of its own that uses the library)."""
    found = {}
    has_lib = os.path.exists(os.path.join(src, "lib.rs"))
    for dirpath, _, filenames in os.walk(src):
        for name in filenames:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src)[:-3].split(os.sep)
            if rel[0] == "bin" or rel[-1] in ("tests",) or "tests" in rel[:-1]:
                continue
            if has_lib and rel == ["main"]:
                continue
            if rel[-1] in ("mod", "lib", "main"):
                rel = rel[:-1]
            found[tuple(rel)] = path
    return found


def use_trees(text):
    """(is_pub, path) for every leaf of every `use` statement."""
    for m in re.finditer(r"(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", text):
        # `a::b as c` names `a::b`: mark the rename before the blanks go.
        tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+", "@", m.group(2)))
        for path in expand(tree):
            yield bool(m.group(1)), path


def expand(tree):
    i = tree.find("{")
    if i < 0:
        return [tree.split("@")[0]]
    prefix, inner = tree[:i], tree[i + 1:-1]
    parts, depth, cur = [], 0, ""
    for ch in inner:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        parts.append(cur)
    leaves = []
    for part in parts:
        leaves += [prefix + leaf for leaf in expand(part)]
    return leaves


class Crate:
    def __init__(self, src):
        self.src = src
        self.mods = modules(src)
        self.text = {m: strip_tests(open(f).read()) for m, f in self.mods.items()}
        self.reexports = {m: {} for m in self.mods}
        for m, text in self.text.items():
            for is_pub, path in use_trees(text):
                if is_pub:
                    name = path.split("::")[-1]
                    self.reexports[m][name] = path

    def absolute(self, module, path):
        parts = path.split("::")
        if parts[0] == "crate":
            return parts[1:]
        if parts[0] in ("self", "super"):
            base = list(module)
            while parts and parts[0] in ("self", "super"):
                if parts.pop(0) == "super":
                    base = base[:-1]
            return base + parts
        if tuple(module + (parts[0],)) in self.mods:
            return list(module) + parts
        return None

    def resolve(self, module, path, seen=None):
        """The module that defines what `path` (as written in `module`) names."""
        seen = seen or set()
        parts = self.absolute(module, path)
        if parts is None:
            return None
        for k in range(len(parts), -1, -1):
            prefix = tuple(parts[:k])
            if prefix in self.mods:
                rest = parts[k:]
                if len(rest) >= 1 and rest[0] in self.reexports[prefix] and (prefix, rest[0]) not in seen:
                    seen.add((prefix, rest[0]))
                    target = self.reexports[prefix][rest[0]]
                    return self.resolve(prefix, target, seen) or prefix
                return prefix
        return None

    def edges(self):
        graph = {m: set() for m in self.mods}
        for m, text in self.text.items():
            paths = [p for is_pub, p in use_trees(text) if not is_pub]
            paths += re.findall(r"\bcrate(?:::\w+)+", text)
            paths += re.findall(r"(?<![:\w])super(?:::\w+)+", text)
            # `child::item` written inline (not in a `use`), from a module to one of its
            # own children.
            code = re.sub(r"(pub(\([^)]*\))?\s+)?use\s+[^;]+;", "", text)
            for child in re.findall(r"(?<![:\w])(\w+)::\w+", code):
                if tuple(m) + (child,) in self.mods:
                    paths.append(child)
            for path in paths:
                if path.endswith("::self"):
                    path = path[: -len("::self")]
                if path.split("::")[-1] == "*":
                    path = path[: -len("::*")]
                target = self.resolve(m, path)
                if target is not None and target != m:
                    graph[m].add(target)
        return graph


def cycles(graph):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def floor(module):
    for level, names in enumerate(FLOORS):
        if module and module[0] in names:
            return level
    return None


def main():
    problems = 0
    for src in sorted(crates()):
        crate = Crate(src)
        graph = crate.edges()
        rel = os.path.relpath(src, ROOT)
        for comp in cycles(graph):
            problems += 1
            files = sorted(os.path.relpath(crate.mods[m], ROOT) for m in comp)
            print(f"import loop: {' <-> '.join(files)}")
        if rel == os.path.join("shared", "core", "src"):
            for m, targets in graph.items():
                for t in targets:
                    a, b = floor(m), floor(t)
                    if a is None or b is None:
                        continue
                    if b > a:
                        problems += 1
                        print(f"upward import: {os.path.relpath(crate.mods[m], ROOT)} (floor {a}) "
                              f"imports {os.path.relpath(crate.mods[t], ROOT)} (floor {b})")
            unplaced = [m for m in graph if m and floor(m) is None]
            for m in unplaced:
                problems += 1
                print(f"no floor for {os.path.relpath(crate.mods[m], ROOT)}: add it to FLOORS")
    if problems:
        sys.exit(1)
    print("imports: no loops between files, no upward import in the core")


if __name__ == "__main__":
    main()
