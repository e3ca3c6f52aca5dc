"""The Chakra execution-trace (ET) message types, declared in code.

Why in code: Chakra is not on PyPI and its .proto would need protoc at install time. The wire
format is what matters, so this module declares the same messages (package ``ChakraProtoMsg``,
field numbers and types of MLCommons Chakra's ``schema/protobuf/et_def.proto``) as a
FileDescriptorProto and lets the `protobuf` runtime build the classes. Only the messages an ET
file holds are declared: GlobalMetadata, Node, IOInfo, AttributeProto and its list wrappers.
"""

from __future__ import annotations

import enum
from functools import lru_cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool

_F = descriptor_pb2.FieldDescriptorProto
PACKAGE = "ChakraProtoMsg"


class NodeType(enum.IntEnum):
    INVALID_NODE = 0
    METADATA_NODE = 1
    MEM_LOAD_NODE = 2
    MEM_STORE_NODE = 3
    COMP_NODE = 4
    COMM_SEND_NODE = 5
    COMM_RECV_NODE = 6
    COMM_COLL_NODE = 7


class CommType(enum.IntEnum):
    ALL_REDUCE = 0
    REDUCE = 1
    ALL_GATHER = 2
    GATHER = 3
    SCATTER = 4
    BROADCAST = 5
    ALL_TO_ALL = 6
    REDUCE_SCATTER = 7
    REDUCE_SCATTER_BLOCK = 8
    BARRIER = 9


#: AttributeProto's oneof `value`: (scalar name, scalar type, list message); the scalar takes
#: field number 2k+3 and its list 2k+4.
_VALUE_TYPES = [
    ("double", _F.TYPE_DOUBLE), ("float", _F.TYPE_FLOAT), ("int32", _F.TYPE_INT32),
    ("int64", _F.TYPE_INT64), ("uint32", _F.TYPE_UINT32), ("uint64", _F.TYPE_UINT64),
    ("sint32", _F.TYPE_SINT32), ("sint64", _F.TYPE_SINT64), ("fixed32", _F.TYPE_FIXED32),
    ("fixed64", _F.TYPE_FIXED64), ("sfixed32", _F.TYPE_SFIXED32), ("sfixed64", _F.TYPE_SFIXED64),
    ("bool", _F.TYPE_BOOL), ("string", _F.TYPE_STRING), ("bytes", _F.TYPE_BYTES),
]


def _list_name(scalar: str) -> str:
    return {"uint32": "Uint32", "uint64": "Uint64", "sint32": "Sint32", "sint64": "Sint64",
            "sfixed32": "Sfixed32", "sfixed64": "Sfixed64"}.get(scalar, scalar.capitalize()) + "List"


def _field(msg, name: str, number: int, ftype: int, *, repeated: bool = False,
           type_name: str | None = None, oneof: int | None = None) -> None:
    f = msg.field.add()
    f.name, f.number, f.type = name, number, ftype
    f.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    if type_name:
        f.type_name = f".{PACKAGE}.{type_name}"
    if oneof is not None:
        f.oneof_index = oneof


def _file_proto() -> descriptor_pb2.FileDescriptorProto:
    fp = descriptor_pb2.FileDescriptorProto(name="eidola_chakra_et_def.proto", package=PACKAGE,
                                            syntax="proto3")
    for scalar, ftype in _VALUE_TYPES:
        m = fp.message_type.add(name=_list_name(scalar))
        _field(m, "values", 1, ftype, repeated=True)
    attr = fp.message_type.add(name="AttributeProto")
    _field(attr, "name", 1, _F.TYPE_STRING)
    _field(attr, "doc_string", 2, _F.TYPE_STRING)
    attr.oneof_decl.add(name="value")
    for k, (scalar, ftype) in enumerate(_VALUE_TYPES):
        _field(attr, f"{scalar}_val", 2 * k + 3, ftype, oneof=0)
        _field(attr, f"{scalar}_list", 2 * k + 4, _F.TYPE_MESSAGE, type_name=_list_name(scalar), oneof=0)
    meta = fp.message_type.add(name="GlobalMetadata")
    _field(meta, "version", 1, _F.TYPE_STRING)
    _field(meta, "attr", 2, _F.TYPE_MESSAGE, repeated=True, type_name="AttributeProto")
    io = fp.message_type.add(name="IOInfo")
    for i, n in enumerate(("values", "shapes", "types")):
        _field(io, n, i + 1, _F.TYPE_STRING)
    node = fp.message_type.add(name="Node")
    _field(node, "id", 1, _F.TYPE_UINT64)
    _field(node, "name", 2, _F.TYPE_STRING)
    _field(node, "type", 3, _F.TYPE_ENUM, type_name="NodeType")
    _field(node, "ctrl_deps", 4, _F.TYPE_UINT64, repeated=True)
    _field(node, "data_deps", 5, _F.TYPE_UINT64, repeated=True)
    _field(node, "start_time_micros", 6, _F.TYPE_UINT64)
    _field(node, "duration_micros", 7, _F.TYPE_UINT64)
    _field(node, "inputs", 8, _F.TYPE_MESSAGE, type_name="IOInfo")
    _field(node, "outputs", 9, _F.TYPE_MESSAGE, type_name="IOInfo")
    _field(node, "attr", 10, _F.TYPE_MESSAGE, repeated=True, type_name="AttributeProto")
    for enum_cls in (NodeType, CommType):
        e = fp.enum_type.add(name=enum_cls.__name__ if enum_cls is NodeType else "CollectiveCommType")
        for member in enum_cls:
            e.value.add(name=member.name, number=int(member))
    return fp


@lru_cache(maxsize=1)
def messages() -> dict[str, Any]:
    """{"GlobalMetadata": cls, "Node": cls, "AttributeProto": cls, ...} built once."""
    pool = descriptor_pool.DescriptorPool()
    fd = pool.Add(_file_proto())
    try:
        from google.protobuf.message_factory import GetMessageClass
        get = GetMessageClass
    except ImportError:  # protobuf < 4.22
        from google.protobuf.message_factory import MessageFactory
        get = MessageFactory(pool).GetPrototype  # type: ignore[assignment]
    fd = pool.FindFileByName("eidola_chakra_et_def.proto")
    return {name: get(desc) for name, desc in fd.message_types_by_name.items()}


def attr_value(attr: Any) -> Any:
    """The value an AttributeProto holds (scalar, or a list for *_list), None if unset."""
    which = attr.WhichOneof("value")
    if which is None:
        return None
    v = getattr(attr, which)
    return list(v.values) if which.endswith("_list") else v
