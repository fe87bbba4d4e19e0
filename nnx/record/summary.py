"""summary.json: what a finished run reports, as one type that writers build and readers parse.

Writers (the runner, the ensemble) build a `Summary` and call `to_json`; readers (compare,
ensemble, load_model, predict) call `Summary.from_json`, which reads folders written by older
versions too. A model's own figures (the perceptron's updates, the lasso's alpha) are `extras`,
written at the top level beside the standard fields as they always were.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class Summary:
    experiment: str
    variant: str | None
    model: str                       # model.type, or "ensemble of N TYPE"
    task: str | None                 # classification | binary | regression
    params: int                      # trainable parameters
    seconds: float
    validation: dict[str, float]
    test: dict[str, float]
    run: str | None = None           # the run folder's name
    seed: int | None = None
    epochs: int | None = None        # the last epoch trained; 0 for closed-form models
    best_epoch: int | None = None    # early stopping's best epoch (its weights were restored)
    stopped_early: bool = False
    closed_form: bool = False        # fitted without a training loop
    parallel_seeds: bool = False     # trained vectorized with the variant's other seeds
    data: dict[str, Any] | None = None        # name and split sizes
    data_info: dict[str, Any] | None = None   # what a model needs to be rebuilt: shape, task, classes
    data_meta: dict[str, Any] | None = None   # e.g. the text preprocessing
    members: list[dict] | None = None         # an ensemble's runs and their scores
    device: str | None = None
    versions: dict[str, str] | None = None
    finished: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def note(self) -> str | None:
        note = self.extras.get("note")
        return note if isinstance(note, str) else None

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "extras"}
        # Optional fields are left out when unset, as older summaries had them.
        for key in ("data_meta", "members"):
            if out[key] is None:
                del out[key]
        for key in ("closed_form", "parallel_seeds"):
            if not out[key]:
                del out[key]
        return {**out, **self.extras}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Summary:
        """A summary.json as written by any version; raises ValueError when a required field is
        missing or of the wrong kind (readers that must tolerate damage catch it)."""
        if not isinstance(data, dict):
            raise ValueError("summary.json is not a mapping")
        known = {f.name for f in fields(cls)} - {"extras"}
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("variant", None)
        values.setdefault("task", (data.get("data_info") or {}).get("task") if isinstance(data.get("data_info"), dict) else None)
        for key in ("experiment", "model"):
            if not isinstance(values.get(key), str):
                raise ValueError(f"summary.json: {key} is missing or not text")
        values.setdefault("params", 0)
        values.setdefault("seconds", 0.0)
        values.setdefault("validation", {})
        values.setdefault("test", {})
        return cls(**values, extras={k: v for k, v in data.items() if k not in known})
