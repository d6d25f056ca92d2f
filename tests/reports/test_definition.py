"""Definitions are validated against the allow-list; SQL never gets through."""

from __future__ import annotations

import copy

import pytest
from auralink.reports.definition import ReportDefinitionError, validate
from auralink.reports.query import build_query

EXAMPLE = {"metrics": [{"column": "call_minutes", "agg": "sum"}], "dimensions": ["day"],
           "filters": [{"column": "call_type", "op": "=", "value": "video"}], "date_range": {"last_days": 30},
           "chart": {"type": "line"}}


def with_(path, value):
    d = copy.deepcopy(EXAMPLE)
    target = d
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return d


def test_example_definition_is_accepted():
    defn = validate(EXAMPLE)
    assert defn.source == "calls" and defn.metrics[0].name == "sum_call_minutes" and defn.chart == "line"
    assert defn.last_days == 30 and defn.dimensions == ("day",)


def test_seed_report_templates_are_accepted():
    from auralink.seed import vocab

    for name, definition, cron, formats in vocab.REPORT_TEMPLATES:
        validate(definition)


@pytest.mark.parametrize("definition, message", [
    (with_(["metrics", 0, "column"], "call_minutes); DROP TABLE calls; --"), "is not an allowed column"),
    (with_(["metrics", 0, "agg"], "sum(duration_seconds)) FROM users; --"), "is not an allowed aggregation"),
    (with_(["dimensions"], ["day; DELETE FROM calls"]), "is not an allowed dimension"),
    (with_(["filters", 0, "column"], "1=1 OR call_type"), "is not a filterable column"),
    (with_(["filters", 0, "op"], "= 'video' OR 1=1 --"), "is not an allowed operator"),
    (with_(["filters", 0, "value"], "video' OR '1'='1"), "is not a value of call_type"),
    ({**EXAMPLE, "sql": "SELECT * FROM users"}, "raw SQL is not accepted"),
    ({**EXAMPLE, "where": "1=1"}, "raw SQL is not accepted"),
    ({**EXAMPLE, "source": "users"}, "is not an allowed source"),
    ({**EXAMPLE, "metrics": [{"column": "call_minutes", "agg": "sum"}, {"column": "ai_cost_usd", "agg": "sum"}]},
     "is not an allowed column of calls"),
    (with_(["date_range"], {"last_days": "30; DROP"}), "must be an integer"),
    (with_(["chart", "type"], "scatter"), "is not allowed"),
    ({**EXAMPLE, "metrics": []}, "must be a list of 1 to 10"),
    ("{not json", "not valid JSON"),
])
def test_bad_and_injecting_definitions_are_rejected_with_a_clear_error(definition, message):
    with pytest.raises(ReportDefinitionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate(definition)


def test_query_holds_no_user_text():
    defn = validate({**EXAMPLE, "filters": [{"column": "region", "op": "in", "value": ["eu'; DROP TABLE calls; --"]}]})
    sql = build_query(defn)
    assert "DROP" not in sql and "%(f0)s" in sql


def test_cli_validate_reports_the_error(tmp_path, capsys):
    import json

    from auralink.cli import main

    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"definition": EXAMPLE, "formats": ["csv", "pdf"], "schedule_cron": "0 6 * * 1"}))
    bad.write_text(json.dumps({**EXAMPLE, "sql": "DROP TABLE calls"}))
    assert main(["reports", "validate", str(good)]) == 0
    assert "valid (calls: sum_call_minutes by day)" in capsys.readouterr().out
    assert main(["reports", "validate", str(bad)]) == 3   # the item (the file) is bad
    assert "raw SQL is not accepted" in capsys.readouterr().err


def test_chart_title_is_optional_and_checked():
    assert validate({**EXAMPLE, "chart": {"type": "bar", "title": "Minutes"}}).chart_title == "Minutes"
    with pytest.raises(ReportDefinitionError, match="chart.title"):
        validate({**EXAMPLE, "chart": {"type": "bar", "title": 7}})
