"""`--set` on the command line is checked like the file, merges like a variant, and never adds a variant;
`nnx config` shows what a run would get. Each test replays a finding of issue 23 as a user met it."""

import pytest
import yaml

from nnx.config import apply_overrides, dump_run_config, parse_experiment
from nnx.errors import ConfigError

from .helpers import QUICK, run_cli, run_folders, write_experiment

BASE = """\
name: t
data: {name: digits}
model: {type: mlp, hidden: [32], activation: relu}
training:
  epochs: 4
  optimizer:
    name: rmsprop
    learning_rate: 0.05
    schedule: {name: cosine, end_factor: 0.1}
variants:
  a: {}
  b: {training: {epochs: 2}}
  c: {regularization: {l2: 0.001}}
"""


def error_of(text: str = BASE, *overrides: str, **kw) -> str:
    with pytest.raises(ConfigError) as e:
        parse_experiment(text, source="x.yaml", overrides=overrides, **kw)
    message = str(e.value)
    assert "\n" not in message
    return message


def runs(*overrides: str, text: str = BASE) -> dict:
    return {r.variant: r for r in parse_experiment(text, source="x.yaml", overrides=overrides).runs}


# Finding 1: a mistyped key on the command line was dropped, and the run trained something else.

@pytest.mark.parametrize("override, typo, meant", [
    ("regularisation.l2=0.1", "regularisation", "regularization"),
    ("traning.epochs=3", "traning", "training"),
    ("modle.hidden=[8]", "modle", "model"),
    ("dat.train_subset=10", "dat", "data"),
    ("sed=3", "sed", "seed"),
])
def test_an_unknown_top_level_key_is_refused_at_the_set(override, typo, meant):
    assert error_of(BASE, override).startswith(
        f"--set {override}: unknown key '{typo}' (did you mean '{meant}'?); allowed keys: name, description, seed")


@pytest.mark.parametrize("override, expected", [
    ("training.epocs=3", "--set training.epocs=3: unknown key 'epocs' in training (did you mean 'epochs'?)"),
    ("training={epocs: 3}", "--set training={epocs: 3}: unknown key 'epocs' in training (did you mean 'epochs'?)"),
    ("training.optimizer.learnig_rate=1", "unknown key 'learnig_rate' in training.optimizer "
                                          "(did you mean 'learning_rate'?)"),
    ("model.activatoin=tanh", "--set model.activatoin=tanh: unknown key 'activatoin' in model "
                              "(did you mean 'activation'?); allowed keys in model (type mlp): "),
    ("data.foo=1", "allowed keys in data (name digits): "),
])
def test_an_unknown_key_inside_a_section_is_refused_with_the_allowed_keys(override, expected):
    assert expected in error_of(BASE, override)


def test_known_top_level_keys_are_applied_not_dropped():
    exp = parse_experiment(BASE, overrides=["name=other", "seeds=2", "seed=5"])
    assert exp.name == "other" and [(r.variant, r.seed) for r in exp.runs][:2] == [("a", 5), ("a", 6)]


def test_the_cli_refuses_a_mistyped_set_with_one_line_and_writes_nothing(tmp_path, capsys):
    exp = write_experiment(tmp_path / "quick.yaml", QUICK)
    for extra in (["--dry-run"], []):
        code, out, err = run_cli(["train", exp, "-o", tmp_path / "out", "--set", "regularisation.l2=0.1", *extra],
                                 capsys)
        assert code == 2, (extra, out, err)
        assert err.strip() == ("error: --set regularisation.l2=0.1: unknown key 'regularisation' (did you mean "
                               "'regularization'?); allowed keys: name, description, seed, seeds, data, model, "
                               "training, regularization, variants, sweep, launcher"), err
        assert "quick" not in out
    assert not (tmp_path / "out").exists()


def test_resume_overrides_follow_the_same_rules():
    spec = runs()["a"]
    with pytest.raises(ConfigError, match=r"^--set training.epocs=3: unknown key 'epocs' in training"):
        apply_overrides(spec, ["training.epocs=3"])
    with pytest.raises(ConfigError, match="--set name=x: a run's config has the sections data, model"):
        apply_overrides(spec, ["name=x"])
    resumed = apply_overrides(spec, ["training.optimizer=adam"])
    assert resumed.training.optimizer.name == "adam" and resumed.training.optimizer.learning_rate == 0.05


