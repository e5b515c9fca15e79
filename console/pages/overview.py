import dash

from console.components import overview
from console.web import routing

dash.register_page(
    __name__, path=routing.OVERVIEW, title="Overview · Tenant Operations Console", layout=overview.layout
)
