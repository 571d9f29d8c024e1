"""Pydantic v2 models of the whole Nosana job definition format (`@nosana/types` 2.1.6).

The reference verdict and its error paths come from `validate.py`, which mirrors the
reference validator check for check; these models are the typed view of a definition
that passed it (and the schema the composer builds forms from). Field order follows
the seed example (`version, type, meta, global, ops`; `cmd, image, volumes, work_dir`)
so a definition dumped from a model reads like the documentation's.

Unions are chosen the way the reference chooses them: by key, not by trial.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
)

# Any JSON number (the reference has no integer or range rules).
Number = StrictInt | StrictFloat
# A literal placeholder such as "%%ops.prepare.results.port%%" (regex checked in validate.py).
Placeholder = StrictStr
StringOrList = StrictStr | list[StrictStr]


class Strict(BaseModel):
    """An object that rejects unknown keys, like the reference's `equals` check."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        """The JSON object for this model: only the keys that were set, aliases applied."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


# ---- logistics (confidential jobs) ----------------------------------------------------


class LogisticArgs(Strict):
    endpoint: StrictStr | None = None


class Logistic(Strict):
    type: Literal["api", "api-listen"]
    args: LogisticArgs


class Logistics(Strict):
    send: Logistic
    receive: Logistic


# ---- meta and global --------------------------------------------------------------------

MetaScalar = StrictStr | Number
MetaExtra = MetaScalar | list[MetaScalar] | dict[str, MetaScalar | list[MetaScalar]]


class Meta(BaseModel):
    """Open object: `trigger`, `system_resources`, and any other flat metadata."""

    model_config = ConfigDict(extra="allow", strict=True)
    __pydantic_extra__: dict[str, MetaExtra] = Field(init=False)  # type: ignore[assignment]

    trigger: StrictStr | None = None
    system_resources: dict[str, MetaScalar] | None = None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


class Global(Strict):
    image: StrictStr | None = None
    gpu: StrictBool | None = None
    entrypoint: StringOrList | None = None
    env: dict[str, StrictStr] | None = None
    work_dir: StrictStr | None = None
    variables: dict[str, StrictStr] | None = None


# ---- container/run args parts -----------------------------------------------------------


class Volume(Strict):
    name: StrictStr
    dest: StrictStr


class HttpHealthCheck(Strict):
    type: Literal["http"]
    path: StrictStr
    method: Literal["GET", "POST", "PUT", "DELETE"]
    expected_status: Number
    continuous: StrictBool
    headers: dict[str, StrictStr] | None = None
    body: Any = None


class WebSocketHealthCheck(Strict):
    type: Literal["websocket"]
    expected_response: StrictStr
    continuous: StrictBool


HealthCheck = Annotated[HttpHealthCheck | WebSocketHealthCheck, Field(discriminator="type")]
ServiceType = Literal["web", "api", "webapi", "websocket", "none"]


class ExposedPort(Strict):
    port: Number
    type: ServiceType | None = None
    health_checks: list[HealthCheck] | None = None


class SpreadMarker(Strict):
    """`{"__spread__": "%%ops.x.results.y%%"}`: the node splices the resolved array in."""

    spread: Placeholder = Field(alias="__spread__")
    chunked: StrictBool | None = None


def _expose_object_tag(value: Any) -> str:
    if isinstance(value, dict):
        return "spread" if "__spread__" in value else "port"
    return "spread" if hasattr(value, "spread") else "port"


ExposeObject = Annotated[
    Annotated[SpreadMarker, Tag("spread")] | Annotated[ExposedPort, Tag("port")],
    Discriminator(_expose_object_tag),
]
ExposeItem = Number | Placeholder | ExposeObject
Expose = Number | Placeholder | ExposeObject | list[ExposeItem]

RestartPolicyName = Literal["no", "always", "unless-stopped", "on-failure"]


class RestartPolicyOnFailure(Strict):
    policy: Literal["on-failure"]
    restart_tries: Number | None = None


class S3Auth(Strict):
    REGION: StrictStr
    ACCESS_KEY_ID: StrictStr
    SECRET_ACCESS_KEY: StrictStr


class S3Base(Strict):
    type: Literal["S3"]
    target: StrictStr
    url: StrictStr | None = None
    allowWrite: StrictBool | None = None  # noqa: N815 - the format's own key
    files: list[StrictStr] | None = None
    IAM: S3Auth | None = None


