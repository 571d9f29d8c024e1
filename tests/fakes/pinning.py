"""FakePinning: the pinning service's file endpoint and an IPFS gateway, in memory.

    pinning = FakePinning(jwt="test-token")
    transport = httpx.MockTransport(pinning.handle)
    pinning.put(result_bytes)                 # preload content (e.g. a result document)
    pinning.fail("upload", "5xx", times=2)    # faults: "5xx", "429", "timeout", "wrong_cid"
    pinning.fail("fetch", "corrupt")          # gateway faults: "5xx", "timeout", "corrupt", "404"

`POST /pinning/pinFileToIPFS` (multipart field `file`, Bearer token) answers
`{"IpfsHash", "PinSize", "Timestamp"}` with the CIDv0 of the exact file bytes;
`GET /ipfs/<cid>` serves stored bytes. `uploads` counts accepted uploads.
"""

from __future__ import annotations

import json
from collections import defaultdict
from email.parser import BytesParser
from email.policy import HTTP

import httpx

from nosana_dash.network.codec.cid import cid_v0


class FakePinning:
    def __init__(self, *, jwt: str = "test-token") -> None:
        self.jwt = jwt
        self.store: dict[str, bytes] = {}
        self.uploads = 0
        self.options: list[dict[str, object]] = []
        self._faults: dict[str, list[str]] = defaultdict(list)

    def fail(self, what: str, kind: str, times: int = 1) -> None:
        self._faults[what].extend([kind] * times)

    def put(self, data: bytes) -> str:
        cid = cid_v0(data)
        self.store[cid] = bytes(data)
        return cid

    def _fault(self, what: str, request: httpx.Request) -> str | None:
        kind = self._faults[what].pop(0) if self._faults[what] else None
        if kind == "timeout":
            raise httpx.ReadTimeout("fake timeout", request=request)
        return kind

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path.endswith("/pinning/pinFileToIPFS"):
            return self._upload(request)
        if request.method == "GET" and "/ipfs/" in path:
            return self._fetch(request, path.rsplit("/ipfs/", 1)[1])
        return httpx.Response(404, json={"error": "not found"})

    def _upload(self, request: httpx.Request) -> httpx.Response:
        kind = self._fault("upload", request)
        if kind == "5xx":
            return httpx.Response(502, text="bad gateway")
        if kind == "429":
            return httpx.Response(429, text="slow down")
        if request.headers.get("authorization") != f"Bearer {self.jwt}":
            return httpx.Response(401, json={"error": "Invalid authentication credentials"})
        parts = _multipart(request)
        if "file" not in parts:
            return httpx.Response(400, json={"error": "file is required"})
        data = parts["file"]
        self.options.append(json.loads(parts.get("pinataOptions", b"{}")))
        cid = self.put(data)
        self.uploads += 1
        returned = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG" if kind == "wrong_cid" else cid
        return httpx.Response(200, json={"IpfsHash": returned, "PinSize": len(data), "Timestamp": "2026-01-01T00:00:00Z"})

    def _fetch(self, request: httpx.Request, cid: str) -> httpx.Response:
        kind = self._fault("fetch", request)
        if kind == "5xx":
            return httpx.Response(504, text="gateway timeout")
        if kind == "404" or cid not in self.store:
            return httpx.Response(404, text="not found")
        data = self.store[cid]
        if kind == "corrupt":
            data = data + b" "
        return httpx.Response(200, content=data, headers={"content-type": "application/json"})


def _multipart(request: httpx.Request) -> dict[str, bytes]:
    """Parse a multipart/form-data body into {field name: bytes}."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.content)
    out: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            out[name] = payload
    return out
