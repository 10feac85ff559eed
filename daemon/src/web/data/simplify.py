#!/usr/bin/env python3
"""Makes countries.txt, the web view's base map, from world-atlas's
countries-50m.json (Natural Earth 1:50m Admin 0 countries, public domain;
npm package world-atlas 2.0.2): decodes the TopoJSON arcs, simplifies each
ring (Douglas-Peucker, TOLERANCE degrees), drops rings that shrink to
nothing, and writes one line per country:

    <ISO 3166-1 numeric id>\t<name>\t<ring>|<ring>...

a ring being `lon,lat lon,lat ...` to two decimals. Usage:
    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python3 simplify.py package/countries-50m.json > countries.txt
"""
import json
import sys

TOLERANCE = 0.08


def decode_arcs(topo):
    sx, sy = topo["transform"]["scale"]
    tx, ty = topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def ring(arcs, indexes):
    points = []
    for i in indexes:
        arc = arcs[i] if i >= 0 else list(reversed(arcs[~i]))
        points.extend(arc if not points else arc[1:])
    return points


def simplify(points, tol):
    if len(points) < 4:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        a, b = stack.pop()
        (x1, y1), (x2, y2) = points[a], points[b]
        dx, dy = x2 - x1, y2 - y1
        norm = (dx * dx + dy * dy) ** 0.5
        best, at = 0.0, None
        for i in range(a + 1, b):
            x, y = points[i]
            d = abs(dy * (x - x1) - dx * (y - y1)) / norm if norm else ((x - x1) ** 2 + (y - y1) ** 2) ** 0.5
            if d > best:
                best, at = d, i
        if at is not None and best > tol:
            keep[at] = True
            stack.append((a, at))
            stack.append((at, b))
    return [p for p, k in zip(points, keep) if k]


def main(path):
    topo = json.load(open(path))
    arcs = decode_arcs(topo)
    for geometry in topo["objects"]["countries"]["geometries"]:
        kind = geometry.get("type")
        if kind == "Polygon":
            polygons = [geometry["arcs"]]
        elif kind == "MultiPolygon":
            polygons = geometry["arcs"]
        else:
            continue
        rings = []
        for polygon in polygons:
            for indexes in polygon[:1]:  # outer rings only: the base map has no holes
                points = simplify(ring(arcs, indexes), TOLERANCE)
                if len(points) >= 4:
                    rings.append(" ".join(f"{x:.2f},{y:.2f}" for x, y in points))
        if rings:
            name = geometry.get("properties", {}).get("name", "")
            print(f"{geometry.get('id', '')}\t{name}\t{'|'.join(rings)}")


if __name__ == "__main__":
    main(sys.argv[1])
