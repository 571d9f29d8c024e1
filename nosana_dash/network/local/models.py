"""The embedded network's "chain" and content store, kept in the database.

These tables play the part of the Solana accounts and IPFS for the local
network; the dashboard reads them only through `nosana_dash.network`.
"""

from __future__ import annotations

from django.db import models


class Content(models.Model):
    """Bytes kept under their real CIDv0."""

    cid = models.CharField(max_length=64, primary_key=True)
    data = models.BinaryField()
    content_type = models.CharField(max_length=100, default="application/json")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return str(self.cid)


class LedgerMarket(models.Model):
    address = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    gpu = models.CharField(max_length=120)
    vram_gb = models.IntegerField(default=0)
    price = models.BigIntegerField(help_text="NOS base units per second")
    timeout = models.BigIntegerField(help_text="seconds")
    job_expiration = models.BigIntegerField(default=86400)

    class Meta:
        ordering = ["price"]

    def __str__(self) -> str:
        return str(self.name)


class LedgerNode(models.Model):
    address = models.CharField(max_length=64, unique=True)
    market = models.ForeignKey(LedgerMarket, on_delete=models.CASCADE, related_name="nodes")
    specs = models.JSONField(default=dict)

    def __str__(self) -> str:
        return str(self.address)


class LedgerJobState(models.IntegerChoices):
    # Stored numbers as on chain: 1 is never stored, RUNNING is derived from a run.
    QUEUED = 0, "Queued"
    DONE = 2, "Done"
    STOPPED = 3, "Stopped"


class LedgerJob(models.Model):
    address = models.CharField(max_length=64, unique=True)
    ipfs_job = models.CharField(max_length=64)
    ipfs_result = models.CharField(max_length=64, blank=True)
    market = models.ForeignKey(LedgerMarket, on_delete=models.PROTECT, related_name="jobs")
    node = models.CharField(max_length=64, blank=True)
    payer = models.CharField(max_length=64)
    project = models.CharField(max_length=64)
    price = models.BigIntegerField()
    state = models.IntegerField(choices=LedgerJobState.choices, default=LedgerJobState.QUEUED)
    time_start = models.BigIntegerField(default=0)
    time_end = models.BigIntegerField(default=0)
    timeout = models.BigIntegerField()
    listed_at = models.DateTimeField(auto_now_add=True)
    tx_signature = models.CharField(max_length=100)

    def __str__(self) -> str:
        return str(self.address)

    def run_exists(self) -> bool:
        return LedgerRun.objects.filter(job_id=self.pk).exists()


class LedgerRun(models.Model):
    """Exists while a node runs a job, as a run account on chain."""

    address = models.CharField(max_length=64, unique=True)
    job = models.OneToOneField(LedgerJob, on_delete=models.CASCADE, related_name="run")
    node = models.CharField(max_length=64)
    payer = models.CharField(max_length=64)
    time = models.BigIntegerField()

    def __str__(self) -> str:
        return str(self.address)
