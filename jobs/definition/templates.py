"""Starting points for the composer's gallery. Each `text` is a complete job definition.

`seed-multi-op` is the documentation's multi_job.json byte for byte (so it pins to the
same CID the documentation's `nosana job post` printed); the others are ours and use
the same key order (version, type, meta, global, ops; cmd, image, volumes, work_dir).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Template:
    slug: str
    title: str
    description: str
    text: str

    def definition(self) -> Any:
        return json.loads(self.text)


def _pretty(obj: dict[str, Any]) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


# The documentation's example, unchanged (including its legacy `cmd` list, which the
# validator warns about and offers to rewrite).
SEED_MULTI_OP_TEXT = """{
  "version": "0.1",
  "type": "container",
  "meta": {
    "trigger": "cli"
  },
  "global": {
    "work_dir": "/home/",
    "env": {
      "DEBUG": "1"
    }
  },
  "ops": [
    {
      "type": "container/create-volume",
      "id": "create-volume",
      "args": {
        "name": "random-id-volume"
      }
    },
    {
      "type": "container/run",
      "id": "run-from-cli",
      "args": {
        "cmd": [
          "/bin/bash -c ",
          "echo Hello World > /nosana/outputs/test.txt;",
          "ls /nosana/outputs;",
          "pwd;"
        ],
        "image": "ubuntu",
        "volumes": [
          {
            "name": "random-id-volume",
            "dest": "/nosana/outputs"
          }
        ],
        "work_dir": "/home/podman"
      }
    },
    {
      "type": "container/run",
      "id": "run-from-cli-2",
      "args": {
        "cmd": "/bin/bash -c 'echo Hello World; ls; pwd;'",
        "image": "ubuntu"
      }
    }
  ]
}
"""

HELLO_WORLD: dict[str, Any] = {
    "version": "0.1",
    "type": "container",
    "meta": {"trigger": "dashboard"},
    "ops": [
        {
            "type": "container/run",
            "id": "hello",
            "args": {
                "cmd": "echo Hello World; uname -a",
                "image": "ubuntu:24.04",
            },
        }
    ],
}

GPU_SERVICE: dict[str, Any] = {
    "version": "0.1",
    "type": "container",
    "meta": {
        "trigger": "dashboard",
        "system_resources": {"required_vram": 8},
    },
    "ops": [
        {
            "type": "container/run",
            "id": "llm-server",
            "args": {
                "cmd": ["ollama serve & sleep 5 && ollama pull llama3.2:1b && wait"],
                "image": "ollama/ollama:0.6.8",
                "entrypoint": ["/bin/sh", "-c"],
                "env": {"OLLAMA_HOST": "0.0.0.0:11434", "OLLAMA_KEEP_ALIVE": "24h"},
                "gpu": True,
                "expose": [
                    {
                        "port": 11434,
                        "type": "api",
                        "health_checks": [
                            {
                                "type": "http",
                                "path": "/api/tags",
                                "method": "GET",
                                "expected_status": 200,
                                "continuous": True,
                            }
                        ],
                    }
                ],
            },
        }
    ],
}

VOLUME_PIPELINE: dict[str, Any] = {
    "version": "0.1",
    "type": "container",
    "meta": {"trigger": "dashboard"},
    "global": {"env": {"DATA_DIR": "/data"}},
    "ops": [
        {
            "type": "container/create-volume",
            "id": "create-data",
            "args": {"name": "shared-data"},
        },
        {
            "type": "container/run",
            "id": "produce",
            "args": {
                "cmd": "seq 1 100 > $DATA_DIR/numbers.txt && echo wrote $(wc -l < $DATA_DIR/numbers.txt) lines",
                "image": "alpine:3.20",
                "volumes": [{"name": "shared-data", "dest": "/data"}],
            },
        },
        {
            "type": "container/run",
            "id": "transform",
            "args": {
                "cmd": "awk '{ s += $1 } END { print s }' $DATA_DIR/numbers.txt > $DATA_DIR/sum.txt",
                "image": "alpine:3.20",
                "volumes": [{"name": "shared-data", "dest": "/data"}],
            },
        },
        {
            "type": "container/run",
            "id": "report",
            "args": {
                "cmd": ["/bin/sh", "-c", "echo sum: $(cat $DATA_DIR/sum.txt); ls -l $DATA_DIR"],
                "image": "ubuntu:24.04",
                "volumes": [{"name": "shared-data", "dest": "/data"}],
                "work_dir": "/data",
            },
        },
    ],
}

TEMPLATES: dict[str, Template] = {
    t.slug: t
    for t in (
        Template(
            "seed-multi-op",
            "Multi-operation job (documentation example)",
            "The multi_job.json of Nosana's documentation: creates a volume, writes to it in one op, "
            "and runs a shell command in a second container.",
            SEED_MULTI_OP_TEXT,
        ),
        Template(
            "hello-world",
            "Hello world",
            "One container that prints a line: the smallest useful job.",
            _pretty(HELLO_WORLD),
        ),
        Template(
            "gpu-service",
            "GPU LLM server",
            "An Ollama server on a GPU, its API exposed on port 11434 with an HTTP health check.",
            _pretty(GPU_SERVICE),
        ),
        Template(
            "volume-pipeline",
            "Pipeline sharing a volume",
            "Three ops in sequence passing files through one shared volume.",
            _pretty(VOLUME_PIPELINE),
        ),
    )
}
