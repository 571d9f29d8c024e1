"""Prometheus metrics: counts read from the database at scrape time, plus
process-local gauges (websocket clients) that consumers update."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Max, Min, Sum
from django.utils import timezone
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Websocket clients connected to this process (the log consumer increments and decrements it).
WS_CLIENTS = Gauge("nosana_dash_websocket_clients", "Websocket clients connected to this process")


class DatabaseCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        from jobs.models import Job, JobStatus, WorkerHeartbeat

        jobs = GaugeMetricFamily("nosana_dash_jobs", "Jobs by network and status", labels=["network", "status"])
        for row in Job.objects.values("network", "status").annotate(n=Count("id")).order_by():
            jobs.add_metric([row["network"], row["status"]], row["n"])
        yield jobs

        lines = Job.objects.aggregate(total=Sum("last_seq"))["total"] or 0
        yield GaugeMetricFamily("nosana_dash_log_lines", "Log lines recorded", value=lines)

        posts = GaugeMetricFamily("nosana_dash_posts", "Jobs posted, by network", labels=["network"])
        for per_network in Job.objects.values("network").annotate(n=Count("id")).order_by():
            posts.add_metric([per_network["network"]], per_network["n"])
        yield posts

        now = timezone.now()
        newest = WorkerHeartbeat.objects.aggregate(seen=Max("seen_at"))["seen"]
        lag = GaugeMetricFamily("nosana_dash_worker_heartbeat_age_seconds", "Seconds since a worker last reported")
        lag.add_metric([], (now - newest).total_seconds() if newest else float("nan"))
        yield lag
        oldest = Job.objects.filter(status=JobStatus.QUEUED).aggregate(t=Min("created_at"))["t"]
        wait = GaugeMetricFamily("nosana_dash_oldest_queued_job_seconds", "Age of the oldest queued job")
        wait.add_metric([], (now - oldest).total_seconds() if oldest else 0.0)
        yield wait


def render() -> bytes:
    registry = CollectorRegistry()
    registry.register(DatabaseCollector())
    from prometheus_client import REGISTRY

    return generate_latest(registry) + generate_latest(REGISTRY)
