"""Property-based: any mutation of a valid experiment file gives a valid config or a ConfigError."""

import copy

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from nnx.config import parse_experiment
from nnx.errors import ConfigError

from .conftest import EXPERIMENTS

VALID = [yaml.safe_load(p.read_text()) for p in sorted(EXPERIMENTS.glob("*.yaml"))]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.lists(st.integers(-3, 300), max_size=4))


def paths(data, prefix=()):
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from paths(value, prefix + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from paths(value, prefix + (i,))


@st.composite
def mutated(draw):
    doc = copy.deepcopy(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 3))):
        targets = [p for p in paths(doc) if p]
        if not targets:
            break
        path = draw(st.sampled_from(targets))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["delete", "replace", "rename"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = parent.pop(path[-1])
        else:
            parent[path[-1]] = draw(scalars)
    return doc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutations_give_a_config_or_a_config_error(doc):
    text = yaml.safe_dump(doc, allow_unicode=True)
    try:
        experiment = parse_experiment(text, source="m.yaml")
    except ConfigError as e:
        assert str(e).startswith("m.yaml") and "\n" not in str(e)
    else:
        assert experiment.runs


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_but_config_error(text):
    try:
        parse_experiment(text, source="t.yaml")
    except ConfigError:
        pass


# --------------------------------------------------------------------------------------------
# `--set` lines, alone and mixed with file mutations: every case is a config or a ConfigError
# that is one line and points at the file, an option or the `--set` (never another exception).

import os  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from nnx.config.reference import _parts  # noqa: E402

from .helpers import run_cli  # noqa: E402

# Every key the schema documents (leaves and sections), as --set spells them.
SCHEMA_KEYS = sorted({row.key.replace("[]", "") for _, _, blocks in _parts() for block in blocks
                      for row in block.rows})
SECTION_KEYS = sorted({".".join(k.split(".")[:n]) for k in SCHEMA_KEYS for n in range(1, k.count(".") + 1)})
FILE_KEYS = sorted({".".join(map(str, p)) for doc in VALID for p in paths(doc) if p})
YAML_SNIPPETS = ["[1,2", "{a: 1", "64,32,16", "[64, 32]", "{name: adam}", "{name: adam, learning_rate: 0.01}",
                 "null", "~", "", " ", "1e3", ".inf", "-.inf", ".nan", "0x1F", "2024-01-01", "a: b", "- x", "'quoted",
                 '"open', "!!python/object:os.system", "&a [*a]", "[[[[[[1]]]]]]", "{}", "[]", "yes", "NO",
                 "relu", "ReLU", "adam", "cosine", "validation.acuracy", "mlp", "lda", "digits", "MNIST",
                 "# comment", "%YAML 1.2", "\t", "a\nb: 1", "é", "\x00", "\x1b[31m", "1_000", "+1", "0.5,0.3"]


def _mistype(key: str, draw) -> str:
    parts = key.split(".")
    i = draw(st.integers(0, len(parts) - 1))
    word = parts[i]
    how = draw(st.sampled_from(["drop", "swap", "insert", "case", "text"]))
    if how == "drop" and len(word) > 1:
        j = draw(st.integers(0, len(word) - 1))
        word = word[:j] + word[j + 1:]
    elif how == "swap" and len(word) > 2:
        j = draw(st.integers(0, len(word) - 2))
        word = word[:j] + word[j + 1] + word[j] + word[j + 2:]
    elif how == "insert":
        j = draw(st.integers(0, len(word)))
        word = word[:j] + draw(st.sampled_from("aeiouxz_-. ")) + word[j:]
    elif how == "case":
        word = word.upper() if word.islower() else word.lower()
    else:
        word = draw(st.text(max_size=6))
    parts[i] = word
    return ".".join(parts)


values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.sampled_from([-1, 0, 1, 2, 3, 8, 64, 300, 2**31, 2**32, 2**64]),
              st.floats(allow_nan=True), st.text(max_size=8), st.sampled_from(SCHEMA_KEYS)),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.one_of(st.sampled_from([k.split(".")[-1] for k in SCHEMA_KEYS]),
                                                         st.text(max_size=5)), children, max_size=3)),
    max_leaves=6)


@st.composite
def set_lines(draw):
    """One `--set` argument: a real, mistyped or invented key; `=` or `:=`; any kind of value."""
    source = draw(st.sampled_from(["schema", "section", "file", "variant", "mistyped", "junk"]))
    if source == "schema":
        key = draw(st.sampled_from(SCHEMA_KEYS))
    elif source == "section":
        key = draw(st.sampled_from(SECTION_KEYS))
    elif source == "file":
        key = draw(st.sampled_from(FILE_KEYS))
    elif source == "variant":
        name = draw(st.sampled_from(["ridge", "dropout", "lda", "default", "nar_skip", "x"]))
        key = f"variants.{name}" + draw(st.sampled_from(["", ".model", ".training.epochs", ".data.name",
                                                          ".model.type", ".training.optimizer", ".modle"]))
    elif source == "mistyped":
        key = _mistype(draw(st.sampled_from(SCHEMA_KEYS)), draw)
    else:
        key = draw(st.sampled_from(["", ".", "a..b", ".x", "x.", "=", " ", "training. epochs", "model.hidden.0"]))
    operator = draw(st.sampled_from(["=", "=", "=", ":=", ""]))
    if draw(st.booleans()):
        text = draw(st.sampled_from(YAML_SNIPPETS))
    else:
        value = draw(values)
        if key.split(".")[-1] == "seeds" and isinstance(value, int) and value > 5:
            value = 5  # a valid `seeds: 2**32` is four billion runs: valid, but not a quick test
        text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**6)
        text = text.strip().removesuffix("...").strip()
    return f"{key}{operator}{text}"


