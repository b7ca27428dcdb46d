"""jsii's kernel in the one node process jsii starts, without jsii's relay process.

jsii's Python runtime starts `$JSII_NODE --max-old-space-size=4069 $JSII_RUNTIME` on two pipes.
Its default runtime, bin/jsii-runtime.js, starts the kernel (lib/program.js) as a second node
process and relays every message between those pipes and the kernel's fd 3: a synth of dev and
prod with 10 teams sends about 1,300 requests, each through the relay and back. Here `bin/node`
starts node on the kernel's pipes (the request pipe on fd 3, the answer pipe on fd 4, /dev/null and
stderr on fds 0 and 1) with `--preserve-symlinks`, as jsii's launcher starts the kernel: the kernel
then links its cached packages instead of copying them. `jsii_kernel.js` (`bin/kernel.js`) sends
the kernel's answers to fd 4 and what JavaScript prints to stderr, as the relay would.

The four files live in `.cache/jsii-kernel/<key>/`, the kernel's two copied from the installed
jsii; another jsii, node, launcher or wrapper gets another folder. Where JSII_NODE
or JSII_RUNTIME is set already, or the folder cannot be written, jsii runs as set or as shipped.
`jsii_node_processes` names the node processes jsii runs, for `infra.synth.one_cpu`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import shlex
import shutil
import tempfile
from pathlib import Path

LAUNCHER = Path(__file__).resolve().parent / "jsii_kernel.js"
# jsii's embedded runtime files, as its Python package ships them (jsii/_embedded/jsii/).
KERNEL_FILES = {"lib__program.js": "lib/program.js", "lib__runtime-index-worker.js": "lib/runtime-index-worker.js"}


def direct_kernel(node: Path, cache: Path) -> tuple[Path, Path] | None:
    """(JSII_NODE, JSII_RUNTIME) that run jsii's kernel without the relay, written into `cache`
    once; None where the files cannot be found or written."""
    spec = importlib.util.find_spec("jsii")
    if spec is None or spec.origin is None:
        return None
    sources = [Path(spec.origin).parent / "_embedded" / "jsii" / name for name in KERNEL_FILES]
    wrapper = f'#!/bin/sh\nexec {shlex.quote(str(node))} --preserve-symlinks "$@" 3<&0 4>&1 0</dev/null 1>&2\n'
    try:
        launcher = LAUNCHER.read_text()
        stats = [source.stat() for source in sources]
        made_from = [
            wrapper,
            launcher,
            *(f"{s}:{st.st_size}:{st.st_mtime_ns}" for s, st in zip(sources, stats, strict=True)),
        ]
        folder = cache / hashlib.sha256("\0".join(made_from).encode()).hexdigest()[:16]
        sizes = {name: stat.st_size for name, stat in zip(KERNEL_FILES.values(), stats, strict=True)}
        sizes |= {"bin/node": len(wrapper.encode()), "bin/kernel.js": len(launcher.encode())}
        if not _complete(folder, sizes):
            _write(folder, wrapper, sources, sizes)
    except OSError:
        return None
    return folder / "bin" / "node", folder / "bin" / "kernel.js"


def _complete(folder: Path, sizes: dict[str, int]) -> bool:
    """Every file there, each of its expected size (a file truncated or emptied since is not)."""
    try:
        return all((folder / name).stat().st_size == size for name, size in sizes.items())
    except OSError:
        return False


def _write(folder: Path, wrapper: str, sources: list[Path], sizes: dict[str, int]) -> None:
    """The folder, made complete under another name and then renamed: a reader sees all of it or
    none (a concurrent writer's copy is as good as this one). A damaged folder is replaced."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        (staging / "bin").mkdir()
        (staging / "lib").mkdir()
        for source, name in zip(sources, KERNEL_FILES.values(), strict=True):
            shutil.copyfile(source, staging / name)
        (staging / "bin" / "node").write_text(wrapper)
        (staging / "bin" / "node").chmod(0o755)
        shutil.copyfile(LAUNCHER, staging / "bin" / "kernel.js")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not _complete(folder, sizes):
            raise


def jsii_node_processes() -> list[int]:
    """The node process jsii runs for this process (started here if jsii had not started it), and
    its descendants (jsii's own launcher runs the kernel in a child)."""
    import jsii  # imported when asked: this module runs at every `import infra`

    process = getattr(getattr(jsii.kernel.provider, "_process", None), "_process", None)
    pending = [process.pid] if process is not None else []
    found: list[int] = []
    while pending:
        pid = pending.pop()
        found.append(pid)
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                pending += [int(child) for child in children.read_text().split()]
    return found
