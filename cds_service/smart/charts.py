"""The page's charts as plotly.js figures (plain JSON: data + layout), drawn in the browser by the
plotly.js bundle the service serves itself (from the `plotly` package).

Readable without colour: every series differs by marker symbol and line dash or fill pattern as
well as colour (Okabe-Ito palette), the threshold and the criterion-2 window are labelled in
words, and every chart is followed on the page by a table of the same data. Dates on the axes
are numeric (YYYY-MM), the same in both languages; every text comes from the page catalog.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hooks.summary import AdlPoint, DrugRow, Summary

from .messages import Messages

# Okabe & Ito's colour-blind-safe palette
BLUE, ORANGE, GREEN, VERMILLION, SKY, PURPLE, GREY, BLACK = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#999999", "#000000")
FONT = ('system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK SC", "Microsoft YaHei", '
        '"PingFang SC", "WenQuanYi Micro Hei", sans-serif')
DAY_MS = 86_400_000
LABELLED_SHARE = 0.14  # a period shorter than this share of the timeline carries no dose label
# Periods on the timeline, one legend entry each: (adequacy, colour, fill pattern)
SPAN_STYLES = (
    ("adequate", GREEN, "/"),
    ("below", ORANGE, ""),
    ("unknown", GREY, "."),
    ("not-judged", SKY, "x"),
)


def _iso(d: date) -> str:
    return d.isoformat()


def _layout(m: Messages, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "font": {"family": FONT, "size": 13, "color": "#222"},
        "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
        "showlegend": True,
        "legend": {"orientation": "h", "x": 0, "y": -0.18, "xanchor": "left", "yanchor": "top"},
        "hoverlabel": {"font": {"family": FONT}},
    }
    layout.update(extra)
    return layout


def _date_axis(**extra: Any) -> dict[str, Any]:
    # ISO dates in both languages: days on short spans, months on long ones
    axis = {"type": "date", "showgrid": True, "gridcolor": "#e5e5e5", "linecolor": "#444", "zeroline": False,
            "tickformatstops": [{"dtickrange": [None, "M1"], "value": "%Y-%m-%d"},
                                {"dtickrange": ["M1", "M12"], "value": "%Y-%m"},
                                {"dtickrange": ["M12", None], "value": "%Y"}]}
    axis.update(extra)
    return axis


def _score_series(name: str, scale: str, points: list[tuple[Any, int]], text_position: str,
                  symbol: str, dash: str, colour: str) -> dict[str, Any]:
    """One score's line: values labelled at their points, its own marker and dash (readable
    without colour)."""
    return {
        "type": "scatter", "mode": "lines+markers+text", "name": name,
        "x": [_iso(when) for when, _ in points], "y": [v for _, v in points],
        "text": [str(v) for _, v in points], "textposition": text_position,
        "marker": {"symbol": symbol, "size": 9, "color": colour},
        "line": {"dash": dash, "width": 2, "color": colour},
        "hovertemplate": f"%{{x|%Y-%m-%d}}: {scale} %{{y}}<extra></extra>",
    }


def scores_figure(s: Summary, m: Messages) -> dict[str, Any] | None:
    """MG-ADL and QMG totals over time, the criterion-2 threshold and its reading window."""
    if not s.mg_adl and not s.qmg:
        return None
    data: list[dict[str, Any]] = []
    if s.mg_adl:
        data.append(_score_series(m("scores.series-adl"), "MG-ADL", [(p.when, p.total) for p in s.mg_adl],
                                  "top center", "circle", "solid", BLUE))
    if s.qmg:
        data.append(_score_series(m("scores.series-qmg"), "QMG", [(p.when, p.value) for p in s.qmg],
                                  "bottom center", "square", "dash", VERMILLION))
    threshold = s.threshold.mg_adl_min
    window_start = s.today - timedelta(days=s.threshold.score_max_age_days)
    dates = [p.when for p in s.mg_adl] + [p.when for p in s.qmg] + [window_start, s.today]
    span = max((max(dates) - min(dates)).days, 60)
    pad = timedelta(days=max(7, span // 20))
    highest = max([p.total for p in s.mg_adl] + [p.value for p in s.qmg] + [threshold])
    layout = _layout(
        m,
        height=360,
        xaxis=_date_axis(range=[_iso(min(dates) - pad), _iso(s.today + pad)]),
        yaxis={"title": {"text": m("scores.axis-score")}, "rangemode": "tozero", "range": [0, highest * 1.2 + 1],
               "gridcolor": "#e5e5e5", "linecolor": "#444", "zeroline": True},
        shapes=[
            {"type": "rect", "xref": "x", "yref": "paper", "x0": _iso(window_start), "x1": _iso(s.today),
             "y0": 0, "y1": 1, "fillcolor": "rgba(0,0,0,0.06)", "line": {"width": 0}, "layer": "below"},
            {"type": "line", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": threshold, "y1": threshold,
             "line": {"color": BLACK, "width": 2, "dash": "dot"}},
        ],
        annotations=[
            {"xref": "paper", "yref": "y", "x": 0, "y": threshold, "xanchor": "left", "yanchor": "bottom",
             "text": m("scores.threshold", value=f"{threshold:g}"), "showarrow": False,
             "font": {"size": 12, "color": BLACK}, "bgcolor": "rgba(255,255,255,0.8)"},
            {"xref": "x", "yref": "paper", "x": _iso(s.today), "y": 1, "xanchor": "right", "yanchor": "bottom",
             "text": m("scores.window", days=s.threshold.score_max_age_days), "showarrow": False,
             "font": {"size": 11, "color": "#444"}},
        ],
    )
    return {"data": data, "layout": layout}


def items_figure(s: Summary, m: Messages) -> dict[str, Any] | None:
    """MG-ADL points per assessment: ocular items stacked on the other six, with the share."""
    points: list[AdlPoint] = [p for p in s.mg_adl if p.items is not None]
    if not points:
        return None
    x = [_iso(p.when) for p in points]
    ocular = [p.ocular_points or 0 for p in points]
    other = [p.total - (p.ocular_points or 0) for p in points]
    shares = [f"{p.ocular_share:.0%}" if p.ocular_share is not None else "" for p in points]
    data = [
        {"type": "bar", "name": m("items.other"), "x": x, "y": other, "width": [0.4] * len(x),
         "marker": {"color": SKY, "line": {"color": BLACK, "width": 1}},
         "hovertemplate": "%{x}: %{y}<extra></extra>"},
        {"type": "bar", "name": m("items.ocular"), "x": x, "y": ocular, "text": shares, "width": [0.4] * len(x),
         "textposition": "outside", "cliponaxis": False, "constraintext": "none", "textfont": {"size": 12},
         "marker": {"color": ORANGE, "pattern": {"shape": "/", "fgcolor": "#333", "bgcolor": ORANGE,
                                                 "fillmode": "overlay", "size": 10, "solidity": 0.2},
                    "line": {"color": BLACK, "width": 1}},
         "hovertemplate": "%{x}: %{y}<extra></extra>"},
    ]
    layout = _layout(
        m,
        height=300,
        barmode="stack",
        bargap=0.5,
        xaxis={"type": "category", "linecolor": "#444"},
        yaxis={"title": {"text": m("scores.axis-score")}, "rangemode": "tozero", "gridcolor": "#e5e5e5",
               "range": [0, max(p.total for p in points) * 1.25 + 1]},
    )
    return {"data": data, "layout": layout}


def timeline_figure(s: Summary, m: Messages) -> dict[str, Any] | None:
    """Each drug's periods (the part at adequate dose hatched), single doses given, and the
    rescue courses on their own row (those counted for criterion 3-4 filled)."""
    if not s.drugs and not s.rescue:
        return None
    rows = [d.name for d in s.drugs]
    rescue_row = m("therapy.rescue-row")
    if s.rescue:
        rows.append(rescue_row)
    data: list[dict[str, Any]] = []
    dates: list[date] = [s.today]
    first = min([sp.start for d in s.drugs for sp in d.spans] + [g.when for d in s.drugs for g in d.administrations]
                + [e.start for e in s.rescue] + [s.today])
    axis_days = max((s.today - first).days, 60)
    for adequacy, colour, pattern in SPAN_STYLES:
        y, base, length, text, hover = [], [], [], [], []
        for d in s.drugs:
            for span in d.spans:
                if span.adequacy != adequacy or span.end is None:
                    continue
                days = max((span.end - span.start).days, 1)
                y.append(d.name)
                base.append(_iso(span.start))
                length.append(days * DAY_MS)
                label = " · ".join(dict.fromkeys(x for x in (span.dose, span.rule_dose) if x))
                text.append(label if days / axis_days >= LABELLED_SHARE else "")  # too short: hover, table
                hover.append(_span_hover(d, span.start, span.end, label, m(f"therapy.{adequacy}"), span.ongoing, m))
                dates += [span.start, span.end]
        if not y:
            continue
        marker: dict[str, Any] = {"color": colour, "line": {"color": BLACK, "width": 1}}
        if pattern:
            marker["pattern"] = {"shape": pattern, "fgcolor": "#222", "bgcolor": colour, "fillmode": "overlay",
                                 "size": 10, "solidity": 0.3}
        data.append({
            "type": "bar", "orientation": "h", "name": m(f"therapy.{adequacy}"), "y": y, "base": base, "x": length,
            "text": text, "textposition": "inside", "insidetextanchor": "start",
            "textfont": {"color": BLACK, "size": 12},
            "constraintext": "none", "marker": marker, "width": 0.6,
            "hovertext": hover, "hoverinfo": "text",
        })
    open_ended = [(d, span) for d in s.drugs for span in d.spans if span.end is None]
    if open_ended:
        data.append({
            "type": "scatter", "mode": "markers+text", "name": m("therapy.end-unknown"),
            "y": [d.name for d, _ in open_ended], "x": [_iso(span.start) for _, span in open_ended],
            "text": [m("therapy.end-unknown") for _ in open_ended], "textposition": "middle right",
            "marker": {"symbol": "triangle-right-open", "size": 12, "color": BLACK},
            "hovertext": [_span_hover(d, span.start, None, span.dose or "", m("therapy.end-unknown"), False, m)
                          for d, span in open_ended], "hoverinfo": "text",
        })
        dates += [span.start for _, span in open_ended]
    given = [(d, g) for d in s.drugs for g in d.administrations]
    if given:
        data.append({
            "type": "scatter", "mode": "markers", "name": m("therapy.administration"),
            "y": [d.name for d, _ in given], "x": [_iso(g.when) for _, g in given],
            "marker": {"symbol": "triangle-up", "size": 11, "color": PURPLE, "line": {"color": BLACK, "width": 1}},
            "hovertext": [f"{d.name}: {g.when.isoformat()} {g.dose or ''}".strip() for d, g in given],
            "hoverinfo": "text",
        })
        dates += [g.when for _, g in given]
    for counted, symbol, key in ((True, "diamond", "therapy.rescue-counted"), (False, "diamond-open", "therapy.rescue-other")):
        episodes = [e for e in s.rescue if e.counted is counted]
        if not episodes:
            continue
        data.append({
            "type": "scatter", "mode": "markers+text", "name": m(key),
            "y": [rescue_row] * len(episodes), "x": [_iso(e.start) for e in episodes],
            "text": [e.modality for e in episodes], "textposition": "top center",
            "marker": {"symbol": symbol, "size": 13, "color": BLUE, "line": {"color": BLACK, "width": 1.5}},
            "hovertext": [f"{e.modality}: {e.start.isoformat()} – {e.end.isoformat()}" for e in episodes],
            "hoverinfo": "text",
        })
        dates += [e.start for e in episodes] + [e.end for e in episodes]
    span_days = max((max(dates) - min(dates)).days, 60)
    pad = timedelta(days=max(14, span_days // 25))
    layout = _layout(
        m,
        height=140 + 46 * len(rows),
        barmode="overlay",
        margin={"l": 170, "r": 30, "t": 20, "b": 60},
        legend={"orientation": "h", "x": 0, "y": -0.08 - 0.6 / max(len(rows), 1), "xanchor": "left", "yanchor": "top"},
        xaxis=_date_axis(range=[_iso(min(dates) - pad), _iso(s.today + pad)]),
        yaxis={"type": "category", "categoryorder": "array", "categoryarray": rows, "autorange": "reversed",
               "linecolor": "#444", "automargin": True},
        shapes=[{"type": "line", "xref": "x", "yref": "paper", "x0": _iso(s.today), "x1": _iso(s.today),
                 "y0": 0, "y1": 1, "line": {"color": BLACK, "width": 1, "dash": "dashdot"}}],
    )
    return {"data": data, "layout": layout}


def _span_hover(d: DrugRow, start: date, end: date | None, dose: str, state: str, ongoing: bool,
                m: Messages) -> str:
    until = m("therapy.ongoing") if ongoing else (end.isoformat() if end else m("therapy.end-unknown"))
    return f"{d.name}: {start.isoformat()} – {until}<br>{dose}<br>{state}"


def figures(s: Summary, m: Messages) -> dict[str, dict[str, Any]]:
    """The page's figures by id (a chart without data is left out)."""
    out = {}
    for key, build in (("scores", scores_figure), ("items", items_figure), ("therapy", timeline_figure)):
        fig = build(s, m)
        if fig is not None:
            out[key] = fig
    return out
