"""The study-parameter declaration (rait_registry.params) and everything generated from it."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from rait_registry import params
from rait_registry.exceptions import UsageError
from tests.conftest import REPO


def test_dbt_project_vars_equal_the_declaration():
    project = yaml.safe_load((REPO / "dbt_project" / "dbt_project.yml").read_text())
    declared = params.dbt_vars_defaults()
    assert sorted(project["vars"]) == sorted(declared), "dbt_project.yml vars drifted from rait_registry.params"
    for name, value in declared.items():
        written = project["vars"][name]
        if isinstance(value, (int, float)):
            assert float(written) == pytest.approx(float(value), abs=0), name
        else:
            assert str(written) == value, name


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("micromet_max_mm=12", {"micromet_max_mm": 12.0}),
        ("synchronous_window_days=400", {"synchronous_window_days": 400}),
        ("surgery_date_min=2001-02-03", {"surgery_date_min": dt.date(2001, 2, 3)}),
        (" tg_response_threshold = 0.5 ", {"tg_response_threshold": 0.5}),
    ],
)
def test_var_overrides_are_typed(item, expected):
    assert params.parse_var_overrides([item]) == expected


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("foo=1", "unknown study parameter 'foo'"),
        ("micromet_max_mn=3", "Did you mean micromet_max_mm?"),
        ("micromet_max_mm=abc", "takes a number"),
        ("micromet_max_mm", "expects NAME=VALUE"),
        ("micromet_max_mm=-5", "must be > 0 mm"),
        ("synchronous_window_days=1.5", "takes a whole number"),
        ("surgery_date_min=12/31/2019", "takes a date YYYY-MM-DD"),
        ("tg_response_threshold=1.5", "must be (0, 1]"),
        ("caliper=0.1", "is an analysis option"),
    ],
)
def test_bad_var_overrides_are_usage_errors(item, message):
    with pytest.raises(UsageError, match=None) as info:
        params.parse_var_overrides([item])
    assert message in str(info.value)
    assert info.value.exit_code == 2


def test_every_default_is_in_its_own_range_and_has_a_meaning():
    for parameter in params.PARAMETERS:
        assert parameter.check(parameter.default) == parameter.default or parameter.default is None
        assert parameter.meaning.endswith("."), parameter.name
        assert parameter.drives, parameter.name
        if parameter.scope == "analysis":
            assert parameter.cli and parameter.cli.startswith("--"), parameter.name


def test_unknown_parameter_lists_the_valid_ones():
    with pytest.raises(UsageError) as info:
        params.get("nope")
    for parameter in params.PARAMETERS:
        assert parameter.name in str(info.value)
