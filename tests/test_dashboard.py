"""The Grafana dashboard queries only series the package really emits, with labels they really carry.

The metrics are produced, not listed: the demo bot runs under the instrumentor (3 turns, one
interrupted) and the connection and AI-request helpers fill in what the bot does not exercise
(a transport connection, a failed request). Every recorded metric's name, unit, kind and data point
attributes are then translated to Prometheus series and label names the way the OpenTelemetry
Collector's ``prometheus`` / ``prometheusremotewrite`` exporters do it (``prometheus/otlptranslator``,
strategy ``UnderscoreEscapingWithSuffixes``, the default), and every PromQL ``expr`` of the
dashboard is parsed and checked against them: metric names, labels in selectors, ``by``/``without``/
``on``/``ignoring`` lists, and the labels left over after each aggregation.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Gauge, Histogram, InMemoryMetricReader, Sum
from opentelemetry.sdk.trace import TracerProvider

from opentelemetry_instrumentation_realtime_ai import (
    Connection,
    RealtimeAIInstrumentor,
    attributes,
    instrument_llm_request,
    telemetry,
)
from opentelemetry_instrumentation_realtime_ai.helpers.session import Session

bot = pytest.importorskip("bot")

DASHBOARD = Path(__file__).resolve().parent.parent / "dashboards" / "realtime-ai.json"


# --- OTel -> Prometheus names (port of prometheus/otlptranslator, UnderscoreEscapingWithSuffixes) ---

_UNITS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
    "us": "microseconds", "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes",
    "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tibibytes", "KBy": "kilobytes",
    "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes", "m": "meters", "V": "volts",
    "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius", "Hz": "hertz",
    "1": "", "%": "percent",
}  # fmt: skip
_PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}

COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"


def _unit_suffixes(unit: str) -> tuple[str, str]:
    """``buildUnitSuffixes``: UCUM annotations (``{token}``) give no suffix; ``a/b`` gives ``a_per_b``."""
    main, _, per = unit.partition("/")
    main = main.strip()
    main_suffix = _UNITS.get(main, main) if main and not re.search(r"[{}]", main) else ""
    per = per.strip()
    per_suffix = _PER_UNITS.get(per, per) if per and not re.search(r"[{}]", per) else ""
    return main_suffix, "per_" + per_suffix if per_suffix else ""


def _clean_unit(unit: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^a-zA-Z0-9:]", "_", unit)).removeprefix("_")


def prometheus_metric_name(name: str, unit: str, kind: str) -> str:
    """``normalizeName``: split on every non ``[a-zA-Z0-9:]`` rune, add unit and type suffixes, join with ``_``."""
    tokens = [t for t in re.split(r"[^a-zA-Z0-9:]", name) if t]
    main, per = (_clean_unit(s) for s in _unit_suffixes(unit))
    if main in tokens:
        main = ""
    per = "" if per == "per_" else per.removesuffix("_")
    if per in tokens:
        per = ""
    if per:
        main = main.removesuffix("_")
    tokens += [s for s in (main, per) if s]
    if kind == COUNTER:
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if kind == GAUGE and unit == "1":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    result = "_".join(tokens)
    return "_" + result if result[:1].isdigit() else result


def prometheus_label_name(key: str) -> str:
    """``LabelNamer.Build``: invalid runes (runs of them) become one ``_``; a leading digit gets ``key_``."""
    label = re.sub(r"[^a-zA-Z0-9]+", "_", key)
    return "key_" + label if label[:1].isdigit() else label


def test_translation_matches_otlptranslator_examples():
    """Cases from otlptranslator's own tests and docs, so the port above is checked on its own."""
    assert prometheus_metric_name("http.server.duration", "s", HISTOGRAM) == "http_server_duration_seconds"
    assert prometheus_metric_name("requests.count", "1", COUNTER) == "requests_count_total"
    assert prometheus_metric_name("memory.usage", "By", GAUGE) == "memory_usage_bytes"
    assert prometheus_metric_name("system.cpu.utilization", "1", GAUGE) == "system_cpu_utilization_ratio"
    assert prometheus_metric_name("network.io", "By/s", GAUGE) == "network_io_bytes_per_second"
    assert prometheus_metric_name("active.requests", "{request}", GAUGE) == "active_requests"
    assert prometheus_metric_name("foo.seconds", "s", COUNTER) == "foo_seconds_total"
    assert prometheus_metric_name("total.foo", "{x}", COUNTER) == "foo_total"
    assert prometheus_label_name("http.method") == "http_method"
    assert prometheus_label_name("0.x") == "key_0_x"


