"""``import tunesmith`` exports the Python API by name, lazily: the package itself loads nothing heavy."""

import subprocess
import sys

import tunesmith


def test_every_exported_name_is_the_apis():
    from tunesmith import api

    for name in tunesmith.__all__:
        assert getattr(tunesmith, name) is getattr(api, name), name
    assert callable(tunesmith.train) and callable(tunesmith.render)  # not the modules trainer.py / rendering.py


def test_importing_the_package_loads_neither_torch_nor_the_api():
    code = "import sys, tunesmith; print('torch' in sys.modules, 'tunesmith.api' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
