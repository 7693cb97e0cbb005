"""quickstart.py picks the PyTorch build for the machine and falls back to PyPI at once when PyTorch's index is out of reach."""

import http.server
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import quickstart  # noqa: E402
from quickstart import CPU_INDEX, PYTORCH_INDEX, TorchChoice, choose_torch_build, plan_torch, torch_install_commands  # noqa: E402

PYTHON = Path("/venv/bin/python")


def closed_port_url() -> str:
    with socket.socket() as probe:  # a port nobody listens on: an index out of reach
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/whl/cpu"


@pytest.mark.parametrize(
    ("system", "gpu", "build", "index_url"),
    [
        ("Linux", "absent", "cpu", CPU_INDEX),
        ("Windows", "absent", "cpu", CPU_INDEX),
        ("Linux", "present", "cuda", None),
        ("Linux", "unknown", "default", None),
        ("Windows", "unknown", "default", None),
        ("Darwin", "absent", "default", None),
        ("Darwin", "unknown", "default", None),
    ],
)
def test_build_for_each_machine(system, gpu, build, index_url):
    choice = choose_torch_build(system, gpu)
    assert (choice.build, choice.index_url, choice.uv) == (build, index_url, False)


def test_each_choice_says_why():
    assert "no NVIDIA GPU was found" in choose_torch_build("Linux", "absent").reason
    assert "CUDA build" in choose_torch_build("Linux", "present").reason
    assert "did not list a GPU" in choose_torch_build("Linux", "unknown").reason
    assert "macOS" in choose_torch_build("Darwin", "present").reason
    windows_gpu = choose_torch_build("Windows", "present")
    assert windows_gpu.build == "default" and "Windows wheel is CPU-only" in windows_gpu.reason


def test_uv_picks_the_build_itself_except_on_macos():
    choice = choose_torch_build("Linux", "absent", uv=True)
    assert (choice.build, choice.index_url, choice.uv) == ("cpu", PYTORCH_INDEX, True)
    assert choose_torch_build("Windows", "present", uv=True).build == "cuda"
    assert choose_torch_build("Linux", "unknown", uv=True).build == "auto"
    assert not choose_torch_build("Darwin", "absent", uv=True).uv
    assert torch_install_commands(PYTHON, choice, "/bin/uv") == [
        ["/bin/uv", "pip", "install", "--python", str(PYTHON), "--torch-backend", "auto", "torch", "torchvision"]
    ]


def test_commands_for_the_cpu_index_and_the_default_index():
    cpu = choose_torch_build("Linux", "absent")
    assert torch_install_commands(PYTHON, cpu) == [
        [str(PYTHON), "-m", "pip", "install", "--index-url", CPU_INDEX, "torch", "torchvision"]
    ]
    assert torch_install_commands(PYTHON, TorchChoice("default", "why")) == [[str(PYTHON), "-m", "pip", "install", "torch", "torchvision"]]


def test_unreachable_index_falls_back_to_pypi_and_says_so():
    wanted = choose_torch_build("Linux", "absent")
    kept, message = plan_torch(wanted, reachable=True)
    assert kept == wanted and message == f"PyTorch: the CPU-only build, because {wanted.reason}."
    fallback, message = plan_torch(wanted, reachable=False)
    assert (fallback.build, fallback.index_url) == ("default", None)
    assert f"but {CPU_INDEX} cannot be reached within 3 s: falling back to the default index (PyPI) now" in message
    # A choice that needs no PyTorch index never falls back.
    cuda = choose_torch_build("Linux", "present")
    assert plan_torch(cuda, reachable=False)[0] == cuda


