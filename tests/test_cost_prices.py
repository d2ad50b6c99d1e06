"""The price table and cost calculator (plan #303): exact integer money, dated prices, validated file, a ceiling.

Field cases: 4 (cached tokens billed twice: the right answer is 5,615 µUSD, the bug gives 10,415), 5 (float drift:
amounts are integers of nano-USD, so sums are exact) and 8 (an unknown model is priced at the ceiling, never zero).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cost import prices as prices_module
from cost.money import format_usd, usd_to_nusd
from cost.prices import CEILING, Price, PriceTable, PriceTableError, Usage, UsageError, cost_nusd, load_prices
from shared.telemetry.testing import Captured

AT = datetime(2025, 6, 1, 12, tzinfo=UTC)
TABLE: dict[str, Any] = {
    "models": {
        CEILING: [{"effective_from": "2000-01-01", "input": 15, "cached_input": 15, "output": 60}],
        "gpt-x": [{"effective_from": "2024-01-01", "input": 2.50, "cached_input": 1.25, "output": 10.00}],
    }
}


def _table(change: dict[str, Any] | None = None, model: str = "gpt-x") -> str:
    data = json.loads(json.dumps(TABLE))
    if change is not None:
        data["models"][model][0].update(change)
    return json.dumps(data)




def test_case_4_cached_tokens_are_a_subset_of_prompt_tokens() -> None:
    cost = load_prices().cost(Usage(prompt_tokens=2006, completion_tokens=300, cached_tokens=1920), "gpt-4o", AT)
    assert cost.nusd == 5_615_000  # 86 x 2.50 + 1920 x 1.25 + 300 x 10.00 per million: 5,615 µUSD
    assert cost.nusd != 10_415_000 and not cost.ceiling
    assert format_usd(cost.nusd) == "0.005615"


def test_case_5_integer_amounts_sum_exactly_where_floats_drift() -> None:
    assert 0.10 + 0.70 != 0.80  # the bug: a float cap check never sees the cap reached
    assert usd_to_nusd(Decimal("0.10")) + usd_to_nusd(Decimal("0.70")) == usd_to_nusd(Decimal("0.80")) == 800_000_000


def test_reasoning_tokens_are_inside_completion_tokens_and_billed_once() -> None:
    table = load_prices()
    plain = table.cost(Usage(1000, 500), "o3-mini", AT)
    with_reasoning = table.cost(Usage(1000, 500, reasoning_tokens=400), "o3-mini", AT)
    assert plain.nusd == with_reasoning.nusd == 1000 * 1100 + 500 * 4400


def test_a_separate_reasoning_price_bills_those_tokens_at_it_and_the_rest_as_output() -> None:
    price = Price("r-model", AT.date(), input_nusd=1000, cached_input_nusd=500, output_nusd=4000, reasoning_nusd=2000)
    assert cost_nusd(Usage(100, 50, cached_tokens=40, reasoning_tokens=30), price) == (
        60 * 1000 + 40 * 500 + 20 * 4000 + 30 * 2000)


@pytest.mark.parametrize(("at", "input_nusd", "cached_nusd", "output_nusd"), [
    (datetime(2024, 6, 1, tzinfo=UTC), 5000, 5000, 15000),
    (datetime(2024, 9, 30, 23, 59, 59, tzinfo=UTC), 5000, 5000, 15000),
    (datetime(2024, 10, 1, 0, 0, tzinfo=UTC), 2500, 1250, 10000),
    (datetime(2026, 1, 1, tzinfo=UTC), 2500, 1250, 10000),
])
def test_the_price_in_force_at_the_usage_time_is_used(at: datetime, input_nusd: int, cached_nusd: int,
                                                      output_nusd: int) -> None:
    price = load_prices().price("gpt-4o", at)
    assert (price.input_nusd, price.cached_input_nusd, price.output_nusd) == (input_nusd, cached_nusd, output_nusd)


def test_a_dated_snapshot_id_is_priced_as_its_model() -> None:
    assert load_prices().price("gpt-4o-2024-08-06", AT).model == "gpt-4o"
    assert load_prices().price("gpt-4o-mini", AT).model == "gpt-4o-mini"


def test_case_8_unknown_model_is_priced_at_the_ceiling_flagged_and_reported_once(emitted: Captured) -> None:
    table = PriceTable.from_json(_table())
    first = table.cost(Usage(1000, 100), "brand-new-model", AT)
    second = table.cost(Usage(1000, 100), "brand-new-model", AT)
    assert first.ceiling and first.nusd == second.nusd == 1000 * 15_000 + 100 * 60_000 > 0
    assert [name for name, _ in emitted] == ["Ai.Price.CeilingApplied"]


def test_usage_before_a_models_first_price_is_priced_at_the_ceiling() -> None:
    assert load_prices().price("gpt-4.1", datetime(2025, 4, 13, tzinfo=UTC)).ceiling
    assert not load_prices().price("gpt-4.1", datetime(2025, 4, 14, tzinfo=UTC)).ceiling


def test_the_estimate_assumes_no_cache_and_the_whole_output_budget() -> None:
    assert load_prices().estimate(2006, 300, "gpt-4o", AT).nusd == 2006 * 2500 + 300 * 10_000


@pytest.mark.parametrize(("usage", "field"), [
    (dict(prompt_tokens=10, completion_tokens=1, cached_tokens=11), "cached_tokens"),
    (dict(prompt_tokens=10, completion_tokens=1, reasoning_tokens=2), "reasoning_tokens"),
    (dict(prompt_tokens=-1, completion_tokens=1), "prompt_tokens"),
])
def test_inconsistent_usage_is_refused_naming_the_field(usage: dict[str, int], field: str) -> None:
    with pytest.raises(UsageError) as caught:
        Usage(**usage)
    assert caught.value.field == field


def test_the_shipped_table_has_the_models_and_a_dated_change() -> None:
    table = PriceTable.from_file()
    assert {"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3-mini"} <= set(table.models)
    assert table.price("gpt-4o", datetime(2024, 6, 1, tzinfo=UTC)) != table.price("gpt-4o", AT)
    assert load_prices() is load_prices()


@pytest.mark.parametrize(("text", "named"), [
    (_table({"input": 2.5001}), "models.gpt-x[0].input: must have at most 3 decimals"),
    (_table({"output": "10.00"}), "models.gpt-x[0].output: must be a JSON number"),
    (_table({"cached_input": -1}), "models.gpt-x[0].cached_input: must be a finite number >= 0"),
    (_table({"output": None}), "models.gpt-x[0].output: is required"),
    (_table({"input": 0}), "models.gpt-x[0].input: must be > 0"),
    (_table({"cached_input": 3}), "models.gpt-x[0].cached_input: must not exceed input"),
    (_table({"ouput": 1}), "models.gpt-x[0].ouput: is not a known field"),
    (_table({"effective_from": "01/02/2024"}), "models.gpt-x[0].effective_from: must be a YYYY-MM-DD date"),
    (_table({"input": 16}), "models.gpt-x input (16000 nUSD/token) is above the *ceiling* price"),
    (_table({"output": 0}, model=CEILING), "models.*ceiling*[0].output: must be > 0"),
    (json.dumps({"models": {"gpt-x": TABLE["models"]["gpt-x"]}}), "models.*ceiling* is required"),
    (json.dumps({"models": {**TABLE["models"], "gpt-x": [TABLE["models"]["gpt-x"][0]] * 2}}),
     "models.gpt-x: effective_from dates must be strictly ascending"),
    (json.dumps({"models": {**TABLE["models"], "GPT-X": TABLE["models"]["gpt-x"]}}), "model key 'GPT-X'"),
    ("{not json", "not valid JSON (line 1"),
])
def test_a_bad_price_file_is_a_loud_error_naming_the_model_and_field(text: str, named: str) -> None:
    with pytest.raises(PriceTableError) as caught:
        PriceTable.from_json(text, source="prices.json")
    assert named in str(caught.value)


def test_a_decimal_price_is_written_without_float_rounding() -> None:
    table = PriceTable.from_json(_table({"input": 0.075, "cached_input": 0.005}))
    assert table.price("gpt-x", AT).input_nusd == 75 and table.price("gpt-x", AT).cached_input_nusd == 5


def test_the_module_never_reads_a_price_as_float() -> None:
    source = prices_module.__file__
    assert source is not None and "float(" not in open(source, encoding="utf-8").read()


@given(prompt=st.integers(0, 5_000_000), cached_share=st.integers(0, 100), completion=st.integers(0, 500_000),
       reasoning_share=st.integers(0, 100))
def test_cost_is_the_exact_decimal_formula(prompt: int, cached_share: int, completion: int,
                                           reasoning_share: int) -> None:
    cached, reasoning = prompt * cached_share // 100, completion * reasoning_share // 100
    usage = Usage(prompt, completion, cached, reasoning)
    expected_usd = ((prompt - cached) * Decimal("2.50") + cached * Decimal("1.25")
                    + completion * Decimal("10.00")) / 1_000_000
    cost = load_prices().cost(usage, "gpt-4o", AT).nusd
    assert isinstance(cost, int) and Decimal(cost) == expected_usd * 1_000_000_000
