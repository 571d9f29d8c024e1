"""The ops graph as the node will run it: stages (execution groups) left to right,
depends_on arrows, and dashed lines from the op that creates a volume to the ops that mount it.

Pure layout: returns coordinates; `templates/jobs/composer/_graph.html` draws the SVG.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NODE_W = 176
NODE_H = 50
COL_GAP = 56
ROW_GAP = 18
PAD = 16
HEAD = 26  # room for the stage labels


@dataclass
class Node:
    index: int
    op_id: str
    kind: str  # "run" | "volume" | "other"
    detail: str
    stage: int
    x: int = 0
    y: int = 0
    level: str = ""  # "", "warning" or "error"
    volumes: list[str] = field(default_factory=list)
    missing_deps: list[str] = field(default_factory=list)

    @property
    def cx(self) -> int:
        return self.x + NODE_W // 2

    @property
    def label(self) -> str:
        return self.op_id if len(self.op_id) <= 22 else self.op_id[:21] + "…"

    @property
    def short_detail(self) -> str:
        return self.detail if len(self.detail) <= 26 else self.detail[:25] + "…"


@dataclass
class Edge:
    kind: str  # "depends" | "volume"
    path: str  # SVG path data
    label: str = ""
    lx: int = 0
    ly: int = 0


@dataclass
class Stage:
    name: str
    explicit: bool  # named by execution.group (otherwise the op's own id)
    x: int
    count: int


@dataclass
class Graph:
    nodes: list[Node]
    edges: list[Edge]
    stages: list[Stage]
    width: int
    height: int

    @property
    def stage_arrows(self) -> list[tuple[int, int]]:
        """x positions between consecutive stages (the node waits for a stage to end)."""
        return [(s.x + NODE_W + 8, s.x + NODE_W + COL_GAP - 8) for s in self.stages[:-1]]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def build_graph(definition: Any, levels: dict[int, str] | None = None) -> Graph:
    levels = levels or {}
    ops = definition.get("ops") if isinstance(definition, dict) else None
    if not isinstance(ops, list):
        return Graph([], [], [], 0, 0)
    stage_of: dict[str, int] = {}
    stage_names: list[tuple[str, bool]] = []
    nodes: list[Node] = []
    for i, op in enumerate(ops):
        op = op if isinstance(op, dict) else {}
        args: dict[str, Any] = op["args"] if isinstance(op.get("args"), dict) else {}
        execution: dict[str, Any] = op["execution"] if isinstance(op.get("execution"), dict) else {}
        op_id = _text(op.get("id")) or f"#{i + 1}"
        group = _text(execution.get("group"))
        key = f"g:{group}" if group else f"op:{op_id}:{i}"
        if key not in stage_of:
            stage_of[key] = len(stage_names)
            stage_names.append((group or op_id, bool(group)))
        if op.get("type") == "container/create-volume":
            kind, detail = "volume", "volume " + _text(args.get("name"))
        elif op.get("type") == "container/run":
            kind, detail = "run", _text(args.get("image")) or "(no image)"
        else:
            kind, detail = "other", _text(op.get("type")) or "(no type)"
        mounts: list[Any] = args["volumes"] if isinstance(args.get("volumes"), list) else []
        node = Node(i, op_id, kind, detail, stage_of[key], level=levels.get(i, ""))
        node.volumes = [_text(v.get("name")) for v in mounts if isinstance(v, dict)]
        nodes.append(node)
    rows: dict[int, int] = {}
    for node in nodes:
        row = rows.get(node.stage, 0)
        rows[node.stage] = row + 1
        node.x = PAD + node.stage * (NODE_W + COL_GAP)
        node.y = PAD + HEAD + row * (NODE_H + ROW_GAP)
    stages = [
        Stage(name, explicit, PAD + s * (NODE_W + COL_GAP), rows.get(s, 0))
        for s, (name, explicit) in enumerate(stage_names)
    ]
    by_id: dict[str, Node] = {}
    for node in nodes:
        by_id.setdefault(node.op_id, node)
    edges: list[Edge] = []
    for i, op in enumerate(ops):
        exe: dict[str, Any] = (
            op["execution"] if isinstance(op, dict) and isinstance(op.get("execution"), dict) else {}
        )
        deps = exe.get("depends_on")
        for dep in deps if isinstance(deps, list) else []:
            source = by_id.get(dep) if isinstance(dep, str) else None
            if source is None or source is nodes[i]:
                nodes[i].missing_deps.append(str(dep))
                continue
            edges.append(Edge("depends", _curve(source, nodes[i])))
    creators: dict[str, Node] = {}
    for node in nodes:
        if node.kind == "volume":
            creators.setdefault(node.detail.removeprefix("volume "), node)
    for node in nodes:
        for name in node.volumes:
            creator = creators.get(name)
            if creator is not None and creator is not node:
                edges.append(
                    Edge("volume", _curve(creator, node, low=True), name,
                         (creator.cx + node.cx) // 2, max(creator.y, node.y) + NODE_H + 12)
                )
    width = PAD * 2 + max(1, len(stage_names)) * (NODE_W + COL_GAP) - COL_GAP
    height = PAD * 2 + HEAD + max(rows.values(), default=1) * (NODE_H + ROW_GAP) + 10
    return Graph(nodes, edges, stages, width, height)


def _curve(a: Node, b: Node, *, low: bool = False) -> str:
    """A smooth arrow from a to b; ops in the same stage are joined around the right side."""
    if low:
        x1, y1, x2, y2 = a.cx, a.y + NODE_H, b.cx, b.y + NODE_H
        dip = max(y1, y2) + 22
        return f"M{x1},{y1} C{x1},{dip} {x2},{dip} {x2},{y2}"
    if a.stage == b.stage:
        x = a.x + NODE_W
        y1, y2 = a.y + NODE_H // 2, b.y + NODE_H // 2
        return f"M{x},{y1} C{x + 34},{y1} {x + 34},{y2} {x + 2},{y2}"
    x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
    x2, y2 = b.x, b.y + NODE_H // 2
    mid = (x1 + x2) // 2
    return f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2 - 2},{y2}"
