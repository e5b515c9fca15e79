import dash

from console.components import tenant_dashboard
from console.web import routing

dash.register_page(
    __name__,
    path_template=routing.TENANT_DASHBOARD,
    title="Tenant · Tenant Operations Console",
    layout=tenant_dashboard.layout,
)
