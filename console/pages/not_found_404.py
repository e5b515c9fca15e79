import dash
from dash import dcc, html

dash.register_page(
    __name__,
    path="/404",
    title="Not found · Tenant Operations Console",
    layout=lambda **_: html.Div(
        [
            html.H2("Not found", id="not-found"),
            html.P("This page does not exist, or you do not have access to it."),
            dcc.Link("Back to the overview", href="/"),
        ]
    ),
)
