"""The `symdyn` command: run and compile model files; errors name the file and the cause."""
import subprocess
import sys
from pathlib import Path

import pytest

from symdyn.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_run_lorenz_prints_end_state_and_plots(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    plot = tmp_path / "lorenz.png"
    assert main(["run", "models/lorenz.py", "--t1", "10", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "Success" in out and "tsit5" in out
    # the end state row of x, compared with an independent scipy solve (rtol 1e-10)
    x_end = float(next(line.split()[-1] for line in out.splitlines() if line.strip().startswith("x ")))
    assert x_end == pytest.approx(-5.85768538, rel=1e-4)
    assert plot.stat().st_size > 10_000


@pytest.mark.parametrize("name", ["rober", "vdpol"])
def test_run_stiff_model_switches_to_an_implicit_method(name, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["run", f"models/{name}.py", "--points", "20"]) == 0
    out = capsys.readouterr().out
    assert "method radau5" in out or "method rodas5p" in out, out
    why = out.split("why:", 1)[1]  # the analysis' reasons follow the method line
    assert "stiffness ratio" in why and "Radau IIA" in why, out


def test_run_passes_settings_to_build(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["run", "models/brusselator_1d.py", "--set", "N=10", "--t1", "1"]) == 0
    assert "20 states" in capsys.readouterr().out


def test_compile_emits_llvm_ir(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["compile", "models/lorenz.py", "--emit", "ir"]) == 0
    out = capsys.readouterr().out
    assert 'define void @"rhs"' in out and 'define void @"jac"' in out


@pytest.mark.parametrize("emit", ["ir-opt", "asm", "program", "equations"])
def test_compile_other_emits(emit, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["compile", "models/vdpol.py", "--emit", emit]) == 0
    assert capsys.readouterr().out.strip()


def test_missing_file_is_a_clear_error(capsys):
    assert main(["run", "no/such/model.py"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_file_without_build_is_a_clear_error(tmp_path, capsys):
    f = tmp_path / "empty_model.py"
    f.write_text("x = 1\n")
    assert main(["run", str(f)]) == 2
    assert "no function build" in capsys.readouterr().err


def test_bad_setting_is_a_clear_error(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["run", "models/lorenz.py", "--set", "nonsense"]) == 2
    assert "name=value" in capsys.readouterr().err


def test_console_entry_point_runs_as_module():
    proc = subprocess.run([sys.executable, "-m", "symdyn", "compile", "models/lorenz.py", "--emit", "equations"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "D(x)" in proc.stdout
