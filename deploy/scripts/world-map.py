#!/usr/bin/env python3
"""Writes console/assets/world.json: the land the console's fleet map draws (decision 0071).

Source: Natural Earth 1:110m physical land (`ne_110m_land`, version 4.1.0; public domain,
naturalearthdata.com), as redistributed in TopoJSON by the npm package world-atlas 2.0.2
(`land-110m.json`; the packaging is ISC, the data stays public domain). Each polygon ring
becomes a list of integers in tenths of a degree: the first point absolute, every later
point as the difference from the one before ([lon0, lat0, dlon1, dlat1, ...]); consecutive
repeats are dropped and rings of fewer than 4 points left out; rings crossing the
antimeridian are made planar (see `planar`). No dependencies.

    python3 deploy/scripts/world-map.py [OUT]   # fetches the package with `npm pack`
"""
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "world-atlas@2.0.2"
MEMBER = "package/land-110m.json"
SCALE = 10  # units per degree


def decode_arcs(topo):
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        pts = []
        for dx, dy in arc:
            x += dx
            y += dy
            pts.append((x * sx + tx, y * sy + ty))
        arcs.append(pts)
    return arcs


def ring_points(arcs, ring):
    pts = []
    for i in ring:
        a = arcs[i] if i >= 0 else arcs[~i][::-1]
        pts.extend(a if not pts else a[1:])
    return pts


def rings(topo):
    arcs = decode_arcs(topo)
    for geom in topo["objects"]["land"]["geometries"]:
        polys = geom["arcs"] if geom["type"] == "MultiPolygon" else [geom["arcs"]]
        for poly in polys:
            for ring in poly:
                q = []
                for lon, lat in ring_points(arcs, ring):
                    p = (round(lon * SCALE), round(lat * SCALE))
                    if not q or q[-1] != p:
                        q.append(p)
                if len(q) < 4:
                    continue
                yield from planar(q)


def planar(q):
    """A ring on the sphere as rings on the plane: longitudes unwrapped where an edge
    crosses the antimeridian (a jump of more than 180 degrees), a ring around a pole
    (Antarctica) closed along the map's edge at that pole, and a ring reaching past 180
    degrees east or west drawn again 360 degrees over (the map clips at its edge)."""
    full = 360 * SCALE
    u = [q[0]]
    for x, y in q[1:]:
        px = u[-1][0]
        while x - px > full // 2:
            x -= full
        while px - x > full // 2:
            x += full
        u.append((x, y))
    if abs(u[-1][0] - u[0][0]) > full // 2:
        pole = 90 * SCALE if sum(y for _, y in u) > 0 else -90 * SCALE
        u += [(u[-1][0], pole), (u[0][0], pole), u[0]]
    xs = [x for x, _ in u]
    shifts = [0]
    if max(xs) > full // 2:
        shifts.append(-full)
    if min(xs) < -full // 2:
        shifts.append(full)
    for dx in shifts:
        out = [u[0][0] + dx, u[0][1]]
        for (ax, ay), (bx, by) in zip(u, u[1:]):
            out += [bx - ax, by - ay]
        yield out


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "console/assets/world.json")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", "--silent", PACKAGE], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        tgz = next(Path(tmp).glob("world-atlas-*.tgz"))
        with tarfile.open(tgz) as t:
            topo = json.load(t.extractfile(MEMBER))
    data = {
        "source": "Natural Earth 1:110m land (ne_110m_land 4.1.0), via npm " + PACKAGE,
        "licence": "public domain (naturalearthdata.com/about/terms-of-use)",
        "scale": SCALE,
        "rings": list(rings(topo)),
    }
    out.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"{out}: {len(data['rings'])} rings, "
          f"{sum(len(r) // 2 for r in data['rings'])} points", file=sys.stderr)


if __name__ == "__main__":
    main()
