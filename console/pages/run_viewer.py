import dash

from console.components import run_viewer
from console.web import routing

dash.register_page(
    __name__, path_template=routing.RUN_VIEWER, title="Run · Tenant Operations Console", layout=run_viewer.layout
)
