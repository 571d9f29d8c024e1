"""IPFS pinning service (upload) and gateway (fetch), both checked against the local CIDv0.

Upload sends the exact canonical bytes to the FILE endpoint as a file with CID
version 0 (the JSON endpoint would re-serialize them), and refuses the answer
unless its CID equals `cid_v0(bytes)`. Pinning is content-addressed, so
retrying an upload can never pin something twice or differently: it is
retried like a read. Fetch verifies the body against the CID it asked for.
The token is sent in a header and never appears in a message or log.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from nosana_dash.network.base import NetworkError, NotConfigured
from nosana_dash.network.codec.cid import CidError, cid_to_digest, cid_v0
from nosana_dash.network.http import new_client, request_once, retry_read, server_busy

PIN_FILE_PATH = "/pinning/pinFileToIPFS"


class CidMismatch(NetworkError):
    """The service or gateway returned a CID or bytes that do not match ours."""


class IpfsClient:
    def __init__(
        self,
        *,
        pinning_url: str,
        jwt: str,
        gateway: str,
        timeout: float,
        max_bytes: int,
        transport: httpx.BaseTransport | None = None,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self.pinning_url = pinning_url.rstrip("/")
        self.gateway = gateway if gateway.endswith("/") else gateway + "/"
        self._jwt = jwt
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.retries = retries
        self.backoff = backoff
        self._client = new_client(timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"IpfsClient(pinning={urlsplit(self.pinning_url).hostname}, gateway={self.gateway})"

    def close(self) -> None:
        self._client.close()

    def content_url(self, cid: str) -> str:
        return f"{self.gateway}{cid}"

    def _retrying(self, what: str, call: Callable[[], httpx.Response]) -> httpx.Response:
        """A read, or an upload (content-addressed, so repeating it is as safe as a read)."""

        def once() -> httpx.Response:
            response = request_once(call, error=NetworkError, subject=what, timeout=self.timeout)
            if server_busy(response.status_code):
                raise NetworkError(f"{what} failed with HTTP {response.status_code}.", retryable=True)
            return response

        return retry_read(once, retries=self.retries, backoff=self.backoff, what=what)

    def upload(self, data: bytes, name: str = "job-definition.json") -> str:
        """Pin `data` as a file (CIDv0) and return its CID, verified against the local one."""
        if not self._jwt:
            raise NotConfigured("No pinning token is configured: set NOSANA_PINNING_JWT.")
        if len(data) > self.max_bytes:
            raise NetworkError(f"The document is {len(data)} bytes; the limit is {self.max_bytes}.")
        expected = cid_v0(data)
        host = urlsplit(self.pinning_url).hostname
        response = self._retrying(
            f"The pinning service {host}",
            lambda: self._client.post(
                self.pinning_url + PIN_FILE_PATH,
                headers={"Authorization": f"Bearer {self._jwt}"},
                files={"file": (name, data, "application/json")},
                data={
                    "pinataOptions": json.dumps({"cidVersion": 0}),
                    "pinataMetadata": json.dumps({"name": name}),
                },
            ),
        )
        if response.status_code in (401, 403):
            raise NotConfigured(f"The pinning service {host} refused the token (HTTP {response.status_code}).")
        if response.status_code >= 400:
            raise NetworkError(f"The pinning service {host} refused the upload (HTTP {response.status_code}).")
        try:
            returned = str(response.json()["IpfsHash"])
        except (ValueError, KeyError, TypeError):
            raise NetworkError(f"The pinning service {host} answered without an IpfsHash.") from None
        if returned != expected:
            raise CidMismatch(
                f"The pinning service returned CID {returned[:80]}, but the document's CIDv0 is {expected}; refusing it."
            )
        return expected

    def fetch(self, cid: str) -> bytes:
        """GET the content through the gateway; its bytes must hash to `cid`."""
        try:
            cid_to_digest(cid)
        except CidError as exc:
            raise NetworkError(str(exc)) from None
        url = self.content_url(cid)
        host = urlsplit(self.gateway).hostname
        body = self._retrying(f"The IPFS gateway {host}", lambda: self._get_limited(url))
        if body.status_code == 404:
            raise NetworkError(f"The IPFS gateway {host} does not have {cid}.")
        if body.status_code >= 400:
            raise NetworkError(f"The IPFS gateway {host} answered HTTP {body.status_code} for {cid}.")
        content = body.content
        if cid_v0(content) != cid:
            raise CidMismatch(f"The IPFS gateway {host} returned bytes that do not match {cid}.")
        return content

    def _get_limited(self, url: str) -> httpx.Response:
        """Stream the body and stop at the size limit (never hold more than max_bytes)."""
        with self._client.stream("GET", url) as response:
            if response.status_code >= 400:
                response.read()
                return response
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise NetworkError(f"The content at {url} is larger than {self.max_bytes} bytes.")
                chunks.append(chunk)
            return httpx.Response(response.status_code, content=b"".join(chunks), request=response.request)
