"""Model pictures without graphviz: a `views.graph.ModelGraph` in, a matplotlib drawing (svg/png/pdf) out.

A layered layout: each box sits one rank below its deepest input, a branch
takes the next free lane beside the main chain, and a long model is folded
into side-by-side columns of about equal length (at most RANKS_PER_COLUMN ranks) that break
between blocks where they can, so ResNet-18
fits a page. Skip edges are dashed red arcs; groups (blocks, labels) are
labelled frames around their boxes, one frame per column they span.
"""
from __future__ import annotations

import math



RANKS_PER_COLUMN = 30
BOX_W, BOX_H, RANK_H, LANE_W, COLUMN_GAP = 2.9, 0.56, 1.05, 3.15, 1.0
_FILL = {"layer": "#e8f0fb", "merge": "#fdebd0", "param": "#e8f6e8", "input": "#ffffff", "output": "#ffffff"}


def layout(graph) -> tuple:
    """Box id -> (column, rank in column, lane), and the number of lanes."""
    incoming: dict = {}
    for a, b, skip in graph.edges:
        incoming.setdefault(b, []).append((a, skip))
    rank, lane, taken = {}, {}, set()
    for box in graph.boxes:  # boxes are created in execution order: inputs come first
        preds = incoming.get(box.id, [])
        rank[box.id] = max((rank[a] + 1 for a, _ in preds), default=0)
        main = [a for a, skip in preds if not skip] or [a for a, _ in preds]
        wanted = lane[main[0]] if main else 0
        candidate = wanted
        for step in range(len(graph.boxes) + 1):  # the nearest free lane: 0, +1, -1, +2, ...
            candidate = wanted + (step + 1) // 2 * (1 if step % 2 else -1)
            if (rank[box.id], candidate) not in taken:
                break
        lane[box.id] = candidate
        taken.add((rank[box.id], candidate))
    shift = -min(lane.values())
    starts = _column_starts(graph, rank)
    places = {}
    for b, r in rank.items():
        column = max(i for i, s in enumerate(starts) if s <= r)
        places[b] = (column, r - starts[column], lane[b] + shift)
    return places, max(lane.values()) + shift + 1


