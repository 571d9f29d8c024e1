"""Placeholder: the protocol layer provides cid_v0."""


def cid_v0(data: bytes) -> str:
    raise NotImplementedError
