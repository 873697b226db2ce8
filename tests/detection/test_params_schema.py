"""Each kind's parameters as one typed model: its JSON Schema, defaults and messages."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from detection.base import ParamsError
from detection.registry import available_kinds, detector_class

KINDS = available_kinds()


def test_every_kind_is_listed() -> None:
    assert {"histogram_iforest", "deep_knn", "patch_autoencoder", "auto"} <= set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_schema_validates_the_defaults_and_describes_every_field(kind: str) -> None:
    params_class = detector_class(kind).params_class
    schema = params_class.json_schema()
    Draft202012Validator.check_schema(schema)
    defaults = params_class().to_dict()
    json.dumps(schema)  # served as JSON
    Draft202012Validator(schema).validate(defaults)
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(defaults) == set(params_class.model_fields)
    for name, field in schema["properties"].items():
        assert len(field.get("description", "")) > 15, f"{kind}.{name} has no help text"
        if "default" in field:
            assert field["default"] == defaults[name], f"{kind}.{name}"
    # The defaults read back as they were written (as in a saved artefact's meta.json).
    assert params_class.from_mapping(json.loads(json.dumps(defaults))) == params_class()


@pytest.mark.parametrize("kind", KINDS)
def test_schema_ranges_are_the_ones_enforced(kind: str) -> None:
    params_class = detector_class(kind).params_class
    validator = Draft202012Validator(params_class.json_schema())
    for name, field in params_class.json_schema()["properties"].items():
        for bound, step in (("maximum", 1), ("minimum", -1)):
            if field.get("type") == "integer" and bound in field:
                value = field[bound] + step
                assert not validator.is_valid({name: value}), f"{kind}.{name}={value}"
                with pytest.raises(ParamsError, match=name):
                    params_class.from_mapping({name: value})


@pytest.mark.parametrize(
    ("kind", "values", "message"),
    [
        (
            "classifier_openset",
            {"image_size": 16},
            "image_size: Input should be greater than or equal to 32",
        ),
        ("histogram_iforest", {"grid": "3"}, "grid: Input should be a valid integer"),
        ("histogram_iforest", {"grid": True}, "grid: Input should be a valid integer"),
        ("histogram_iforest", {"colour": 1}, "unknown parameter.s. colour; accepted: bins"),
        ("histogram_iforest", {"space": "l2"}, "grid layouts need space"),
        ("patch_autoencoder", {"kernel_size": 2}, "kernel_size must be 1 or 3"),
        ("patch_autoencoder", {"grid": 8}, "unknown parameter.s. grid; accepted: backbone"),
        ("deep_knn", {"image_size": [64] * 5}, "image_size must be an integer between 32"),
        ("deep_knn", {"invariances": ["hflip", "hflip"]}, "invariances must be distinct"),
        ("auto", {"candidate_params": {"deep_knn": {"image_size": 8}}}, "candidate_params of"),
    ],
)
def test_bad_values_get_a_message_naming_the_field(kind: str, values: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        detector_class(kind).params_class.from_mapping(values)


def test_json_lists_become_tuples_and_params_are_frozen() -> None:
    params = detector_class("deep_knn").params_class.from_mapping(
        {"image_size": [64, 96], "invariances": ["hflip"]}
    )
    assert params.image_size == (64, 96) and params.image_sizes == (64, 96)
    assert params.invariances == ("hflip",)
    assert params.to_dict()["image_size"] == [64, 96]
    with pytest.raises(ValueError):
        params.seed = 1  # type: ignore[misc]
    assert params.model_copy(update={"seed": 1}).seed == 1
