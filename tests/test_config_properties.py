"""Property-based: any mutation of a valid experiment file gives a valid config or a ConfigError."""

import copy

import yaml
from hypothesis import HealthCheck, given, settings
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