# --- what the package records ---


@dataclass
class Emitted:
    name: str
    unit: str
    kind: str
    attributes: set[str] = field(default_factory=set)
    stages: set[str] = field(default_factory=set)
    """Values of ``turn.latency.stage`` seen on its points."""


def _kind(data) -> str:
    if isinstance(data, Histogram):
        return HISTOGRAM
    if isinstance(data, Sum):
        return COUNTER if data.is_monotonic else GAUGE  # non-monotonic sums are exported as gauges
    if isinstance(data, Gauge):
        return GAUGE
    raise AssertionError(f"no Prometheus mapping checked for {type(data).__name__}")


def _prometheus_exporter():
    try:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
    except ImportError:
        return None
    return PrometheusMetricReader()


@pytest.fixture(scope="module")
def recorded():
    """Every metric the instrumentation records, and the optional Python Prometheus exporter's view."""
    memory = InMemoryMetricReader()
    prometheus = _prometheus_exporter()
    readers = [memory] + ([prometheus] if prometheus else [])
    meter_provider = MeterProvider(metric_readers=readers)
    instrumentor = RealtimeAIInstrumentor()
    instrumentor.instrument(tracer_provider=TracerProvider(), meter_provider=meter_provider)
    try:
        asyncio.run(bot.run_bot(turns=3, interrupt_turn=2, realtime=False, conversation_id="dashboard"))
        connection = Connection("dashboard-connection", "websocket")
        connection.state_change("connected")
        connection.message("received", 10)
        connection.message("sent", 20)
        gappy = Session("dashboard-gaps")  # a reply with a hole in its audio
        gappy.user_started_speaking()
        gappy.user_stopped_speaking()
        gappy.bot_started_speaking()
        gappy.audio_gap(0.2)
        mic = gappy.input_audio(32000)  # the caller's 20 ms chunks, one 100 ms late
        assert mic is not None
        for at in (0.0, 0.02, 0.12):
            mic.heard(at, 640)
        gappy.end()
        connection.quality("received", jitter=0.004, packets_lost=2, packets=500)
        connection.quality("sent", rtt=0.03, jitter=0.002, packets_lost=1, packets=400)
        connection.close()
        request = instrument_llm_request("openai", "gpt-4o-mini")
        request.set_usage(12, 0)
        request.end(error=TimeoutError("provider timed out"))

        emitted: dict[str, Emitted] = {}
        data = memory.get_metrics_data()
        assert data is not None
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    entry = emitted.setdefault(
                        metric.name, Emitted(metric.name, metric.unit or "", _kind(metric.data))
                    )
                    for point in metric.data.data_points:
                        entry.attributes.update(point.attributes or {})
                        stage = (point.attributes or {}).get(attributes.TURN_LATENCY_STAGE)
                        if stage is not None:
                            entry.stages.add(stage)
        exposition = None
        if prometheus is not None:
            from prometheus_client import REGISTRY, generate_latest

            exposition = generate_latest(REGISTRY).decode()
        yield emitted, exposition
    finally:
        instrumentor.uninstrument()
        meter_provider.shutdown()


@pytest.fixture(scope="module")
def emitted(recorded):
    return recorded[0]


