// SPDX-License-Identifier: Apache-2.0
// Flamenco 3 job type "SMPLpix Convert": one task per input video / motion file, each running the same
// per-input job as the local pool and Ray (scripts/farm/job.py -> scripts/batch_convert.py), so a re-submitted
// job skips inputs that already have OUT/<name>/done.json.
//
// Install: copy this file into the Flamenco Manager's `scripts/` folder and restart the Manager. Workers need this
// repository at the same path (setting `repo`) and its Python environment (setting `python`).

const JOB_TYPE = {
  label: "SMPLpix Convert",
  description: "Videos / motion files -> rigged animated .blend / FBX / GLB (optionally retargeted)",
  settings: [
    { key: "inputs", type: "string", required: true, visible: "submission",
      description: "Input files, separated by ';' (videos .mp4/.mov/..., motion files .npz/.smpl/.pkl)" },
    { key: "output_dir", type: "string", subtype: "dir_path", required: true, visible: "submission",
      description: "Output root; each input gets its own folder <output_dir>/<name>/" },
    { key: "formats", type: "string", default: "blend,fbx,glb", visible: "submission",
      description: "Comma-separated subset of blend,fbx,glb" },
    { key: "model", type: "string", default: "anny", visible: "submission", description: "Body model for videos" },
    { key: "retarget", type: "string", subtype: "file_path", default: "", visible: "submission",
      description: "Optional target character (.fbx/.blend) to bake the motion onto" },
    { key: "bone_map", type: "string", subtype: "file_path", default: "", visible: "submission",
      description: "Optional bone-map JSON for the retarget" },
    { key: "repo", type: "string", subtype: "dir_path", required: true, visible: "submission",
      description: "This repository's folder on the workers" },
    { key: "python", type: "string", default: "python3", visible: "submission",
      description: "Python with the project's environment (e.g. <repo>/.venv/bin/python)" },
  ],
};

function compileJob(job) {
  const settings = job.settings;
  const inputs = settings.inputs.split(";").map((s) => s.trim()).filter((s) => s.length > 0);
  if (inputs.length === 0) {
    throw "SMPLpix Convert: the 'inputs' setting lists no files";
  }
  const options = ["--formats", settings.formats, "--model", settings.model];
  if (settings.retarget) {
    options.push("--retarget", settings.retarget);
    if (settings.bone_map) {
      options.push("--bone-map", settings.bone_map);
    }
  }
  for (let i = 0; i < inputs.length; i++) {
    const task = author.Task(`convert-${i + 1}`, "misc");
    task.addCommand(author.Command("exec", {
      exe: settings.python,
      args: [path.join(settings.repo, "scripts", "farm", "job.py"), inputs[i], "--out", settings.output_dir,
        "--", ...options],
    }));
    job.addTask(task);
  }
}
