import dash

from console.components.display import not_found_page

dash.register_page(
    __name__,
    path="/404",
    title="Not found · Tenant Operations Console",
    layout=lambda **_: not_found_page(),
)
