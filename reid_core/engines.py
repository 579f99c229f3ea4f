"""Inference engines (torch, OpenVINO, ONNX Runtime): which are installed, a verified export cache, and
the per-machine record of which engine measured fastest.

Exports live in the platform cache dir (``~/.cache/reidwatch/exports`` on Linux, or
``$REIDWATCH_CACHE_DIR/exports``), never in the repository, one folder per
``<kind>/<weights hash>/<engine>-<shape>-b<batch>``. Each folder holds a ``manifest.json`` with the SHA-256
of every exported file; a folder whose files do not match it (truncated, edited, half-written) is deleted
and rebuilt, never trusted. Builders write into a temporary folder that is renamed into place when complete.

``auto``'s measurements are kept in ``engine-choice.json`` beside the exports, keyed by machine, weights
hash, engine list and input shape, so the short measurement runs once per machine and weights file.
Everything here is pure Python: the engines themselves are imported lazily by their callers.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import platform
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import platformdirs

logger = logging.getLogger(__name__)

ENGINES = ("torch", "openvino", "onnxruntime")
ENGINE_CHOICES = ("auto", *ENGINES)
MANIFEST = "manifest.json"
CHOICE_FILE = "engine-choice.json"
_MODULES = {"torch": "torch", "openvino": "openvino", "onnxruntime": "onnxruntime"}
_build_lock = threading.Lock()


class ExportError(RuntimeError):
    """An engine could not export or load a model."""


def check_engine(name: str) -> str:
    """``name`` when it is a known engine choice (``auto``, ``torch``, ``openvino``, ``onnxruntime``)."""
    value = str(name).lower()
    if value not in ENGINE_CHOICES:
        raise ValueError(f"unknown engine {name!r}; choose one of {list(ENGINE_CHOICES)}")
    return value


def engine_installed(name: str) -> bool:
    """Whether the engine's Python package can be imported here (found without importing it)."""
    return importlib.util.find_spec(_MODULES[name]) is not None


def installed_engines() -> list[str]:
    """The engines installed on this machine, torch first."""
    return [e for e in ENGINES if engine_installed(e)]


def usable_threads() -> int:
    """The CPU cores this process may run on (``os.sched_getaffinity`` where the platform has it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def cache_root() -> Path:
    """``$REIDWATCH_CACHE_DIR``, else the platform's user cache dir for reidwatch."""
    env = os.environ.get("REIDWATCH_CACHE_DIR")
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("reidwatch"))


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def shape_tag(shape: Sequence[int] | int | str) -> str:
    """``(960, 1280)`` -> ``960x1280``; an int or a word passes through as text."""
    if isinstance(shape, (int, str)):
        return str(shape)
    return "x".join(str(int(v)) for v in shape)


def export_dir(kind: str, weights_hash: str, engine: str, shape: Sequence[int] | int | str, batch: int | str) -> Path:
    """Where an export of ``kind`` (``detector``/``encoder``) for these weights, engine, shape, batch lives."""
    return cache_root() / "exports" / kind / weights_hash[:16] / f"{engine}-{shape_tag(shape)}-b{batch}"


def _manifest_files(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): file_sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def verify_export(folder: Path) -> bool:
    """True when ``folder`` has a manifest and every file it lists is present with the same SHA-256."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not files:
        return False
    for name, digest in files.items():
        path = folder / name
        if not path.is_file() or file_sha256(path) != digest:
            return False
    return True


def cached_export(folder: Path, build: Callable[[Path], None], *, what: str) -> Path:
    """The verified export in ``folder``, built by ``build(tmp_folder)`` when missing, stale or corrupt."""
    with _build_lock:
        if verify_export(folder):
            logger.debug("%s: cached export %s", what, folder)
            return folder
        if folder.exists():
            logger.warning("%s: cached export %s is incomplete or corrupt; rebuilding it", what, folder)
            shutil.rmtree(folder, ignore_errors=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            with quiet_tracing():
                build(tmp)
            files = _manifest_files(tmp)
            if not files:
                raise ExportError(f"{what}: the export wrote no files")
            (tmp / MANIFEST).write_text(json.dumps({"what": what, "files": files}, indent=1), encoding="utf-8")
            try:
                tmp.rename(folder)
            except OSError:  # another process finished the same export first
                if not verify_export(folder):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        logger.info("%s: exported to %s", what, folder)
        return folder


@contextlib.contextmanager
def quiet_tracing() -> Iterator[None]:
    """Hide what tracing a model for export tells its developer (torch's TracerWarning about Python branches on
    shapes, the notices that ``torch.jit.trace`` is deprecated or, on newer Pythons, unsupported): a user sees a
    page of it once per export, and it is about the exporter, not about their video. The export's own one log line
    stays; other warnings still show; errors still raise. The filters are Python's global ones for the export's
    length (another thread's own ``catch_warnings`` at that moment could undo them or be undone)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.\w+.*(deprecated|not supported)",
                                category=FutureWarning)
        yield


def machine_key() -> str:
    """This machine for the measurement cache: host, CPU model, cores usable by the process."""
    return f"{platform.node()}|{platform.processor() or platform.machine()}|{usable_threads()}"


MEASURE_METHOD = "interleaved-min"  # in the cache key: choices measured another way are measured again


