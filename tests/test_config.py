"""Config validation: every error names the file, the line, the key and what is allowed."""

import pytest

from nnx.config import load_experiment, parse_experiment
from nnx.errors import ConfigError

BASE = """\
name: t
data:
  name: digits
model:
  type: mlp
  hidden: [32]
training:
  epochs: 2
"""


def error_of(text: str, **kw) -> str:
    with pytest.raises(ConfigError) as e:
        parse_experiment(text, source="x.yaml", **kw)
    return str(e.value)


def test_valid_file_fills_defaults():
    exp = parse_experiment(BASE)
    (run,) = exp.runs
    assert run.training.batch_size == 128 and run.training.optimizer.name == "rmsprop"
    assert run.data.validation_split == 0.2 and run.model.activation == "relu"


def test_bad_choice_names_line_key_and_options():
    msg = error_of(BASE.replace("hidden: [32]", "hidden: [32]\n  activation: rleu"))
    assert msg.startswith("x.yaml:7: model.activation: 'rleu' is not one of relu, sigmoid, tanh")
    assert "did you mean 'relu'" in msg


def test_unknown_key_gets_a_did_you_mean():
    msg = error_of(BASE.replace("epochs: 2", "epocs: 2"))
    assert msg.startswith("x.yaml:8: training.epocs: unknown key (did you mean 'epochs'?)")


def test_wrong_type_names_the_key():
    msg = error_of(BASE.replace("epochs: 2", "epochs: many"))
    assert msg.startswith("x.yaml:8: training.epochs: 'many' is invalid")


@pytest.mark.parametrize("line, key", [
    ("  batch_size: 0", "training.batch_size"),
    ("  optimizer: {name: adam, learning_rate: -1}", "training.optimizer.learning_rate"),
])
def test_impossible_values(line, key):
    msg = error_of(BASE + line + "\n")
    assert msg.startswith(f"x.yaml:9: {key}")


def test_dropout_of_one_and_zero_units_are_refused():
    assert "model.dropout" in error_of(BASE.replace("hidden: [32]", "hidden: [32]\n  dropout: 1.0"))
    assert "model.hidden.0" in error_of(BASE.replace("hidden: [32]", "hidden: [0]"))


def test_unknown_model_type_and_data_set():
    assert error_of(BASE.replace("type: mlp", "type: mpl")).startswith("x.yaml:5: model.type: 'mpl' is not one of")
    msg = error_of(BASE.replace("name: digits", "name: mnits"))
    assert "x.yaml:3:" in msg and "'mnits' is not one of" in msg and "did you mean 'mnist'" in msg


def test_malformed_yaml_gives_the_line():
    msg = error_of("data:\n  name: [digits\nmodel: {type: mlp}\n")
    assert msg.startswith("x.yaml:") and "malformed YAML" in msg


def test_unclosed_bracket_names_the_line_it_opened_on():
    msg = error_of("name: t\ndata:\n  name: [digits\nmodel: {type: mlp}\n")
    assert "malformed YAML" in msg and "flow sequence on line 3" in msg


def test_every_problem_is_named_on_the_one_line():
    msg = error_of(BASE.replace("model:", "modle:"))
    assert "modle: unknown key (did you mean 'model'?)" in msg and "also model: required key is missing" in msg
    assert "\n" not in msg


def test_a_bad_set_value_points_at_the_command_line_not_the_file():
    msg = error_of(BASE, overrides=["training.epochs=zero"])
    assert msg.startswith("--set training.epochs=zero: training.epochs:"), msg
    assert error_of(BASE + "  batch_size: big\n").startswith("x.yaml:9: training.batch_size")


def test_empty_and_non_mapping_files():
    assert "empty" in error_of("")
    assert "top level must be a mapping" in error_of("- a\n- b\n")


def test_duplicate_keys_are_refused():
    assert "duplicate key 'model'" in error_of(BASE + "model: {type: logistic}\n")


def test_a_key_with_a_line_break_is_quoted_so_the_error_stays_one_line():
    # Found by the property test (tests/test_config_properties.py): the raw key split the message.
    msg = error_of(BASE + 'variants:\n  wide:\n    "a\\nb": 1\n')
    assert "variants.wide.'a\\nb': unknown key" in msg and "\n" not in msg
    assert "\n" not in error_of(BASE + '"x\\ny": 1\n"x\\ny": 2\n')


def test_variant_error_points_at_the_variant_line():
    msg = error_of(BASE + "variants:\n  wide:\n    model: {hiden: [64]}\n")
    assert msg.startswith("x.yaml:11: model.hiden: unknown key (did you mean 'hidden'?)")


def test_variants_and_seeds_expand_to_runs():
    exp = parse_experiment(BASE + "seeds: 2\nvariants:\n  a: {model: {hidden: [8]}}\n  b:\n")
    assert [r.run_name for r in exp.runs] == ["a-seed0", "a-seed1", "b-seed0", "b-seed1"]
    assert exp.runs[0].model.hidden == [8] and exp.runs[2].model.hidden == [32]


def test_variant_changing_model_type_replaces_the_section():
    exp = parse_experiment(BASE + "variants:\n  lda: {model: {type: lda}}\n")
    assert exp.runs[0].model.type == "lda"


def test_set_overrides_apply_to_every_variant_and_are_validated():
    exp = parse_experiment(BASE + "variants:\n  a: {training: {epochs: 5}}\n", overrides=["training.epochs=1"])
    assert exp.runs[0].training.epochs == 1
    with pytest.raises(ConfigError, match="training.epochs"):
        parse_experiment(BASE, overrides=["training.epochs=zero"])
    with pytest.raises(ConfigError, match="KEY.PATH=VALUE"):
        parse_experiment(BASE, overrides=["training.epochs"])


def test_only_selects_variants_and_rejects_unknown_ones():
    exp = parse_experiment(BASE + "variants:\n  a:\n  b:\n", only=["b"])
    assert [r.variant for r in exp.runs] == ["b"]
    with pytest.raises(ConfigError, match="did you mean 'a'"):
        parse_experiment(BASE + "variants:\n  a:\n  b:\n", only=["aa"])


def test_files_that_are_not_experiments(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_experiment(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="is a folder"):
        load_experiment(tmp_path)
    binary = tmp_path / "b.yaml"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ConfigError, match="not a text file"):
        load_experiment(binary)


def test_shipped_experiments_are_valid(tmp_path):
    from .conftest import EXPERIMENTS
    from .helpers import write_default_stand_in

    write_default_stand_in(tmp_path)  # default.yaml reads ISLP's Default.csv, transfer.yaml an image folder
    for path in sorted(EXPERIMENTS.glob("*.yaml")):
        assert load_experiment(path, data_dir=tmp_path).runs, path


def test_the_readme_example_is_a_valid_experiment():
    import re

    from .conftest import ROOT

    text = (ROOT / "README.md").read_text()
    example = re.search(r"```yaml\n(name: .*?)```", text, re.S).group(1)
    runs = parse_experiment(example, source="README.md").runs
    assert [r.variant for r in runs] == ["ridge", "dropout", "logistic", "lda"]