class S3WithBucket(Strict):
    type: Literal["S3"]
    target: StrictStr
    bucket: StrictStr
    url: StrictStr | None = None
    allowWrite: StrictBool | None = None  # noqa: N815
    IAM: S3Auth | None = None


class S3Bucket(Strict):
    url: StrictStr
    files: list[StrictStr] | None = None


class S3WithBuckets(Strict):
    type: Literal["S3"]
    target: StrictStr
    buckets: list[S3Bucket]
    url: StrictStr | None = None
    allowWrite: StrictBool | None = None  # noqa: N815
    IAM: S3Auth | None = None


class HFResource(Strict):
    type: Literal["HF"]
    target: StrictStr
    repo: StrictStr
    revision: StrictStr | None = None
    files: list[StrictStr] | None = None
    accessToken: StrictStr | None = None  # noqa: N815


class OllamaResource(Strict):
    type: Literal["Ollama"]
    model: StrictStr
    target: StrictStr | None = None


def _resource_tag(value: Any) -> str:
    """The reference's selection order: marker, spread, bucket, buckets, HF, Ollama, else S3."""
    if isinstance(value, str):
        return "marker"
    if not isinstance(value, dict):
        value = getattr(value, "__dict__", {})
    if "__spread__" in value or "spread" in value:
        return "spread"
    if "bucket" in value:
        return "bucket"
    if "buckets" in value:
        return "buckets"
    kind = value.get("type")
    if kind == "HF":
        return "hf"
    if kind == "Ollama":
        return "ollama"
    return "s3"


Resource = Annotated[
    Annotated[Literal["__remove-if-empty__"], Tag("marker")]
    | Annotated[SpreadMarker, Tag("spread")]
    | Annotated[S3WithBucket, Tag("bucket")]
    | Annotated[S3WithBuckets, Tag("buckets")]
    | Annotated[HFResource, Tag("hf")]
    | Annotated[OllamaResource, Tag("ollama")]
    | Annotated[S3Base, Tag("s3")],
    Discriminator(_resource_tag),
]


class DockerAuth(Strict):
    username: StrictStr | None = None
    password: StrictStr | None = None
    email: StrictStr | None = None
    server: StrictStr | None = None


class Authentication(Strict):
    docker: DockerAuth | None = None


# ---- op args ----------------------------------------------------------------------------


class ContainerRunArgs(Strict):
    cmd: StringOrList | None = None
    image: StrictStr
    volumes: list[Volume] | None = None
    work_dir: StrictStr | None = None
    entrypoint: StringOrList | None = None
    env: dict[str, StrictStr] | None = None
    gpu: StrictBool | None = None
    expose: Expose | None = None
    private: StrictBool | None = None
    aliases: StringOrList | None = None
    restart_policy: RestartPolicyName | RestartPolicyOnFailure | None = None
    resources: list[Resource] | None = None
    authentication: Authentication | None = None


class ContainerCreateVolumeArgs(Strict):
    name: StrictStr


def _args_tag(value: Any) -> str:
    """The reference picks the args shape by its keys, not by the op's type."""
    if isinstance(value, dict):
        return "run" if "image" in value else "volume"
    return "run" if hasattr(value, "image") else "volume"


OpArgs = Annotated[
    Annotated[ContainerRunArgs, Tag("run")] | Annotated[ContainerCreateVolumeArgs, Tag("volume")],
    Discriminator(_args_tag),
]

StdOption = Literal["stdin", "stdout", "stderr", "nodeerr"]


class OperationResult(Strict):
    regex: StrictStr
    logType: list[StdOption]  # noqa: N815 - 1 to 4 entries, no duplicates (checked in validate.py)


class Execution(Strict):
    group: StrictStr | None = None
    depends_on: list[StrictStr] | None = None
    stop_if_dependent_stops: StrictBool | None = None


OpType = Literal["container/run", "container/create-volume"]


class Operation(Strict):
    type: OpType
    id: StrictStr
    args: OpArgs
    results: dict[str, StrictStr | OperationResult] | None = None
    execution: Execution | None = None


class JobDefinition(Strict):
    version: Literal["0.1"]
    type: Literal["container"]
    meta: Meta | None = None
    global_: Global | None = Field(default=None, alias="global")
    ops: list[Operation]
    logistics: Logistics | None = None
    deployment_id: StrictStr | None = None