# Finding 2: `--set variants.NEW...` quietly added a variant (4 runs became 6).

def test_a_set_of_a_variant_that_does_not_exist_is_refused_with_the_list():
    assert error_of(BASE, "variants.nonexistent.training.epochs=1").startswith(
        "--set variants.nonexistent.training.epochs=1: no variant 'nonexistent'; the variants are a, b, c")
    assert "did you mean 'b'" in error_of(BASE, "variants.bb.training.epochs=1")
    assert "no variant 'new'" in error_of(BASE, "variants={new: {}}")
    no_variants = "data: {name: digits}\nmodel: {type: logistic}\n"
    assert "x.yaml has no variants" in error_of(no_variants, "variants.x.training.epochs=1")


def test_a_set_of_an_existing_variant_changes_only_that_variant():
    got = runs("variants.b.training.epochs=1", "variants.c.model.hidden=[8]")
    assert [got[v].training.epochs for v in "abc"] == [4, 1, 4]
    assert [got[v].model.hidden for v in "abc"] == [[32], [32], [8]]
    assert list(got) == ["a", "b", "c"]
    msg = error_of(BASE, "variants.b.training.epocs=1")
    assert msg.startswith("--set variants.b.training.epocs=1 (variant b): unknown key 'epocs' in training"), msg
    assert "did you mean 'model'" in error_of(BASE, "variants.b.modle.hidden=[8]")


def test_all_variants_can_be_replaced_explicitly():
    assert list(runs("variants:={x: {training: {epochs: 1}}}")) == ["x"]


# Finding 3: `--set training.optimizer=adam` replaced the whole section (learning rate back to 0.001).

def test_a_name_alone_merges_into_the_optimizer_and_keeps_the_rest():
    optimizer = runs("training.optimizer=adam")["a"].training.optimizer
    assert (optimizer.name, optimizer.learning_rate) == ("adam", 0.05)
    assert (optimizer.schedule.name, optimizer.schedule.end_factor) == ("cosine", 0.1)


def test_a_mapping_merges_key_by_key():
    optimizer = runs("training.optimizer={name: adam, learning_rate: 0.01}")["a"].training.optimizer
    assert (optimizer.name, optimizer.learning_rate, optimizer.schedule.name) == ("adam", 0.01, "cosine")
    assert runs("training={epochs: 1}")["a"].training.optimizer.learning_rate == 0.05


def test_colon_equals_replaces_the_section_whole():
    optimizer = runs("training.optimizer:={name: adam}")["a"].training.optimizer
    assert (optimizer.name, optimizer.learning_rate, optimizer.schedule.name) == ("adam", 0.001, "constant")
    assert runs("training.optimizer:=adam")["a"].training.optimizer.learning_rate == 0.001
    # null replaces too, so `null` then a mapping is the same as `:=`
    optimizer = runs("training.optimizer=null", "training.optimizer={name: sgd}")["a"].training.optimizer
    assert (optimizer.name, optimizer.learning_rate) == ("sgd", 0.001)


def test_null_removes_an_optional_section():
    text = BASE.replace("  epochs: 4\n", "  epochs: 4\n  early_stopping: {patience: 2}\n")
    assert runs(text=text)["a"].training.early_stopping.patience == 2
    assert runs("training.early_stopping=null", text=text)["a"].training.early_stopping is None


def test_another_model_type_starts_the_section_afresh_as_a_variant_does():
    got = runs("model.type=logistic")  # the mlp's hidden/activation would not apply to it
    assert {r.model.type for r in got.values()} == {"logistic"}
    single = BASE[:BASE.index("variants:")]
    for order in (("model.type=lda", "model.solver=lsqr"), ("model.solver=lsqr", "model.type=lda")):
        assert runs(*order, text=single)["default"].model.solver == "lsqr", order
    assert runs("model.type=mlp")["a"].model.hidden == [32]  # the same type merges as usual
    # the missing key of the new type is pinned on the override that chose it
    assert error_of(BASE, "model.type=cnn").startswith("--set model.type=cnn: model.blocks: required")