def test_nvidia_smi_present_absent_and_failing(monkeypatch):
    monkeypatch.setattr(quickstart.shutil, "which", lambda name: None)
    assert quickstart.nvidia_gpu() == "absent"
    monkeypatch.setattr(quickstart.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    answers = {
        "present": subprocess.CompletedProcess([], 0, "GPU 0: NVIDIA H200 (UUID: GPU-1234)\n", ""),
        "unknown": subprocess.CompletedProcess([], 9, "", "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver"),
    }
    for expected, answer in answers.items():
        monkeypatch.setattr(quickstart.subprocess, "run", lambda *a, answer=answer, **k: answer)
        assert quickstart.nvidia_gpu() == expected

    def hangs(*args, **kwargs):
        raise subprocess.TimeoutExpired("nvidia-smi", 15)

    monkeypatch.setattr(quickstart.subprocess, "run", hangs)
    assert quickstart.nvidia_gpu() == "unknown"


def test_index_probe_answers_within_seconds(tmp_path):
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert quickstart.index_reachable(f"http://127.0.0.1:{server.server_port}/")
    finally:
        server.shutdown()
        server.server_close()
    start = time.perf_counter()
    assert not quickstart.index_reachable(closed_port_url())
    assert time.perf_counter() - start < 3


@pytest.fixture()
def no_gpu_no_uv_no_index(monkeypatch):
    """This machine as the tests see it: Linux, no nvidia-smi, no uv, PyTorch's index out of reach."""
    monkeypatch.setattr(quickstart.platform, "system", lambda: "Linux")
    monkeypatch.setattr(quickstart, "nvidia_gpu", lambda: "absent")
    monkeypatch.setattr(quickstart.shutil, "which", lambda name: None)
    monkeypatch.setattr(quickstart, "CPU_INDEX", closed_port_url())


def test_install_falls_back_at_once_and_installs_from_pypi(no_gpu_no_uv_no_index, capsys):
    ran = []
    start = time.perf_counter()
    choice = quickstart.install_torch(PYTHON, runner=ran.append)
    assert time.perf_counter() - start < 5
    assert choice.build == "default"
    assert ran == [[str(PYTHON), "-m", "pip", "install", "torch", "torchvision"]]
    assert "falling back to the default index (PyPI) now" in capsys.readouterr().out


def test_install_retries_from_pypi_when_the_cpu_index_fails(monkeypatch, capsys):
    monkeypatch.setattr(quickstart.platform, "system", lambda: "Linux")
    monkeypatch.setattr(quickstart, "nvidia_gpu", lambda: "absent")
    monkeypatch.setattr(quickstart.shutil, "which", lambda name: None)
    monkeypatch.setattr(quickstart, "index_reachable", lambda url: True)
    ran = []

    def runner(command):
        ran.append(command)
        if "--index-url" in command:
            raise subprocess.CalledProcessError(1, command)

    assert quickstart.install_torch(PYTHON, runner=runner).build == "default"
    assert [("--index-url" in command) for command in ran] == [True, False]
    out = capsys.readouterr().out
    assert "PyTorch: the CPU-only build, because" in out
    assert "installing the CPU-only build failed: falling back to the default index (PyPI) now" in out


def test_dry_run_says_what_it_would_do_and_creates_nothing(no_gpu_no_uv_no_index, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(quickstart, "VENV", tmp_path / ".venv")
    assert quickstart.main(["--dry-run", "test"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("PyTorch: wanted the CPU-only build (no NVIDIA GPU was found")
    python = quickstart.venv_python()  # inside the temporary .venv
    assert out[1:] == [f"would run: {python} -m pip install torch torchvision", f"would run: {python} -m pip install -e .[test]"]
    assert not (tmp_path / ".venv").exists()


def test_setup_installs_pytorch_first_then_the_package_and_only_once(no_gpu_no_uv_no_index, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(quickstart, "VENV", tmp_path / ".venv")
    python = quickstart.venv_python()

    class FakeEnvBuilder:  # a "virtual environment" that is just its python file
        def __init__(self, **kwargs):
            pass

        def create(self, folder):
            python.parent.mkdir(parents=True)
            python.write_text("")

    ran = []
    monkeypatch.setattr(quickstart.venv, "EnvBuilder", FakeEnvBuilder)
    monkeypatch.setattr(quickstart, "run", lambda command, **kwargs: ran.append([str(c) for c in command]))
    monkeypatch.setattr(quickstart, "has_torch", lambda python: bool(ran and "torch" in ran[-1]))
    assert quickstart.setup("test") == python
    assert ran == [
        [str(python), "-m", "pip", "install", "--upgrade", "pip"],
        [str(python), "-m", "pip", "install", "torch", "torchvision"],  # the fallback: PyPI
        [str(python), "-m", "pip", "install", "-e", ".[test]"],
    ]
    assert "falling back to the default index (PyPI) now" in capsys.readouterr().out
    ran.clear()
    quickstart.setup("test")  # up to date with pyproject.toml: nothing to do
    assert ran == []
