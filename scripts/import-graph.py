#!/usr/bin/env python3
"""Module-level dependency graph of broker/ (storage in broker/log/ excluded).

A module is a file's path without its extension (conn.c and conn.h are one
module). An edge A -> B means A includes B's header, or (with --objects, from
a build's object files) A calls a function or uses a variable that B
defines: a call declared in one header but defined elsewhere shows up too.
Prints every strongly connected component of more than one module (an import
loop) and, with --edges, every edge. Exit status 1 when a loop of more than
--max-loop modules exists (default 2).

    scripts/import-graph.py broker --objects build/broker
"""
import argparse, os, re, subprocess, sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

def modules(root):
    files = {}
    for d, _, names in os.walk(root):
        rel = os.path.relpath(d, root)
        if rel == 'log' or rel.startswith('log' + os.sep):
            continue
        for n in names:
            if n.endswith(('.c', '.h')):
                path = os.path.normpath(os.path.join(rel, n))
                files[path] = open(os.path.join(d, n)).read()
    return files

def graph(root):
    files = modules(root)
    headers = {os.path.basename(p): p for p in files if p.endswith('.h')}
    by_path = {p: p for p in files}
    edges = {}
    for path, text in files.items():
        src = os.path.splitext(path)[0]
        edges.setdefault(src, set())
        for inc in INCLUDE.findall(text):
            cand = os.path.normpath(os.path.join(os.path.dirname(path), inc))
            target = by_path.get(cand) or by_path.get(os.path.normpath(inc)) or headers.get(os.path.basename(inc))
            if target is None:
                continue
            dst = os.path.splitext(target)[0]
            if dst != src:
                edges[src].add(dst)
    return edges

def symbol_edges(root, objdir, edges):
    """Adds A -> B for every symbol A's object needs and B's object defines."""
    objs = {}
    for d, _, names in os.walk(objdir):
        for n in names:
            if n.endswith('.c.o') and 'ringlog_broker.dir' in d:
                rel = os.path.relpath(os.path.join(d, n), d.split('ringlog_broker.dir')[0] + 'ringlog_broker.dir')
                mod = os.path.normpath(rel[:-4])
                # Objects of sources since moved or deleted linger in old build trees.
                if os.path.exists(os.path.join(root, mod + '.c')):
                    objs[mod] = os.path.join(d, n)
    if not objs:
        sys.exit(f'import-graph: no ringlog_broker objects under {objdir}: build first')
    defined, needed = {}, {}
    for mod, path in objs.items():
        out = subprocess.run(['nm', path], capture_output=True, text=True).stdout
        needed[mod] = set()
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == 'U':
                needed[mod].add(parts[1])
            elif len(parts) == 3 and parts[1] in 'TDBR':
                defined[parts[2]] = mod
    for mod, syms in needed.items():
        for sym in syms:
            dst = defined.get(sym)
            if dst and dst != mod:
                edges.setdefault(mod, set()).add(dst)

def sccs(edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)
    def visit(v):
        index[v] = low[v] = counter[0]; counter[0] += 1
        stack.append(v); on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('root', nargs='?', default='broker')
    ap.add_argument('--edges', action='store_true')
    ap.add_argument('--max-loop', type=int, default=2)
    ap.add_argument('--objects', help='a build directory of broker/ (e.g. build/broker)')
    a = ap.parse_args()
    edges = graph(a.root)
    if a.objects:
        symbol_edges(a.root, a.objects, edges)
    if a.edges:
        for s in sorted(edges):
            for d in sorted(edges[s]):
                print(f'{s} -> {d}')
    loops = [c for c in sccs(edges) if len(c) > 1]
    worst = max((len(c) for c in loops), default=0)
    for c in sorted(loops, key=len, reverse=True):
        print(f'loop of {len(c)}: ' + ' '.join(c))
    print(f'import-graph: {len(edges)} modules, {len(loops)} loops, largest {worst}')
    return 1 if worst > a.max_loop else 0

if __name__ == '__main__':
    sys.exit(main())
