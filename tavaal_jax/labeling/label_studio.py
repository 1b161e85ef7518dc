"""Label Studio (image classification with choices): the tasks a round exports for import,
and the labels read back from a project's JSON export.

Import (label_studio_tasks.json): one task per pick,

  {"data": {"image": "<image_url_prefix><file>", "file": "<file>", "rank": 1, ...},
   "predictions": [{"model_version": "...", "score": <confidence>,
                    "result": [{"from_name": "choice", "to_name": "image", "type": "choices",
                                "value": {"choices": ["<predicted class>"]}}]}]}

so Label Studio shows the model's guess as a pre-annotation. With the default prefix
'/data/local-files/?d=', Label Studio serves the images from its local-files storage
(LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true, LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=the
pool folder or a folder above it, and a local storage on that folder).

Export (Project > Export > JSON): a list of tasks, each with its `data` and `annotations`
(each a `result` list and `was_cancelled`). A task's label is the choice of its last
annotation that is not cancelled; a task without one is still unlabeled. Its image is
`data.file` (which the exported tasks carry), else found from `data.image`.
"""

import json
import re
import urllib.parse
from typing import Collection, Dict, List, Optional, Sequence

from tavaal_jax.errors import DataError
from tavaal_jax.labeling.labels_file import LabelRow, normalise_file

# The names of the labeling config's tags (label_studio_config.xml) the results refer to.
DEFAULT_CHOICES_NAME = "choice"
DEFAULT_IMAGE_NAME = "image"
DEFAULT_IMAGE_URL_PREFIX = "/data/local-files/?d="
# Label Studio prefixes uploaded files with 8 hex digits and a dash: 1a2b3c4d-cat.png.
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


def tasks(picks: Sequence[Dict], *, round_number: int, model_version: str,
          image_url_prefix: str = DEFAULT_IMAGE_URL_PREFIX,
          choices_name: str = DEFAULT_CHOICES_NAME,
          image_name: str = DEFAULT_IMAGE_NAME) -> List[Dict]:
  """Import tasks for `picks` (dicts with rank, file, score, predicted_label, confidence),
  in pick order, each with the prediction as a pre-annotation."""
  out = []
  for pick in picks:
    data = {"image": image_url_prefix + urllib.parse.quote(pick["file"]),
            "file": pick["file"], "rank": pick["rank"], "round": round_number,
            "score": pick["score"]}
    prediction = {
        "model_version": model_version, "score": pick["confidence"],
        "result": [{"from_name": choices_name, "to_name": image_name, "type": "choices",
                    "value": {"choices": [pick["predicted_label"]]}}]}
    out.append({"data": data, "predictions": [prediction]})
  return out


def labeling_config(class_names: Sequence[str], choices_name: str = DEFAULT_CHOICES_NAME,
                    image_name: str = DEFAULT_IMAGE_NAME) -> str:
  """The labeling config (XML) of a project the tasks import into: one image, one choice
  per class."""
  from xml.sax.saxutils import quoteattr
  choices = "\n".join(f"    <Choice value={quoteattr(name)}/>" for name in class_names)
  return (f"<View>\n  <Image name={quoteattr(image_name)} value=\"$image\"/>\n"
          f"  <Choices name={quoteattr(choices_name)} toName={quoteattr(image_name)} "
          f"choice=\"single\" showInLine=\"true\">\n{choices}\n  </Choices>\n</View>\n")


def _task_file(task: Dict, where: str, pool_files: Collection[str],
               pool_root: str) -> str:
  """The pool file a task of an export is about."""
  data = task.get("data") if isinstance(task.get("data"), dict) else {}
  if isinstance(data.get("file"), str):
    return normalise_file(data["file"], pool_root)
  image = data.get("image")
  if not isinstance(image, str):
    raise DataError(f"{where} has neither data.file nor data.image; import the "
                    "tasks of label_studio_tasks.json, which carry data.file")
  url = urllib.parse.urlparse(image)
  query = urllib.parse.parse_qs(url.query).get("d")
  name = query[0] if query else urllib.parse.unquote(url.path)
  parts = [p for p in name.replace("\\", "/").split("/") if p]
  # Local files: the path is relative to Label Studio's document root, which may be the
  # pool or a folder above it; the longest tail that is a pool file wins.
  for start in range(len(parts)):
    candidate = "/".join(parts[start:])
    if candidate in pool_files:
      return candidate
  if parts:  # an uploaded copy: <8 hex>-<original name>
    base = _UPLOAD_PREFIX.sub("", parts[-1])
    matches = [f for f in pool_files if f.rsplit("/", 1)[-1] == base]
    if len(matches) == 1:
      return matches[0]
  raise DataError(f"{where} has data.image {image!r}, which names no single image "
                  "of the pool; import the tasks of label_studio_tasks.json (they carry "
                  "data.file) or serve the pool as Label Studio local files")


def _choice(task: Dict, where: str) -> Optional[str]:
  """The class of the task's last annotation that is not cancelled; None without one."""
  annotations = [a for a in task.get("annotations") or []
                 if isinstance(a, dict) and not a.get("was_cancelled", False)]
  for annotation in reversed(annotations):
    for result in annotation.get("result") or []:
      if result.get("type") != "choices":
        continue
      choices = (result.get("value") or {}).get("choices") or []
      if len(choices) != 1:
        raise DataError(f"{where} has an annotation with {len(choices)} choices "
                        f"{choices}; give each image exactly one class (choice=\"single\")")
      return str(choices[0]).strip()
  return None


def read_export(path: str, pool_files: Collection[str], pool_root: str) -> List[LabelRow]:
  """The labels of a Label Studio JSON export: one row per annotated task (tasks without
  a choice are skipped)."""
  try:
    with open(path, encoding="utf-8") as f:
      export = json.load(f)
  except (OSError, ValueError) as error:
    raise DataError(f"cannot read the Label Studio export {path}: {error}; export the "
                    "project as JSON (Export > JSON)") from None
  if isinstance(export, dict):  # a single task
    export = [export]
  if not isinstance(export, list):
    raise DataError(f"{path} is not a Label Studio JSON export (a list of tasks); export "
                    "the project as JSON (Export > JSON)")
  rows = []
  for number, task in enumerate(export, start=1):
    if not isinstance(task, dict):
      raise DataError(f"{path}: entry {number} is not a task object; export the project as "
                      "JSON (Export > JSON)")
    where = f"{path} task {task.get('id', number)}"
    label = _choice(task, where)
    if label is None:
      continue
    rows.append(LabelRow(_task_file(task, where, pool_files, pool_root), label, where))
  return rows
