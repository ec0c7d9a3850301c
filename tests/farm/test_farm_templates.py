"""The Flamenco job type is valid JavaScript that compiles one task per input calling the per-input job; the OpenJD
template is a valid Open Job Description template (the openjd-model parser) with one task per input."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FLAMENCO = REPO / "scripts" / "farm" / "flamenco" / "smplpix_convert.js"
OPENJD = REPO / "scripts" / "farm" / "openjd" / "smplpix_convert.yaml"

# Flamenco's job-compiler globals (author, path) as the Manager provides them, recording what compileJob makes.
_HARNESS = """
const fs = require('fs'); const nodePath = require('path');
const tasks = [];
globalThis.path = nodePath;
globalThis.author = {
  Task: (name, type) => { const t = {name, type, commands: []}; t.addCommand = (c) => t.commands.push(c); return t; },
  Command: (type, params) => ({type, params}),
};
eval(fs.readFileSync(process.argv[2], 'utf8') + '\\n;globalThis.JOB_TYPE = JOB_TYPE; globalThis.compileJob = compileJob;');
const job = {settings: JSON.parse(process.argv[3]), addTask: (t) => tasks.push(t)};
for (const s of JOB_TYPE.settings) { if (!(s.key in job.settings) && 'default' in s) job.settings[s.key] = s.default; }
compileJob(job);
console.log(JSON.stringify({label: JOB_TYPE.label, keys: JOB_TYPE.settings.map((s) => s.key), tasks}));
"""


def _node():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    return node


def test_flamenco_job_type_is_valid_javascript():
    subprocess.run([_node(), "--check", str(FLAMENCO)], check=True)


def test_flamenco_job_type_compiles_one_task_per_input(tmp_path):
    harness = tmp_path / "harness.js"
    harness.write_text(_HARNESS)
    settings = {"inputs": "/clips/a.mp4; /clips/b.npz", "output_dir": "/out", "repo": "/repo",
                "retarget": "/chars/mixamo.fbx"}
    out = subprocess.run([_node(), str(harness), str(FLAMENCO), json.dumps(settings)], capture_output=True,
                         text=True, check=True)
    data = json.loads(out.stdout)
    assert {"inputs", "output_dir", "repo", "python"} <= set(data["keys"])
    assert [t["name"] for t in data["tasks"]] == ["convert-1", "convert-2"]
    cmd = data["tasks"][1]["commands"][0]
    assert cmd["type"] == "exec" and cmd["params"]["exe"] == "python3"
    args = cmd["params"]["args"]
    assert args[:4] == ["/repo/scripts/farm/job.py", "/clips/b.npz", "--out", "/out"]
    assert args[args.index("--retarget") + 1] == "/chars/mixamo.fbx"
    assert (REPO / "scripts" / "farm" / "job.py").is_file()
    empty = subprocess.run([_node(), str(harness), str(FLAMENCO), json.dumps({**settings, "inputs": " ; "})],
                           capture_output=True, text=True)
    assert empty.returncode != 0 and "lists no files" in empty.stderr


def test_openjd_template_is_valid_and_makes_one_task_per_input():
    yaml = pytest.importorskip("yaml")
    model = pytest.importorskip("openjd.model")
    template = model.decode_job_template(template=yaml.safe_load(OPENJD.read_text()))
    assert template.specificationVersion.value == "jobtemplate-2023-09"
    params = model.preprocess_job_parameters(
        job_template=template, job_parameter_values={"InputFolder": "/clips", "InputCount": "3",
                                                     "OutputFolder": "/out", "RepoFolder": "/repo"},
        job_template_dir=OPENJD.parent, current_working_dir=OPENJD.parent, environment_templates=[])
    job = model.create_job(job_template=template, job_parameter_values=params)
    from openjd.model import StepParameterSpaceIterator

    step = job.steps[0]
    tasks = list(StepParameterSpaceIterator(space=step.parameterSpace))
    assert [t["Index"].value for t in tasks] == ["1", "2", "3"]


def test_openjd_template_args_call_the_per_input_job():
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(OPENJD.read_text())
    on_run = doc["steps"][0]["script"]["actions"]["onRun"]
    assert on_run["command"] == "{{Param.Python}}"
    args = on_run["args"]
    assert args[0] == "{{Param.RepoFolder}}/scripts/farm/job.py"
    assert args[args.index("--index") + 1] == "{{Task.Param.Index}}"
    assert {p["name"] for p in doc["parameterDefinitions"]} >= {"InputFolder", "InputCount", "OutputFolder"}
