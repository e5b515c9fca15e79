"""The yardstick for the web layer: a bare Dash app whose one callback does nothing (PreventUpdate ->
204), served by the same gunicorn settings as the console (``gunicorn bench.bare_dash:server``).
No login, CSRF, limiter, database or Dash pages: what is left is Flask + Dash's callback dispatch."""

from __future__ import annotations

import dash
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

app = dash.Dash("bare", serve_locally=True, update_title=None)
app.layout = html.Div(
    [
        dcc.Interval(id="bare-poll", interval=1000),
        dcc.Store(id="bare-state", data={"fingerprint": "x"}),
        html.Div(id="bare-view"),
    ]
)


@app.callback(Output("bare-view", "children"), Input("bare-poll", "n_intervals"), State("bare-state", "data"))
def bare_poll(_n: int | None, _state: dict | None) -> None:
    raise PreventUpdate


server = app.server
BARE_POLL_BODY = {
    "output": "bare-view.children",
    "outputs": {"id": "bare-view", "property": "children"},
    "inputs": [{"id": "bare-poll", "property": "n_intervals", "value": 5}],
    "state": [{"id": "bare-state", "property": "data", "value": {"fingerprint": "x"}}],
    "changedPropIds": ["bare-poll.n_intervals"],
}