def _column_starts(graph, rank: dict) -> list:
    """The first rank of each column: columns of even length that break where the fewest groups
    (blocks, labels) would be cut in two."""
    spans: dict = {}
    for box in graph.boxes:
        g = box.group
        while g is not None:
            low, high = spans.get(g, (rank[box.id], rank[box.id]))
            spans[g] = (min(low, rank[box.id]), max(high, rank[box.id]))
            g = graph.groups[g].parent
    total = max(rank.values()) + 1
    per_column = math.ceil(total / math.ceil(total / RANKS_PER_COLUMN))
    cuts = {r: sum(low < r <= high for low, high in spans.values()) for r in range(total)}
    starts = [0]
    while total - starts[-1] > RANKS_PER_COLUMN:
        target = starts[-1] + per_column
        window = range(starts[-1] + per_column // 2, min(starts[-1] + RANKS_PER_COLUMN, total - 1) + 1)
        starts.append(min(window, key=lambda r: (cuts[r], abs(r - target), -r)))
    return starts


def draw_matplotlib(graph, out: str) -> None:
    """Draw the graph into `out` with matplotlib (Agg: no display needed)."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    places, n_lanes = layout(graph)
    columns = max(c for c, _, _ in places.values()) + 1
    rows = min(RANKS_PER_COLUMN, max(r for _, r, _ in places.values()) + 1)
    column_w = n_lanes * LANE_W + COLUMN_GAP

    def xy(box_id):
        c, r, l = places[box_id]
        return c * column_w + l * LANE_W + BOX_W / 2, -r * RANK_H

    fig_w, fig_h = max(columns * column_w, 6) * 0.9, max(rows * RANK_H + 1.2, 3) * 0.9
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    ax.set_axis_off()
    _draw_groups(ax, graph, places, xy, FancyBboxPatch)
    connectors = 0
    for a, b, skip in graph.edges:
        (x0, y0), (x1, y1) = xy(a), xy(b)
        color = "#c0392b" if skip else "#5a6474"
        style = dict(arrowstyle="-|>", color=color, lw=1.0, linestyle="--" if skip else "-", mutation_scale=8)
        if places[a][0] != places[b][0]:  # into another column: numbered connectors, not a long line
            connectors += 1
            for (x, y), dy in (((x0, y0 - BOX_H / 2), -0.28), ((x1, y1 + BOX_H / 2), 0.28)):
                ax.annotate("", xy=(x, y) if dy > 0 else (x, y + dy), xytext=(x, y + dy) if dy > 0 else (x, y),
                            arrowprops=dict(shrinkA=0, shrinkB=0, **style))
                ax.text(x + 0.12, y + dy, f"({connectors})", fontsize=7, color=color, va="center")
            continue
        rad = -0.3 if skip and abs(x0 - x1) < 1e-6 else 0.0
        ax.annotate("", xy=(x1, y1 + BOX_H / 2), xytext=(x0, y0 - BOX_H / 2),
                    arrowprops=dict(connectionstyle=f"arc3,rad={rad}", shrinkA=0, shrinkB=1, **style))
    for box in graph.boxes:
        x, y = xy(box.id)
        ax.add_patch(FancyBboxPatch((x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H,
                                    boxstyle="round,pad=0.02,rounding_size=0.12", fc=_FILL[box.kind],
                                    ec="#7a869a", lw=0.8, zorder=3))
        ax.text(x, y + 0.11, box.title, ha="center", va="center", fontsize=8, zorder=4)
        ax.text(x, y - 0.16, box.shape, ha="center", va="center", fontsize=7.5, color="#33508a", zorder=4)
    ax.set_title(graph.title, fontsize=12, loc="left")
    ax.set_xlim(-0.5, columns * column_w)
    ax.set_ylim(-(rows - 1) * RANK_H - 0.8, 0.9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _draw_groups(ax, graph, places, xy, patch) -> None:
    """A frame per group and column around its boxes and inner frames, its label on top."""
    frames: dict = {}  # (group, column) -> [x0, y0, x1, y1]
    for box in graph.boxes:
        if box.group is not None:
            x, y = xy(box.id)
            _grow(frames, (box.group, places[box.id][0]), (x - BOX_W / 2, y - BOX_H / 2, x + BOX_W / 2, y + BOX_H / 2))
    order = sorted(range(len(graph.groups)), key=lambda g: -_depth(graph, g))
    for g in order:  # innermost first, so an enclosing frame grows around the frames inside it
        for (group, column), (x0, y0, x1, y1) in list(frames.items()):
            if group != g:
                continue
            frame = (x0 - 0.08, y0 - 0.08, x1 + 0.08, y1 + 0.26)
            frames[(group, column)] = list(frame)
            parent = graph.groups[g].parent
            if parent is not None:
                _grow(frames, (parent, column), frame)
    for (g, _), (x0, y0, x1, y1) in frames.items():
        ax.add_patch(patch((x0, y0), x1 - x0, y1 - y0, boxstyle="round,pad=0,rounding_size=0.12",
                           fc="none", ec="#9aa5b8", lw=0.8, linestyle="--", zorder=1))
        ax.text(x0 + 0.08, y1 - 0.04, graph.groups[g].label, fontsize=7.5, color="#4a5568",
                va="top", ha="left", zorder=2)


def _grow(frames: dict, key, box) -> None:
    old = frames.get(key)
    frames[key] = list(box) if old is None else [min(old[0], box[0]), min(old[1], box[1]),
                                                 max(old[2], box[2]), max(old[3], box[3])]


def _depth(graph, g) -> int:
    depth = 0
    while graph.groups[g].parent is not None:
        g, depth = graph.groups[g].parent, depth + 1
    return depth
