#!/usr/bin/env python3
"""Writes console/assets/world.json: the land outlines the console's fleet map draws.

Source: Natural Earth 1:110m admin-0 countries (public domain, naturalearthdata.com), as
shipped in the PyPI wheel of geopandas 0.14.4 (geopandas/datasets/naturalearth_lowres).
Every polygon ring becomes a flat [lon, lat, lon, lat, ...] list rounded to 0.1 degree,
consecutive repeats dropped, rings of fewer than 4 points left out. No dependencies:
the shapefile (type 5, polygons) is read with struct.

    python3 deploy/scripts/world-map.py [OUT]   # downloads the wheel with pip
"""
import io
import json
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "geopandas==0.14.4"
SHP = "geopandas/datasets/naturalearth_lowres/naturalearth_lowres.shp"


def rings(shp: bytes):
    pos = 100
    while pos < len(shp):
        _, length = struct.unpack(">ii", shp[pos:pos + 8])
        pos += 8
        rec = shp[pos:pos + length * 2]
        pos += length * 2
        (kind,) = struct.unpack("<i", rec[0:4])
        if kind != 5:
            continue
        nparts, npts = struct.unpack("<ii", rec[36:44])
        parts = list(struct.unpack("<%di" % nparts, rec[44:44 + 4 * nparts])) + [npts]
        o = 44 + 4 * nparts
        pts = [struct.unpack("<dd", rec[o + 16 * i:o + 16 * i + 16]) for i in range(npts)]
        for a, b in zip(parts, parts[1:]):
            ring = []
            for x, y in pts[a:b]:
                p = (round(x, 1), round(y, 1))
                if not ring or ring[-1] != p:
                    ring.append(p)
            if len(ring) >= 4:
                yield [c for p in ring for c in p]


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "console/assets/world.json")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "-d", tmp, WHEEL], check=True)
        wheel = next(Path(tmp).glob("geopandas-*.whl"))
        shp = zipfile.ZipFile(wheel).read(SHP)
    data = {
        "source": "Natural Earth 1:110m admin-0 countries (public domain), via " + WHEEL,
        "rings": list(rings(shp)),
    }
    out.write_text(json.dumps(data, separators=(",", ":")))
    print(f"{out}: {len(data['rings'])} rings", file=sys.stderr)


if __name__ == "__main__":
    main()
