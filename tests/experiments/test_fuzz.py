"""Fuzzing the ways settings come in: train.py's flags and a sweep's YAML. Whatever is drawn
(numbers including NaN, infinity, huge and negative ones, text, empty values, wrong types),
the parser and the checks end in a valid configuration or one clear line, never another
exception. Nothing is trained."""

import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiments.config import SETTINGS, SWEEPABLE, check_combination, parse_command
from experiments.sweeps.spec import SweepSpecError, parse_spec

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", 300)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 0.5, 1e308, -1e-308, math.nan, math.inf]),
)
TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "nan", "inf", "-inf", "1e999", "0x10", "abc", "--", "-1", "true"]),
)
YAML_SCALAR = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
YAML_VALUE = st.recursive(
    YAML_SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=8,
)


def _flag_text(value):
    return repr(value) if isinstance(value, float) else str(value)


@st.composite
def command_lines(draw):
    """A train.py command line: a few settings, each given a drawn value (or none)."""
    names = draw(st.lists(st.sampled_from(sorted(SETTINGS)), max_size=5, unique=True))
    argv = []
    for name in names:
        meta = SETTINGS[name]
        if meta["kind"] is bool:
            argv.append(draw(st.sampled_from([f"--{name}", f"--no-{name}"])))
            continue
        argv.append(f"--{name}")
        values = draw(st.lists(st.one_of(NUMBERS.map(_flag_text), TEXT), max_size=3))
        argv += values
    return argv


@FUZZ
@given(argv=command_lines())
def test_any_command_line_ends_in_a_config_or_a_usage_error(argv, capsys):
    try:
        config, resume = parse_command(argv)
    except SystemExit as stop:
        err = capsys.readouterr().err
        assert stop.code == 2, err
        assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("usage") is False
        return
    assert resume is None
    for name, value in config.items():  # what passed is what the checks allow
        if isinstance(value, float):
            assert math.isfinite(value), name
    check_combination(config)  # already made by parse_command: must not raise now


@st.composite
def parameter_bodies(draw):
    kind = draw(st.sampled_from(["value", "values", "distribution", "anything"]))
    if kind == "value":
        return {"value": draw(YAML_VALUE)}
    if kind == "values":
        return {"values": draw(st.one_of(st.lists(YAML_VALUE, max_size=4), YAML_VALUE))}
    if kind == "distribution":
        body = {
            "distribution": draw(
                st.one_of(
                    st.sampled_from(
                        ["uniform", "int_uniform", "log_uniform_values", "q_uniform", "categorical"]
                    ),
                    YAML_SCALAR,
                )
            ),
            "min": draw(YAML_VALUE),
            "max": draw(YAML_VALUE),
        }
        if draw(st.booleans()):
            body["q"] = draw(YAML_VALUE)
        return body
    return draw(YAML_VALUE)


@st.composite
def sweep_files(draw):
    names = st.one_of(st.sampled_from(sorted(SWEEPABLE)), TEXT)
    raw = {
        "method": draw(st.one_of(st.sampled_from(["grid", "random", "bayes"]), YAML_SCALAR)),
        "parameters": draw(
            st.one_of(st.dictionaries(names, parameter_bodies(), max_size=4), YAML_VALUE)
        ),
    }
    if draw(st.booleans()):
        raw["early_terminate"] = draw(
            st.one_of(
                st.fixed_dictionaries(
                    {"type": st.just("hyperband")},
                    optional={"min_iter": YAML_VALUE, "eta": YAML_VALUE, "max_iter": YAML_VALUE},
                ),
                YAML_VALUE,
            )
        )
    if draw(st.booleans()):
        raw["run_cap"] = draw(YAML_VALUE)
    if draw(st.booleans()):
        raw["metric"] = draw(YAML_VALUE)
    return raw


@FUZZ
@given(sweep_files())
def test_any_sweep_file_ends_in_a_spec_or_a_spec_error(raw):
    try:
        spec = parse_spec(raw, "fuzz.yaml")
    except SweepSpecError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("fuzz.yaml: ")
        return
    for parameter in spec.parameters.values():  # every value a trial could get is valid
        if parameter.is_categorical:
            assert parameter.values
        else:
            assert SETTINGS[parameter.name]["kind"] in (int, float)
            assert math.isfinite(parameter.low) and math.isfinite(parameter.high)
            assert parameter.low < parameter.high
    if spec.method == "grid":
        assert spec.grid_size() >= 1


@pytest.mark.parametrize(
    "raw",
    [
        {"method": "random", "parameters": {"val_fraction": {"values": 5}}},
        {
            "method": "random",
            "parameters": {"restore_best": {"distribution": "uniform", "min": False, "max": True}},
        },
        {
            "method": "random",
            "parameters": {
                "optimizer": {"distribution": "int_uniform", "min": "adam", "max": "sgd"}
            },
        },
    ],
)
def test_what_the_fuzzer_found_is_one_line(raw):
    with pytest.raises(SweepSpecError, match="is not a number: give values: |must be a non-empty"):
        parse_spec(raw, "fuzz.yaml")
