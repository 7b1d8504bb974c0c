"""The memory check sees the limits a cgroup sets (issue 24): v1 and v2, at the process's own
cgroup path (from /proc/self/cgroup) and its ancestors, read from fake cgroup trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatebench.config.preflight import available_bytes, cgroup_free_bytes

V1_UNLIMITED = "9223372036854771712"


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")


def _proc(tmp_path: Path, text: str) -> Path:
    (tmp_path / "cgroup").write_text(text)
    return tmp_path / "cgroup"


def test_v1_limit_of_the_process_own_cgroup_and_of_its_ancestor(tmp_path) -> None:
    root = tmp_path / "fs"
    own = "memory/process_api/7ebf"
    _write(root, {  # this machine's layout: a v1 memory hierarchy, the job in a sub-cgroup
        "memory/memory.limit_in_bytes": V1_UNLIMITED,
        "memory/memory.usage_in_bytes": "5000000000",
        f"{own}/memory.limit_in_bytes": "1000000000",  # 1 GB
        f"{own}/memory.usage_in_bytes": "300000000",
        f"{own}/memory.stat": "cache 150000000\ntotal_inactive_file 100000000\n",
    })
    proc = _proc(tmp_path, "4:memory:/process_api/7ebf\n1:cpu:/\n0::/\n")
    assert cgroup_free_bytes(proc, root) == 1_000_000_000 - (300_000_000 - 100_000_000)
    _write(root, {"memory/process_api/memory.limit_in_bytes": "500000000",
                  "memory/process_api/memory.usage_in_bytes": "450000000"})
    assert cgroup_free_bytes(proc, root) == 50_000_000  # the parent's limit is the tighter one
    free = available_bytes("cpu", proc, root)
    assert free is not None and free <= 50_000_000


def test_v2_limit_at_the_process_path_max_means_none_and_a_namespace_root(tmp_path) -> None:
    root = tmp_path / "fs"
    _write(root, {
        "user.slice/memory.max": "max",
        "user.slice/job/memory.max": "2000000000",
        "user.slice/job/memory.current": "500000000",
        "user.slice/job/memory.stat": "anon 400000000\ninactive_file 50000000\n",
    })
    proc = _proc(tmp_path, "0::/user.slice/job\n")
    assert cgroup_free_bytes(proc, root) == 2_000_000_000 - 450_000_000
    # a cgroup namespace: /proc/self/cgroup names a path the mount does not show -> its root
    _write(root, {"memory.max": "800000000", "memory.current": "100000000"})
    assert cgroup_free_bytes(_proc(tmp_path, "0::/elsewhere\n"), root) == 700_000_000


@pytest.mark.parametrize("text", ["0::/\n", "4:memory:/\n", "", "garbage\n"])
def test_no_limit_is_none(tmp_path, text) -> None:
    root = tmp_path / "fs"
    _write(root, {"memory.max": "max", "memory/memory.limit_in_bytes": V1_UNLIMITED})
    assert cgroup_free_bytes(_proc(tmp_path, text), root) is None
    assert cgroup_free_bytes(tmp_path / "missing", root) is None
