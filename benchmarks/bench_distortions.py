"""Benchmark the synthetic distortions: milliseconds per 512x384 RGB image, per kind and severity.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_distortions.py [--repeats 5]``.

The image is scikit-image's bundled astronaut photograph cropped to 384 rows x 512 columns; each figure is the
median over ``--repeats`` calls of :func:`annotation.distortions.distort` with a fresh seeded Generator.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import skimage.data

from annotation.distortions import DISTORTION_KINDS, SEVERITIES, distort


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="calls per kind and severity; the median is printed")
    args = parser.parse_args()

    image = np.ascontiguousarray(skimage.data.astronaut()[:384, :512])
    print(f"image {image.shape[1]}x{image.shape[0]}, median of {args.repeats} calls, ms per image")
    print(f"{'kind':18s}" + "".join(f"{f'sev {severity}':>9s}" for severity in SEVERITIES))
    for kind in DISTORTION_KINDS:
        row = []
        for severity in SEVERITIES:
            times = []
            for repeat in range(args.repeats):
                rng = np.random.default_rng(repeat)
                start = time.perf_counter()
                distort(image, kind, severity, rng)
                times.append(time.perf_counter() - start)
            row.append(1000 * float(np.median(times)))
        print(f"{kind:18s}" + "".join(f"{ms:9.1f}" for ms in row))


if __name__ == "__main__":
    main()
