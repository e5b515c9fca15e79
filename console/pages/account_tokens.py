import dash

from console import ids
from console.components import account_tokens

dash.register_page(
    __name__,
    path=ids.ACCOUNT_TOKENS_HREF,
    title="API tokens · Tenant Operations Console",
    layout=account_tokens.layout,
)
