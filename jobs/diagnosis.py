"""Failure diagnosis: recognise common endings and say them in plain words.

Reads only: the job, its steps and the last lines of each failed step (and any
node-error line). Each finding links to the line that gave it away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jobs import ansi
from jobs.models import Job, JobStatus, LogLine, Step, StepStatus
from jobs.selectors import job_status_note

TAIL_PER_STEP = 400


@dataclass(frozen=True)
class Rule:
    kind: str
    title: str
    advice: str
    pattern: re.Pattern[str] | None = None
    exit_codes: tuple[int, ...] = ()


RULES: tuple[Rule, ...] = (
    Rule("cuda-oom", "The GPU ran out of memory (CUDA out of memory).",
         "Use a smaller model or batch size, or a market whose GPUs have more VRAM.",
         re.compile(r"CUDA out of memory|CUDA error: out of memory|OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED", re.I)),
    Rule("oom", "The container ran out of memory and was killed (exit 137).",
         "The kernel's out-of-memory killer stopped it: lower memory use or pick a node with more RAM.",
         re.compile(r"\bOOMKilled\b|Out of memory: Killed process|\bKilled\s*$|MemoryError", re.I), (137,)),
    Rule("image-pull", "The image could not be pulled (denied or not found).",
         "Check the image name and tag, and that the registry allows anonymous pulls (or add credentials).",
         re.compile(r"pull access denied|manifest unknown|manifest for \S+ not found|repository does not exist"
                    r"|requested access to the resource is denied|failed to resolve reference|no such image"
                    r"|unauthorized: authentication required|ErrImagePull|ImagePullBackOff|image .* not found", re.I)),
    Rule("port", "The exposed port never opened.",
         "The service must listen on 0.0.0.0 at the exposed port; check the command and the port number.",
         re.compile(r"port \d+ (?:never|did not|was not|is not) (?:open|opened|become|listening)"
                    r"|timed out waiting for (?:the )?port|never opened|address already in use", re.I)),
    Rule("health", "The health check kept failing.",
         "The service started but did not answer its health check; check the health check path and start-up time.",
         re.compile(r"health ?check (?:failed|failing|timed out)|unhealthy", re.I)),
    Rule("not-found", "A command was not found in the image.",
         "Install it in the image or use a path that exists there; `/bin/sh -c` helps with shell syntax.",
         re.compile(r"command not found|executable file not found|exec: \S+: not found|exec format error"
                    r"|: not found$|no such file or directory.*exec", re.I), (127,)),
    Rule("funds", "Not enough funds to pay for the job.",
         "Top up SOL for fees and NOS for the job price × timeout, then post again.",
         re.compile(r"insufficient funds|insufficient lamports|Not enough NOS|Minimum of [\d.]+ SOL", re.I)),
)


@dataclass
class Finding:
    kind: str
    title: str
    advice: str
    section: str = ""  # op id, or "" for the job
    line_n: int | None = None
    line_text: str = ""

    @property
    def anchor(self) -> str:
        return f"{self.section or '_job'}-L{self.line_n}" if self.line_n else ""


def _numbered_tail(step: Step | None, job: Job) -> list[tuple[int, LogLine]]:
    qs = LogLine.objects.filter(step=step) if step is not None else LogLine.objects.filter(job=job, step__isnull=True)
    rows = list(qs.only("seq", "stream", "text").order_by("-seq")[:TAIL_PER_STEP])
    rows.reverse()
    total = step.line_count if step is not None else qs.count()
    first = total - len(rows) + 1
    return [(first + i, row) for i, row in enumerate(rows)]


def diagnose(job: Job, steps: list[Step]) -> list[Finding]:
    """Findings for a job that failed, stopped, or has failed steps; newest evidence wins per kind."""
    # At the deadline the node kills the ops: their exit codes (137, 143) are that kill, not a failure.
    expired = bool(job_status_note(job))
    failed = [s for s in steps if s.status in (StepStatus.FAILED, StepStatus.STOPPED)
              or ((s.exit_code or 0) != 0 and not expired)]
    troubled = job.status in (JobStatus.FAILED, JobStatus.POST_FAILED, JobStatus.STOPPED) or failed
    if not troubled:
        return []
    findings: dict[str, Finding] = {}
    sections: list[Step | None] = [*failed, None]
    for step in sections:
        section = step.op_id if step is not None else ""
        tail = _numbered_tail(step, job)
        for rule in RULES:
            if rule.kind in findings:
                continue
            hit = None
            if rule.pattern is not None:
                for n, row in reversed(tail):
                    if rule.pattern.search(ansi.strip(row.text)):
                        hit = (n, row)
                        break
            if hit is not None:
                findings[rule.kind] = Finding(rule.kind, rule.title, rule.advice, section, hit[0],
                                              ansi.strip(hit[1].text)[:300])
            elif step is not None and step.exit_code in rule.exit_codes and not expired:
                last_n = tail[-1][0] if tail else None
                findings[rule.kind] = Finding(rule.kind, rule.title, rule.advice, section, last_n,
                                              f"exit code {step.exit_code}")
    text = f"{job.error}"
    for rule in RULES:
        if rule.kind not in findings and rule.pattern is not None and text and rule.pattern.search(text):
            findings[rule.kind] = Finding(rule.kind, rule.title, rule.advice, "", None, text[:300])
    # CUDA OOM explains a 137 better than "out of memory" does.
    if "cuda-oom" in findings:
        findings.pop("oom", None)
    return list(findings.values())