# The choices of each string key ("relu, tanh, ..."), for overrides that should pass.
CHOICES = {row.key: row.allowed.split(", ") for _, _, blocks in _parts() for block in blocks for row in block.rows
           if row.type.startswith("string") and row.allowed and row.allowed[0] not in "<>"}


def like(value, key: str):
    """Values of the same kind as the file's `value` at `key`: overrides that may well be valid."""
    schema_key = ".".join(key.split(".")[2:]) if key.startswith("variants.") else key
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(0 if "seed" in key else 1, 5)
    if isinstance(value, float):
        return st.floats(0.0, 0.9)
    if isinstance(value, str):
        return st.sampled_from(CHOICES.get(schema_key, [value]))
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return st.lists(st.integers(1, 64), min_size=1, max_size=3)
    if isinstance(value, list):
        return st.lists(st.floats(0.0, 0.9), min_size=len(value), max_size=len(value))
    if isinstance(value, dict) and value:
        keys = list(value)
        return st.lists(st.sampled_from(keys), max_size=2, unique=True).flatmap(
            lambda chosen: st.fixed_dictionaries({k: like(value[k], f"{key}.{k}") for k in chosen}))
    return st.just(value)


@st.composite
def plausible_line(draw, doc):
    """A `--set` of a key the file has, with a value like the file's (merged or replaced)."""
    targets = [p for p in paths(doc) if p and all(isinstance(k, str) for k in p)]
    if not targets:
        return draw(set_lines())
    path = draw(st.sampled_from(targets))
    node = doc
    for k in path:
        node = node[k]
    key = ".".join(path)
    value = draw(like(node, key))
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**6)
    operator = draw(st.sampled_from(["=", "=", ":="]))
    return f"{key}{operator}{text.strip().removesuffix('...').strip()}"


@st.composite
def file_and_overrides(draw):
    """A shipped experiment, sometimes mutated, with one to four `--set` lines, some plausible."""
    doc = draw(mutated()) if draw(st.integers(0, 3)) == 0 else copy.deepcopy(draw(st.sampled_from(VALID)))
    lines = draw(st.lists(st.one_of(set_lines(), plausible_line(doc), plausible_line(doc)), min_size=1, max_size=4))
    return yaml.safe_dump(doc, allow_unicode=True), lines


def check_case(text: str, overrides: list[str]):
    """A config, or a ConfigError of one line that names its origin. Returns the error or None."""
    try:
        experiment = parse_experiment(text, source="m.yaml", overrides=overrides)
    except ConfigError as e:
        message = str(e)
        assert "\n" not in message and "\r" not in message, message
        assert message.startswith(("m.yaml", "--set ")), message
        event("error at a --set" if message.startswith("--set ") else "error in the file")
        return message
    assert experiment.runs
    event("a config")
    return None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(file_and_overrides())
def test_set_lines_and_file_mutations_give_a_config_or_a_config_error(case):
    check_case(*case)


@pytest.mark.slow
@pytest.mark.skipif("'slow' not in config.getoption('markexpr') and 'NNX_PROPERTY_EXAMPLES' not in os.environ",
                    reason="10,000 cases: run with -m slow or NNX_PROPERTY_EXAMPLES=N")
@settings(max_examples=int(os.environ.get("NNX_PROPERTY_EXAMPLES", "10000")), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(file_and_overrides())
def test_many_set_lines_and_file_mutations(case):
    # NNX_PROPERTY_EXAMPLES=10000 pytest tests/test_config_properties.py -m slow
    check_case(*case)


_FOLDER = Path(tempfile.mkdtemp(prefix="nnx-property-"))


@pytest.fixture(autouse=True, scope="module")
def _default_csv_stand_in(tmp_path_factory):
    """default.yaml is among the shipped experiments these cases mutate; its table is read when
    the config is checked, so the data folder holds a small stand-in (not the real data)."""
    from .helpers import write_default_stand_in

    folder = tmp_path_factory.mktemp("data")
    write_default_stand_in(folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NNX_DATA_DIR", str(folder))
        yield


@settings(max_examples=int(os.environ.get("NNX_PROPERTY_CLI_EXAMPLES", "25")), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(file_and_overrides())
def test_through_the_cli_a_bad_set_exits_2_with_one_line_and_writes_nothing(capsys, case):
    text, overrides = case
    error = check_case(text, overrides)
    experiment = _FOLDER / "m.yaml"
    experiment.write_text(text)
    out = _FOLDER / "out"
    args = [a for o in overrides for a in ("--set", o)]
    code, stdout, stderr = run_cli(["train", experiment, "-o", out, "--dry-run", *args], capsys)
    if error is None:
        assert code == 0, stderr
        return
    assert (code, stderr.count("\n")) == (2, 1) and stderr.startswith("error: ") and not stdout, (stdout, stderr)
    assert "Traceback" not in stderr
    # A real run of the same bad case: the same one line, and no folder.
    code, stdout, real = run_cli(["train", experiment, "-o", out, *args], capsys)
    assert (code, real) == (2, stderr), (stdout, real)
    assert not out.exists()
