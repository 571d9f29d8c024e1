"""What the dashboard knows of jobs: drafts, posted jobs, their steps and log lines.

Workers write these rows; pages and websocket consumers only read them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Network(models.TextChoices):
    LOCAL = "local", "Local"
    DEVNET = "devnet", "Devnet"
    MAINNET = "mainnet", "Mainnet"


class Draft(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="drafts")
    name = models.CharField(max_length=200)
    # The definition as the user last had it, text kept verbatim (it may be invalid JSON).
    definition_text = models.TextField()
    market = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.name


class JobStatus(models.TextChoices):
    POSTING = "posting", "Posting"
    POST_FAILED = "post_failed", "Post failed"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    STOPPED = "stopped", "Stopped"


FINAL_STATUSES = {JobStatus.POST_FAILED, JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED}


class Job(models.Model):
    """A job as posted by this dashboard (or looked up by address)."""

    address = models.CharField(max_length=64, unique=True)
    network = models.CharField(max_length=16, choices=Network.choices, default=Network.LOCAL)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.POSTING, db_index=True)
    market = models.CharField(max_length=64)
    market_name = models.CharField(max_length=120, blank=True)
    # Canonical definition bytes (UTF-8) exactly as pinned, and their CIDv0.
    definition_json = models.TextField()
    ipfs_job = models.CharField(max_length=64)
    ipfs_result = models.CharField(max_length=64, blank=True)
    result_json = models.TextField(blank=True)
    price = models.BigIntegerField(default=0, help_text="NOS base units (1e-6 NOS) per second")
    timeout = models.IntegerField(default=0, help_text="seconds")
    node = models.CharField(max_length=64, blank=True)
    payer = models.CharField(max_length=64, blank=True)
    project = models.CharField(max_length=64, blank=True)
    tx_signature = models.CharField(max_length=100, blank=True)
    # The job account's keypair, recorded before sending so a retry can look the account up.
    # Secret: never rendered, logged or serialized.
    job_secret = models.BinaryField(blank=True, default=b"", editable=False)
    service_url = models.CharField(max_length=300, blank=True)
    sandbox = models.CharField(max_length=32, blank=True, help_text="engine that ran a local job")
    error = models.TextField(blank=True, help_text="why posting failed or the node error")
    exit_code = models.IntegerField(null=True, blank=True)
    stop_requested = models.BooleanField(default=False)
    time_start = models.DateTimeField(null=True, blank=True)
    time_end = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Worker claim: who runs or watches this job, until when.
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True, db_index=True)
    last_seq = models.BigIntegerField(default=0, help_text="sequence number of the last log line")
    # Set by the post form (one per confirm page) so a double submit never posts twice.
    idempotency_key = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        permissions = [("post_remote", "Can post jobs to devnet or mainnet (spends real SOL and NOS)")]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="job_unique_idempotency_key",
            )
        ]
        indexes = [
            # The jobs list orders by (-created_at, -id): with id in the index, a page is an index scan.
            models.Index(fields=["owner", "-created_at", "-id"], name="job_owner_list_order"),
            models.Index(fields=["network", "status"]),
            models.Index(fields=["market", "-created_at"]),
            models.Index(fields=["node", "-created_at"]),
        ]

    def __str__(self) -> str:
        return self.address

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"
    STOPPED = "stopped", "Stopped"
    SKIPPED = "skipped", "Skipped"


class Step(models.Model):
    """One op of a job, in the order it appears in the definition."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="steps")
    index = models.PositiveIntegerField()
    op_id = models.TextField()  # ids have no length limit in the format (a 5,000-character id is valid)
    op_type = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.PENDING)
    exit_code = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    line_count = models.IntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="step_unique_index")]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.op_id}"


class LogStream(models.TextChoices):
    STDOUT = "stdout", "stdout"
    STDERR = "stderr", "stderr"
    SYSTEM = "system", "system"  # what the runner or relay says about the step (pull progress, notes)
    NODE_ERROR = "node", "node error"


class LogLine(models.Model):
    """One line of output. `seq` numbers a job's lines from 1 with no gaps."""

    # No single-column indexes on the keys: (job, seq) and (step, seq) serve those lookups, and every
    # index is written once per line. No foreign-key constraints in the database either: checking two
    # per line was a third of a batch's cost on PostgreSQL. Lines are only written by `LogWriter`, in
    # one statement with the update of their job's row (so the job exists), with steps of that job;
    # deleting a job or step still deletes its lines (Django cascades).
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="lines", db_index=False,
                            db_constraint=False)
    seq = models.BigIntegerField()
    step = models.ForeignKey(Step, null=True, blank=True, on_delete=models.CASCADE, related_name="lines",
                             db_index=False, db_constraint=False)
    stream = models.CharField(max_length=8, choices=LogStream.choices, default=LogStream.STDOUT)
    text = models.TextField()
    ts = models.DateTimeField()

    class Meta:
        ordering = ["job", "seq"]
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="logline_unique_seq")]
        indexes = [models.Index(fields=["step", "seq"])]

    def __str__(self) -> str:
        return f"{self.job_id}#{self.seq}"


class DailySpend(models.Model):
    """NOS committed per user per day, for the server-side spending cap."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    day = models.DateField()
    network = models.CharField(max_length=16, choices=Network.choices)
    amount = models.BigIntegerField(default=0, help_text="NOS base units")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "day", "network"], name="dailyspend_unique")]

    def __str__(self) -> str:
        return f"{self.owner_id} {self.day} {self.network}: {self.amount}"


class WorkerHeartbeat(models.Model):
    name = models.CharField(max_length=100, unique=True)
    seen_at = models.DateTimeField()
    jobs_running = models.IntegerField(default=0)

    def __str__(self) -> str:
        return self.name
