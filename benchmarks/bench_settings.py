"""Settings for benchmarks/pages.py: the project's settings plus one bare view to compare against."""

from nosana_dash.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.bench_urls"
