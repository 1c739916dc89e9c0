"""Writes the benchmark tile set: every tile z10–z16 over central HCMC
(bbox 106.66,10.75,106.72,10.80), one `z/x/y` a line, to the file named by argv[1]."""
import math
import sys


def tile(lon, lat, z):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


with open(sys.argv[1], "w") as out:
    for z in range(10, 17):
        x0, y0 = tile(106.66, 10.80, z)
        x1, y1 = tile(106.72, 10.75, z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                out.write(f"{z}/{x}/{y}\n")