def choice_key(kind: str, weights_hash: str, engines: Sequence[str], shape: Sequence[int] | int | str) -> str:
    """The key of one ``auto`` measurement in the per-machine cache."""
    return f"{machine_key()}|{kind}|{weights_hash[:16]}|{','.join(engines)}|{shape_tag(shape)}|{MEASURE_METHOD}"


def time_interleaved(runners: Mapping[str, Callable[[], object]], rounds: int = 5,
                     clock: Callable[[], float] = time.perf_counter) -> tuple[dict[str, float], dict[str, Exception]]:
    """Seconds per call of each runner, measured side by side: one warm-up call each, then ``rounds`` rounds in
    which every runner runs once (the order rotating from round to round), keeping each runner's fastest call.

    A machine shared with other work slows whatever runs while the other work does; measured one engine after
    another, a burst of load lands on one engine only and can crown the slower one, for good (the choice is
    cached). Interleaved, every engine meets the same load, and the fastest call is the one least disturbed.
    Returns (timings, failures): a runner that raises is left out of the timings and its exception reported.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    failures: dict[str, Exception] = {}
    live: list[str] = []
    for name, run in runners.items():
        try:
            run()
        except Exception as exc:  # an engine that fails to run is simply not chosen
            failures[name] = exc
        else:
            live.append(name)
    best = {name: float("inf") for name in live}
    for r in range(rounds):
        for name in live[r % len(live):] + live[:r % len(live)] if live else []:
            if name in failures:
                continue
            start = clock()
            try:
                runners[name]()
            except Exception as exc:
                failures[name] = exc
                continue
            best[name] = min(best[name], clock() - start)
    return {n: t for n, t in best.items() if n not in failures}, failures


def load_choice(key: str) -> dict[str, float] | None:
    """The engine -> seconds-per-call measured before under ``key``, or None."""
    try:
        data = json.loads((cache_root() / CHOICE_FILE).read_text(encoding="utf-8"))
        entry = data[key]
        return {str(k): float(v) for k, v in entry.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def store_choice(key: str, timings: Mapping[str, float]) -> None:
    """Remember ``timings`` (engine -> seconds per call) under ``key``."""
    update_json_map(cache_root() / CHOICE_FILE, key, {k: round(float(v), 6) for k, v in timings.items()})


def update_json_map(path: Path, key: str, value: object) -> None:
    """Set ``key`` in the JSON object kept in ``path`` (a missing or unreadable file starts empty), written
    atomically so a concurrent reader never sees half a file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    data[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


# ``auto``'s order of preference on a CPU, for measurements too close to call: OpenVINO is made for these CPUs
# and measured fastest here on every model and size (docs/benchmarks.md); torch needs no export; ONNX Runtime's
# CPU provider measured 0.6-0.8x torch. Another engine is chosen only when it is clearly faster.
PREFERENCE = ("openvino", "torch", "onnxruntime")
CLEAR_WIN = 0.25  # an engine must be this much faster (25%: within, the times are a tie) to beat a preferred one


def fastest(timings: Mapping[str, float], margin: float = CLEAR_WIN) -> str:
    """The engine to use: the most preferred (``PREFERENCE``) of those within ``margin`` of the fastest time.

    On a busy machine every engine's call is stretched by the same waits for the cores, so the times crowd
    together (0.49 / 0.53 / 0.56 s measured under load for engines 3x apart when idle) and the fastest call can
    be any of them; a tie keeps the preferred engine instead of crowning one by chance, for good (the choice is
    cached). Idle, real differences are far larger (OpenVINO 0.034 s against torch 0.091 s at 640x800 here).
    """
    if not timings:
        raise ValueError("no timings to choose from")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    best = min(timings.values())
    close = [e for e, t in timings.items() if t <= best * (1.0 + margin)]
    rank = {e: i for i, e in enumerate(PREFERENCE)}
    return min(close, key=lambda e: (rank.get(e, len(rank)), timings[e], e))


def describe_timings(timings: Mapping[str, float]) -> str:
    """``openvino 0.171 s, torch 0.402 s`` (fastest first), for the log line that explains a choice; names the
    rule when the choice is not the fastest call."""
    text = ", ".join(f"{e} {t:.3f} s" for e, t in sorted(timings.items(), key=lambda kv: kv[1]))
    chosen = fastest(timings) if timings else None
    if chosen is not None and timings[chosen] > min(timings.values()):
        text += f"; within {CLEAR_WIN:.0%} of the fastest, a tie: {chosen} is preferred"
    return text


def engines_for(requested: str, device: str) -> list[str]:
    """The engines worth trying for ``requested`` on ``device``; one log line when one is missing.

    On a GPU the engines here run on the CPU, so ``auto`` keeps torch there. A named engine that is not
    installed falls back to torch.
    """
    req = check_engine(requested)
    on_gpu = not str(device).startswith("cpu")
    if req == "auto":
        return ["torch"] if on_gpu else installed_engines()
    if req != "torch" and on_gpu:
        logger.warning("engine %s runs on the CPU only; using torch on %s", req, device)
        return ["torch"]
    if req != "torch" and not engine_installed(req):
        logger.warning("engine %s is not installed; falling back to torch", req)
        return ["torch"]
    return [req]
