"""The local content store: bytes kept under their real CIDv0."""

from __future__ import annotations

from nosana_dash.network.codec.cid import cid_v0
from nosana_dash.network.local.models import Content


def put(data: bytes, content_type: str = "application/json") -> str:
    cid = cid_v0(data)
    Content.objects.get_or_create(cid=cid, defaults={"data": data, "content_type": content_type})
    return cid


def get(cid: str) -> tuple[bytes, str] | None:
    row = Content.objects.filter(cid=cid).only("data", "content_type").first()
    if row is None:
        return None
    return bytes(row.data), row.content_type
