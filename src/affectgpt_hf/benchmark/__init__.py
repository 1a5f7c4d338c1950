"""MER-UniBench end to end (`affectgpt benchmark`): the test sets (testsets.py) -> batched inference -> label
extraction -> scores -> the summary beside the paper's Table 2 (summary.py), resumable from the stored outputs
(outputs.py). runner.py runs it."""

from .._lazy import lazy_exports

_EXPORTS = {  # submodule -> the names it gives the package
    "arguments": ("BenchmarkConfig",),
    "runner": ("BenchmarkRunner", "resolve_checkpoints", "run_benchmark"),
    "summary": ("BEST_EPOCH", "SINGLE", "markdown_report", "strongest_peers", "versions", "write_benchmark_report"),
    "testsets": ("CONFIG_OF", "TestSet", "load_testset", "resolve_datasets"),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
