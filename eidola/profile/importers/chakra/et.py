"""Reading and writing Chakra ET files as plain Python records.

Why records, not the protobuf objects: the converter looks nodes up by id and walks their
dependencies many times; small dataclasses with the attributes already decoded keep that code
simple and independent of the protobuf runtime's API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError

from eidola.errors import EidolaError
from eidola.profile.importers.chakra.framing import read_frames, write_frames
from eidola.profile.importers.chakra.schema import NodeType, attr_value, messages

#: what eidola writes as GlobalMetadata.version (the schema version Chakra's tools write)
ET_VERSION = "0.0.4"
_RANK_FILE = re.compile(r"^(?P<prefix>.*)\.(?P<rank>\d+)\.et(?:\.gz)?$")


@dataclass
class EtNode:
    id: int
    name: str
    type: int
    ctrl_deps: list[int] = field(default_factory=list)
    data_deps: list[int] = field(default_factory=list)
    duration_micros: int = 0
    attrs: dict[str, Any] = field(default_factory=dict)
    inputs_values: str = ""

    @property
    def type_name(self) -> str:
        try:
            return NodeType(self.type).name
        except ValueError:
            return f"node type {self.type}"


def read_et(path: Path) -> tuple[dict[str, Any], list[EtNode]]:
    """(global metadata {"version", attrs...}, nodes) of one ET file."""
    m = messages()
    frames = read_frames(path)
    first = next(frames, None)
    if first is None:
        raise EidolaError("empty file (a Chakra ET starts with a GlobalMetadata message)", path=path)
    meta_msg = m["GlobalMetadata"]()
    try:
        meta_msg.ParseFromString(first[1])
    except DecodeError:
        raise EidolaError("byte 0: the first message is not a Chakra GlobalMetadata", path=path) from None
    meta: dict[str, Any] = {"version": meta_msg.version}
    meta.update({a.name: attr_value(a) for a in meta_msg.attr})
    nodes: list[EtNode] = []
    seen: set[int] = set()
    for offset, raw in frames:
        msg = m["Node"]()
        try:
            msg.ParseFromString(raw)
        except DecodeError:
            raise EidolaError(f"byte {offset}: not a Chakra Node message", path=path) from None
        if msg.id in seen:
            raise EidolaError(f"node id {msg.id} appears twice", path=path, field="Node.id")
        seen.add(msg.id)
        nodes.append(EtNode(id=int(msg.id), name=msg.name, type=int(msg.type),
                            ctrl_deps=[int(x) for x in msg.ctrl_deps],
                            data_deps=[int(x) for x in msg.data_deps],
                            duration_micros=int(msg.duration_micros),
                            attrs={a.name: attr_value(a) for a in msg.attr},
                            inputs_values=msg.inputs.values))
    return meta, nodes


def _attr(msg_attr: Any, name: str, value: Any) -> None:
    a = msg_attr.add(name=name)
    if isinstance(value, bool):
        a.bool_val = value
    elif isinstance(value, int):
        a.int64_val = value
    elif isinstance(value, float):
        a.double_val = value
    elif isinstance(value, str):
        a.string_val = value
    elif isinstance(value, (list, tuple)) and all(isinstance(v, bool) for v in value):
        a.bool_list.values.extend(value)
    elif isinstance(value, (list, tuple)):
        a.int64_list.values.extend(int(v) for v in value)
    else:
        raise TypeError(f"attribute {name}: cannot encode {type(value).__name__}")


def write_et(path: str | Path, nodes: list[EtNode], *, version: str = ET_VERSION) -> Path:
    """Write one rank's ET (GlobalMetadata then the nodes), atomically."""
    m = messages()
    meta = m["GlobalMetadata"](version=version)
    out = [meta.SerializeToString()]
    for n in nodes:
        msg = m["Node"](id=n.id, name=n.name, type=n.type, duration_micros=n.duration_micros)
        msg.ctrl_deps.extend(n.ctrl_deps)
        msg.data_deps.extend(n.data_deps)
        if n.inputs_values:
            msg.inputs.values = n.inputs_values
        for k, v in n.attrs.items():
            _attr(msg.attr, k, v)
        out.append(msg.SerializeToString())
    return write_frames(Path(path), out)


def rank_files(paths: list[Path]) -> dict[int, Path]:
    """{rank: file} from a directory, a ``<prefix>`` of ``<prefix>.<rank>.et``, or the files."""
    found: dict[int, Path] = {}

    def add(p: Path) -> None:
        mm = _RANK_FILE.match(p.name)
        if not mm:
            raise EidolaError("not named <prefix>.<rank>.et", path=p)
        r = int(mm.group("rank"))
        if r in found and found[r] != p:
            raise EidolaError(f"rank {r} given twice ({found[r].name} and {p.name})", path=p)
        found[r] = p

    for p in paths:
        if p.is_dir():
            files = sorted(x for x in p.iterdir() if _RANK_FILE.match(x.name))
            prefixes = {_RANK_FILE.match(x.name).group("prefix") for x in files}  # type: ignore[union-attr]
            if not files:
                raise EidolaError("directory holds no <prefix>.<rank>.et files", path=p)
            if len(prefixes) > 1:
                raise EidolaError(f"directory holds ETs of several workloads "
                                  f"({', '.join(sorted(prefixes))}); give one prefix", path=p)
            for x in files:
                add(x)
        elif p.exists():
            add(p)
        else:
            files = sorted(x for x in (p.parent if str(p.parent) else Path(".")).glob(p.name + ".*.et*")
                           if (mm := _RANK_FILE.match(x.name)) and mm.group("prefix") == p.name)
            if not files:
                raise EidolaError("no such file, and no <prefix>.<rank>.et files with this prefix",
                                  path=p)
            for x in files:
                add(x)
    return dict(sorted(found.items()))