@pytest.fixture(scope="module")
def series(emitted) -> dict[str, frozenset[str]]:
    """Prometheus series name -> label names, for every metric the package recorded."""
    result: dict[str, frozenset[str]] = {}
    for metric in emitted.values():
        base = prometheus_metric_name(metric.name, metric.unit, metric.kind)
        labels = frozenset(prometheus_label_name(key) for key in metric.attributes)
        if metric.kind == HISTOGRAM:
            result[base + "_bucket"] = labels | {"le"}
            result[base + "_sum"] = labels
            result[base + "_count"] = labels
        else:
            result[base] = labels
    return result


def test_every_metric_name_constant_is_recorded(emitted):
    """The run above exercises every METRIC_* of attributes.py, so the checks below cover all of them."""
    declared = {value for key, value in vars(attributes).items() if key.startswith("METRIC_")}
    assert declared == set(emitted), declared ^ set(emitted)


def test_python_prometheus_exporter_agrees(recorded, series):
    """When opentelemetry-exporter-prometheus is installed, its exposition has the same series and labels."""
    _, exposition = recorded
    if exposition is None:
        pytest.skip("opentelemetry-exporter-prometheus not installed")
    from prometheus_client.parser import text_string_to_metric_families

    exported: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.labels.get("otel_scope_name") == telemetry.SCOPE:
                exported.setdefault(sample.name, set()).update(sample.labels)
    assert set(exported) == set(series)
    scope_labels = {"otel_scope_name", "otel_scope_version", "otel_scope_schema_url"}
    for name, labels in series.items():
        assert exported[name] - scope_labels == labels, name


# --- PromQL: a small parser that knows which names are metrics and which are labels ---

