"""Benchmark: parse and check (shape-infer) a 200-layer spec, after import.

Target (issue 2): under 50 ms. Run: python bench/parse_check.py
"""
import time

import dlspec


def make_spec(layers: int = 200) -> str:
    lines = ["model Deep {", "    input image(3, 64, 64)"]
    for i in range(layers // 4):
        lines.append(f"    conv(16, 3, padding=1) -> batchnorm -> relu -> dropout(0.1)  # group {i}")
    lines.append("    global_avgpool -> flatten -> linear(10)")
    lines.append("}")
    return "\n".join(lines)


def main():
    text = make_spec()
    dlspec.loads(text).check()  # warm: grammar load and caches
    runs = []
    for _ in range(20):
        start = time.perf_counter()
        dlspec.loads(text, "deep.dlspec").check()
        runs.append(time.perf_counter() - start)
    runs.sort()
    print(f"parse+check of a {text.count('->') + text.count('conv')}-step spec: "
          f"median {runs[len(runs) // 2] * 1e3:.1f} ms, best {runs[0] * 1e3:.1f} ms (target < 50 ms)")


if __name__ == "__main__":
    main()
