"""env.used.yaml: versions, the checkout's commit and the machine, read where they are."""
import subprocess

import pytest
import yaml

from wd.provenance import cpu, environment, git_state, version


def test_the_environment_names_versions_machine_and_commit():
    env = environment()
    assert env["libraries"]["torch"] == version("torch") and env["wd"] == version("wd")
    assert version("no-such-package-here") is None
    assert env["cpu"]["logical_cores"] >= 1 and isinstance(env["gpus"], list)
    assert yaml.safe_load(yaml.safe_dump(env)) == env  # plain values only


def test_cpu_model_and_the_flags_that_decide_speed(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Example CPU 9000\n"
                    "flags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_tile\n")
    assert cpu(info)["model"] == "Example CPU 9000"
    assert cpu(info)["flags"] == ["avx2", "avx512f", "avx512_bf16"]


@pytest.mark.process
def test_git_commit_and_dirty_only_for_a_checkout(tmp_path):
    assert git_state(tmp_path) == {}

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)
    git("init", "-q")
    (tmp_path / "f").write_text("a")
    git("add", "f")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c")
    state = git_state(tmp_path)
    assert len(state["git_commit"]) == 40 and state["git_dirty"] is False
    (tmp_path / "f").write_text("b")
    assert git_state(tmp_path)["git_dirty"] is True