FUNCTIONS = {
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "avg_over_time",
    "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh", "count_over_time", "day_of_month",
    "day_of_week", "day_of_year", "days_in_month", "deg", "delta", "deriv", "exp", "floor",
    "histogram_avg", "histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev",
    "histogram_stdvar", "histogram_sum", "holt_winters", "hour", "idelta", "increase", "irate",
    "label_join", "label_replace", "last_over_time", "ln", "log10", "log2", "mad_over_time",
    "max_over_time", "min_over_time", "minute", "month", "pi", "predict_linear", "present_over_time",
    "quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn", "sin", "sinh", "sort",
    "sort_desc", "sqrt", "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time",
    "timestamp", "vector", "year",
}  # fmt: skip
AGGREGATIONS = {
    "avg", "bottomk", "count", "count_values", "group", "limit_ratio", "limitk", "max", "min",
    "quantile", "stddev", "stdvar", "sum", "topk",
}  # fmt: skip
KEEPS_SERIES = {"topk", "bottomk", "limitk", "limit_ratio"}  # return input series, labels untouched
SET_OPERATORS = {"and", "or", "unless"}
BINARY = {"+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "atan2", *SET_OPERATORS}
SCALAR_RESULT = {"scalar", "time", "pi", "minute", "hour", "month", "year", "day_of_month", "day_of_week",
                 "day_of_year", "days_in_month"}  # fmt: skip

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    | (?P<duration>(?:\d+(?:ms|s|m|h|d|w|y))+)
    | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
    | (?P<op>=~|!~|==|!=|>=|<=|[-+*/%^=<>(){}\[\],@])
    )""",
    re.VERBOSE,
)
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]")


def tokenize(expr: str) -> list[tuple[str, str]]:
    expr = re.sub(r"#[^\n]*", "", expr)
    # Outside strings, a Grafana variable stands for a duration ($__rate_interval) or a number.
    parts = re.split(r"(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')", expr)
    expr = "".join(p if i % 2 else _GRAFANA_VARIABLE.sub("1m", p) for i, p in enumerate(parts))
    tokens, position = [], 0
    while position < len(expr.rstrip()):
        match = _TOKEN.match(expr, position)
        assert match and match.end() > position, f"cannot tokenize {expr[position:]!r} in {expr!r}"
        kind = str(match.lastgroup)
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


@dataclass
class Value:
    """What an expression evaluates to: a scalar, a string, or a vector with these labels."""

    kind: str
    labels: frozenset[str] = frozenset()


class PromQL:
    """Recursive descent over one expression; checks names against ``series`` as it goes.

    ``metrics`` collects every metric name selected; a wrong metric, an unknown function, a label a
    series does not carry, or vector operands whose labels cannot match raise AssertionError.
    """

    def __init__(self, expr: str, series: dict[str, frozenset[str]]):
        self.expr, self.series = expr, series
        self.tokens = tokenize(expr)
        self.position = 0
        self.metrics: set[str] = set()

    def parse(self) -> Value:
        value = self.expression()
        assert self.peek() is None, f"unexpected {self.peek()} in {self.expr!r}"
        return value

    # --- token helpers ---

    def peek(self, offset: int = 0):
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self, text: str | None = None, kind: str | None = None) -> str:
        token = self.peek()
        assert token is not None, f"unexpected end of {self.expr!r}"
        assert text is None or token[1] == text, f"expected {text!r}, got {token[1]!r} in {self.expr!r}"
        assert kind is None or token[0] == kind, f"expected a {kind}, got {token[1]!r} in {self.expr!r}"
        self.position += 1
        return token[1]

    def at(self, *texts: str) -> bool:
        token = self.peek()
        return token is not None and token[1] in texts

    def fail(self, message: str):
        raise AssertionError(f"{message} in {self.expr!r}")

    def label_list(self) -> list[str]:
        self.take("(")
        labels = []
        while not self.at(")"):
            labels.append(self.take(kind="ident"))
            if not self.at(")"):
                self.take(",")
        self.take(")")
        return labels

    # --- grammar ---

    def expression(self) -> Value:
        left = self.unary()
        while self.peek() is not None and self.peek()[1] in BINARY:
            operator = self.take()
            if self.at("bool"):
                self.take()
            matching = None
            if self.at("on", "ignoring"):
                matching = (self.take(), self.label_list())
            if self.at("group_left", "group_right"):
                self.take()
                if self.at("("):
                    self.label_list()
            right = self.unary()
            left = self.combine(operator, matching, left, right)
        return left

    def combine(self, operator, matching, left: Value, right: Value) -> Value:
        if left.kind != "vector" or right.kind != "vector":
            return left if left.kind == "vector" else right
        if matching is not None:
            keyword, labels = matching
            if keyword == "on":
                for label in labels:
                    if label not in left.labels or label not in right.labels:
                        self.fail(f"on({label}) not carried by both sides")
            return left
        if operator == "or":
            return Value("vector", left.labels | right.labels)
        if left.labels != right.labels:
            self.fail(
                f"{operator!r} between vectors labelled {sorted(left.labels)} and {sorted(right.labels)}"
            )
        return left

    def unary(self) -> Value:
        if self.at("-", "+"):
            self.take()
            return self.unary()
        value = self.primary()
        if self.at("["):  # range or subquery: contents are durations
            while not self.at("]"):
                self.take()
            self.take("]")
        while self.at("offset", "@"):
            self.take()
            if self.at("-"):
                self.take()
            self.take()
            if self.at("("):  # start() / end()
                self.take("(")
                self.take(")")
        return value

    def primary(self) -> Value:
        kind, text = self.peek()
        if kind in ("number", "duration"):
            self.take()
            return Value("scalar")
        if kind == "string":
            self.take()
            return Value("string")
        if text == "(":
            self.take("(")
            value = self.expression()
            self.take(")")
            return value
        if text == "{":
            self.fail("a selector without a metric name")
        if kind != "ident":
            self.fail(f"unexpected {text!r}")
        if text.lower() in ("inf", "nan"):
            self.take()
            return Value("scalar")
        if text in AGGREGATIONS:
            return self.aggregation()
        if self.peek(1) is not None and self.peek(1)[1] == "(":
            if text not in FUNCTIONS:
                self.fail(f"unknown function {text!r}")
            return self.function()
        return self.selector()

    def arguments(self) -> list[Value]:
        self.take("(")
        values = []
        while not self.at(")"):
            values.append(self.expression())
            if not self.at(")"):
                self.take(",")
        self.take(")")
        return values

    def function(self) -> Value:
        name = self.take()
        arguments = self.arguments()
        vectors = [v for v in arguments if v.kind == "vector"]
        if name in SCALAR_RESULT:
            return Value("scalar")
        if name in ("vector", "absent", "absent_over_time"):
            return Value("vector")
        if not vectors:
            self.fail(f"{name}() without a vector argument")
        labels = vectors[0].labels
        if name == "histogram_quantile":
            if "le" not in labels:
                self.fail("histogram_quantile over series without an le label")
            labels = labels - {"le"}
        if name in ("label_replace", "label_join"):
            self.fail(f"{name}() is not supported by this check")
        return Value("vector", labels)

    def aggregation(self) -> Value:
        name = self.take()
        grouping = None
        if self.at("by", "without"):
            grouping = (self.take(), self.label_list())
        arguments = self.arguments()
        if grouping is None and self.at("by", "without"):
            grouping = (self.take(), self.label_list())
        vector = arguments[-1]
        if vector.kind != "vector":
            self.fail(f"{name}() of a {vector.kind}")
        if grouping is not None:
            for label in grouping[1]:
                if label not in vector.labels:
                    self.fail(f"{name} {grouping[0]} ({label}): not a label of {sorted(vector.labels)}")
        if name in KEEPS_SERIES:
            return vector
        if grouping is None:
            return Value("vector")
        keyword, labels = grouping
        if keyword == "by":
            return Value("vector", frozenset(labels))
        return Value("vector", vector.labels - set(labels))

    def selector(self) -> Value:
        name = self.take(kind="ident")
        if name in ("by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"):
            self.fail(f"misplaced keyword {name!r}")
        if name not in self.series:
            self.fail(f"metric {name!r} is not emitted by the package (emitted: {sorted(self.series)})")
        self.metrics.add(name)
        labels = self.series[name]
        if self.at("{"):
            self.take("{")
            while not self.at("}"):
                label = self.take(kind="ident")
                if label != "__name__" and label not in labels:
                    self.fail(f"label {label!r} is not carried by {name} ({sorted(labels)})")
                self.take()  # =, !=, =~, !~
                self.take(kind="string")
                if not self.at("}"):
                    self.take(",")
            self.take("}")
        return Value("vector", labels)


# --- the dashboard ---


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def all_panels(panels):
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def panel_queries():
    for panel in all_panels(dashboard()["panels"]):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def variable_queries():
    """``label_values(<selector>, <label>)`` of the query variables: (name, selector, label)."""
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        query = query["query"] if isinstance(query, dict) else query
        match = re.fullmatch(r"\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*", query)
        assert match, f"variable {variable['name']}: expected label_values(selector, label), got {query!r}"
        yield variable["name"], match.group(1), match.group(2)


def test_dashboard_shape():
    board = dashboard()
    assert board["schemaVersion"] >= 38
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert (
        variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    )
    assert {"pipeline", "provider", "model"} <= set(variables)
    panels = [p for p in all_panels(board["panels"]) if p["type"] != "row"]
    assert len({p["id"] for p in all_panels(board["panels"])}) == len(list(all_panels(board["panels"])))
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    for panel in panels:
        if panel["fieldConfig"]["defaults"].get("unit") == "s" and any(
            "histogram_quantile" in t["expr"] for t in panel["targets"]
        ):
            links = panel["fieldConfig"]["defaults"]["links"] + panel.get("links", [])
            assert any("${traces}" in link["url"] for link in links), f"{panel['title']}: no link to traces"


@pytest.mark.parametrize(("title", "expr"), list(panel_queries()))
def test_panel_query_uses_emitted_metrics_and_labels(series, title, expr):
    query = PromQL(expr, series)
    value = query.parse()
    assert query.metrics, f"{title}: no metric in {expr!r}"
    assert value.kind == "vector", f"{title}: {expr!r} is not a vector"


@pytest.mark.parametrize(("name", "selector", "label"), list(variable_queries()))
def test_variable_query_uses_emitted_metrics_and_labels(series, name, selector, label):
    value = PromQL(selector, series).parse()
    assert label in value.labels, f"variable {name}: {label!r} not a label of {selector}"


def test_dashboard_covers_every_metric(emitted, series):
    """Each recorded metric shows up in at least one panel (any of a histogram's series counts)."""
    used = set()
    for _, expr in panel_queries():
        query = PromQL(expr, series)
        query.parse()
        used |= query.metrics
    for metric in emitted.values():
        base = prometheus_metric_name(metric.name, metric.unit, metric.kind)
        names = {base + s for s in ("_bucket", "_sum", "_count")} if metric.kind == HISTOGRAM else {base}
        assert names & used, f"{metric.name} ({base}) is on no panel"


def test_latency_stage_panels(emitted, series):
    """The stage metric carries only the documented stages; the stage panels group by them and
    stack their per-turn means under the end-to-end mean, which they add up to."""
    stages = emitted[attributes.METRIC_TURN_STAGE_LATENCY].stages
    # The demo bot's cascade (VAD, speech-timeout turn stop, LLM, TTS, output) has all but tools.
    assert stages == set(attributes.TURN_STAGES) - {attributes.STAGE_TOOLS}
    panels = {p["title"]: p for p in all_panels(dashboard()["panels"])}
    stacked = panels["Where the latency goes: mean seconds per turn, by stage"]
    waterfall = panels["Latency stages p50 / p95 (selected time range)"]
    stage_series = prometheus_metric_name(attributes.METRIC_TURN_STAGE_LATENCY, "s", HISTOGRAM)
    for panel in (stacked, waterfall):
        by_stage = [t["expr"] for t in panel["targets"] if stage_series in t["expr"]]
        assert by_stage, panel["title"]
        for expr in by_stage:
            assert PromQL(expr, series).parse().labels == {"turn_latency_stage"}, expr
    assert stacked["fieldConfig"]["defaults"]["custom"]["stacking"]["mode"] == "normal"
    assert {q for t in waterfall["targets"] for q in re.findall(r"histogram_quantile\((0\.\d+)", t["expr"])} == {
        "0.5",
        "0.95",
    }


def test_parser_rejects_what_it_should(series):
    """The checks above can fail: a renamed metric, a label it lacks, an unknown function, a bad grouping."""
    good = 'sum by (pipeline_name) (rate(realtime_ai_turns_total{pipeline_name=~".*"}[$__rate_interval]))'
    assert PromQL(good, series).parse().labels == {"pipeline_name"}
    bad = [
        good.replace("realtime_ai_turns_total", "realtime_ai_turns"),
        good.replace('{pipeline_name=~".*"}', '{session_id="x"}'),
        good.replace("sum by (pipeline_name)", "sum by (gen_ai_request_model)"),
        good.replace("rate(", "rat("),
        "histogram_quantile(0.9, sum by (pipeline_name) (rate(realtime_ai_turn_user_bot_latency_seconds_bucket[5m])))",
        "sum by (pipeline_element) (rate(realtime_ai_frames_total[5m])) / sum(rate(realtime_ai_turns_total[5m]))",
        "topk(3, sum by (pipeline_element) (rate(realtime_ai_frames_total[5m]))) by (pipeline_name)",
    ]
    for expr in bad:
        with pytest.raises(AssertionError):
            PromQL(expr, series).parse()