def test_a_variant_that_changes_model_type_still_replaces_the_section():
    text = BASE + "  lda: {model: {type: lda}}\n"
    assert runs(text=text)["lda"].model.type == "lda"
    assert runs("training.epochs=1", text=text)["lda"].training.epochs == 1


def test_an_optimizer_given_by_name_merges_with_a_variant_and_with_set():
    text = BASE.replace("""  optimizer:
    name: rmsprop
    learning_rate: 0.05
    schedule: {name: cosine, end_factor: 0.1}
""", "  optimizer: adam\n") + "  d: {training: {optimizer: {learning_rate: 0.1}}}\n"
    got = runs(text=text)
    assert (got["d"].training.optimizer.name, got["d"].training.optimizer.learning_rate) == ("adam", 0.1)
    assert runs("training.optimizer.learning_rate=0.2", text=text)["a"].training.optimizer.name == "adam"


def test_set_wins_over_every_variant_in_order():
    got = runs("training.epochs=7")
    assert {r.training.epochs for r in got.values()} == {7}
    assert runs("training.epochs=7", "training.epochs=8")["b"].training.epochs == 8


def test_a_key_below_a_value_that_is_not_a_section_is_explained():
    assert "model.hidden is a list, not a section with keys; set it whole: --set model.hidden=VALUE" in \
        error_of(BASE, "model.hidden.0=8")
    assert "not valid YAML" in error_of(BASE, "model.hidden=[8")
    assert "expected KEY.PATH=VALUE" in error_of(BASE, "training.epochs")


# Finding 6: count-params answered about an `--activation` option that does not exist.

def test_count_params_names_the_set_option_and_the_model_types_keys(tmp_path, capsys):
    code, _, err = run_cli(["count-params", "mlp", "--input", "4", "--classes", "2", "--set", "activatoin=tanh"],
                           capsys)
    assert code == 2 and err.strip() == (
        "error: --set activatoin: mlp has no option 'activatoin' (did you mean 'activation'?); mlp's options: "
        "hidden, activation, dropout, input_dropout, linear_skip, init"), err
    exp = write_experiment(tmp_path / "quick.yaml", QUICK)
    code, _, err = run_cli(["count-params", exp, "--set", "activation=tanh"], capsys)
    assert code == 2 and err.startswith("error: --set activation=tanh: ") and "--activation" not in err, err
    assert "unknown key 'activation'" in err and len(err.strip().splitlines()) == 1
    # On an experiment file, --set is the experiment's, as nnx train reads it.
    code, out, _ = run_cli(["count-params", exp, "--set", "model.hidden=[8]"], capsys)
    assert code == 0 and f"Total params: {64 * 8 + 8 + 8 * 10 + 10:,}" in out
    code, _, err = run_cli(["count-params", "mlp", "--input", "4", "--classes", "2", "--set", "hidden=64,32"],
                           capsys)
    assert code == 2 and "write a list as [64,32]" in err, err


# Finding 9 (part): no hint for a list written without brackets, no did-you-mean for a wrong case.

def test_a_list_without_brackets_gets_the_hint():
    assert error_of(BASE, "model.hidden=64,32,16").endswith(
        "model.hidden: '64,32,16' is invalid: input should be a valid list; write a list as [64,32,16]")
    in_file = error_of(BASE.replace("hidden: [32]", "hidden: 64"))
    assert in_file.startswith("x.yaml:3: model.hidden: 64 is invalid") and "write a list as [64]" in in_file


def test_a_choice_in_the_wrong_case_gets_a_did_you_mean():
    assert error_of(BASE.replace("activation: relu", "activation: ReLU")).endswith("(did you mean 'relu'?)")
    assert "(did you mean 'relu'?)" in error_of(BASE, "model.activation=ReLU")
    assert "(did you mean 'mnist'?)" in error_of(BASE.replace("name: digits", "name: MNIST"))
    assert "(did you mean 'adam'?)" in error_of(BASE, "training.optimizer.name=Adam")


# Finding 11 (part): `data.foo` listed no allowed keys.

