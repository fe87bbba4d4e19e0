"""docs/experiment-schema.md is the schema's own reference, regenerated, never edited by hand."""

import re

from nnx.config.reference import REGENERATE, schema_reference

from .conftest import ROOT
from .helpers import run_cli

DOC = ROOT / "docs" / "experiment-schema.md"


def test_the_schema_doc_is_up_to_date():
    # Adding a data set, a model type or a key changes the schema: regenerate the doc then.
    assert DOC.read_text() == schema_reference("markdown"), (
        f"docs/experiment-schema.md is stale: regenerate it with `{REGENERATE}`")


def test_nnx_config_schema_prints_the_same_reference(capsys):
    code, out, err = run_cli(["config", "--schema", "--format", "markdown"], capsys)
    assert code == 0 and out == schema_reference("markdown"), err
    code, out, _ = run_cli(["config", "--schema"], capsys)
    assert code == 0 and out == schema_reference("text")


def test_every_key_of_every_section_is_in_the_reference():
    from nnx.config import RunSpec
    from nnx.config.reference import _nested_model, _union_members

    text = DOC.read_text()

    def keys(cls, prefix):
        for name, f in cls.model_fields.items():
            if f.exclude:
                continue
            yield f"{prefix}.{name}"
            nested, is_list = _nested_model(f.annotation)
            if nested is not None:
                yield from keys(nested, f"{prefix}.{name}" + ("[]" if is_list else ""))

    for section in ("data", "model"):
        members = _union_members(RunSpec.model_fields[section].annotation)
        assert len(members) > 3
        for member in members:
            tag = "name" if section == "data" else "type"
            names = " | ".join(member.model_fields[tag].annotation.__args__)
            block = text.split(f"### `{section}.{tag}: {names}`", 1)[1].split("\n### ", 1)[0]
            for key in keys(member, section):
                assert f"| `{key}` |" in block, (member.__name__, key)
    for section in ("training", "regularization"):
        for key in keys(RunSpec.model_fields[section].annotation, section):
            assert f"| `{key}` |" in text, key


def test_the_schedule_keys_found_only_through_errors_before_are_documented_with_defaults():
    # Finding 11 of issue 23: warmup_epochs, end_factor, decay_epochs, decay_rate were nowhere.
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(training\.optimizer\.schedule\.\w+)` \|.*$",
                                                         DOC.read_text(), re.M)}
    assert rows["training.optimizer.schedule.warmup_epochs"].split(" | ")[1:4] == ["number", ">= 0", "`0`"]
    assert rows["training.optimizer.schedule.end_factor"].split(" | ")[1:4] == ["number", ">= 0, <= 1", "`0.0`"]
    assert "step/exponential: epochs per decay" in rows["training.optimizer.schedule.decay_epochs"]
    assert "`0.1`" in rows["training.optimizer.schedule.decay_rate"]
    names = rows["training.optimizer.schedule.name"]
    assert "constant, step, exponential, cosine, warmup_cosine" in names and "`constant`" in names
