"""Channel-layer settings for tests that use Redis: the backend production uses (nosana_dash/settings.py)."""

from __future__ import annotations

from typing import Any


def redis_channel_layers(url: str, prefix: str) -> dict[str, Any]:
    return {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                        "CONFIG": {"hosts": [url], "prefix": prefix}}}