def test_an_unknown_data_key_in_the_file_lists_the_data_sets_keys():
    msg = error_of(BASE.replace("{name: digits}", "{name: digits, foo: 1}"))
    assert msg == "x.yaml:2: data.foo: unknown key; allowed keys here: validation_split, train_subset, name", msg


# `nnx config`: the resolved config of each run, exactly as its run folder's config.yaml.

def test_nnx_config_prints_each_run_as_the_config_yaml_its_folder_gets(tmp_path, capsys):
    exp = write_experiment(tmp_path / "quick.yaml", QUICK)
    code, out, err = run_cli(["config", exp, "--set", "training.epochs=1"], capsys)
    assert code == 0, err
    assert out.startswith("# run: default\n")
    code, _, err = run_cli(["train", exp, "-o", tmp_path / "out", "--set", "training.epochs=1", "-q"], capsys)
    assert code == 0, err
    (folder,) = run_folders(tmp_path / "out")
    assert out == "# run: default\n" + (folder / "config.yaml").read_text()


def test_nnx_config_is_one_yaml_document_per_run_with_every_default(tmp_path, capsys):
    exp = write_experiment(tmp_path / "x.yaml", BASE + "seeds: 2\n")
    code, out, err = run_cli(["config", exp, "--variant", "c", "--variant", "a", "--seed", "3"], capsys)
    assert code == 0, err
    documents = list(yaml.safe_load_all(out))
    assert [(d["variant"], d["seed"]) for d in documents] == [("a", 3), ("a", 4), ("c", 3), ("c", 4)]
    assert [line for line in out.splitlines() if line.startswith("# run:")] == \
        ["# run: a-seed3", "# run: a-seed4", "# run: c-seed3", "# run: c-seed4"]
    assert documents[0]["training"]["optimizer"]["schedule"] == {
        "name": "cosine", "decay_rate": 0.1, "decay_epochs": 10.0, "warmup_epochs": 0.0, "end_factor": 0.1}
    spec = parse_experiment(BASE, source=str(exp), seed=3, only=["a"]).runs[0]
    assert out.split("---\n")[0] == f"# run: a-seed3\n{dump_run_config(spec)}"


@pytest.mark.parametrize("args, fragment", [
    (["--variant", "z"], "--variant z: no such variant; the variants are a, b, c"),
    (["--set", "traning.epochs=1"], "--set traning.epochs=1: unknown key 'traning' (did you mean 'training'?)"),
    (["--schema"], "--schema describes every experiment file; it takes no"),
    (["--format", "markdown"], "--format markdown: applies to --schema only"),
])
def test_nnx_config_errors_are_one_line(tmp_path, capsys, args, fragment):
    exp = write_experiment(tmp_path / "x.yaml", BASE)
    code, out, err = run_cli(["config", exp, *args], capsys)
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1 and not out, (out, err)
    code, _, err = run_cli(["config"], capsys)
    assert code == 2 and "give an EXPERIMENT_FILE" in err


def test_a_variants_model_set_to_another_type_starts_that_variants_section_afresh():
    # Found by the property test: the variant's own keys of its old type stayed and were refused.
    text = BASE + "  lda: {model: {type: lda, solver: lsqr}}\n"
    assert runs("variants.lda.model.type=logistic", text=text)["lda"].model.type == "logistic"
    msg = error_of(text, "variants.lda.model={type: logistic, solver: svd}")
    assert msg.startswith("--set variants.lda.model={type: logistic, solver: svd} (variant lda): unknown key "
                          "'solver' in model"), msg


def test_a_set_into_an_empty_variant_claims_only_what_it_writes():
    # `a: {}` / `a:` in the file: the --set writes training.epochs, and a problem of the base stays the file's.
    text = BASE.replace("  a: {}\n", "  a:\n").replace("activation: relu", "activation: rleu")
    msg = error_of(text, "variants.a.training.epochs=1")
    assert msg.startswith("x.yaml:3: model.activation: 'rleu' is not one of"), msg
    msg = error_of(BASE, "variants.a:={model: {activation: rleu}}")
    assert msg.startswith("--set variants.a:={model: {activation: rleu}} (variant a): model.activation:"), msg
