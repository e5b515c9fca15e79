import dash

from console.components import operations_table
from console.web import routing

dash.register_page(
    __name__, path=routing.OPERATIONS, title="Operations · Tenant Operations Console", layout=operations_table.layout
)
