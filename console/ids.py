"""Component ids: a public contract for browser suites (listed in docs/testing.md). Keep them stable."""

# run viewer
RUN_POLL = "run-poll"
RUN_STATUS = "run-status"
RUN_OUTCOME = "run-outcome"
RUN_PROGRESS = "run-progress"
RUN_COUNTS = "run-counts"
RUN_ID_STORE = "run-id"
RUN_CANCEL = "run-cancel"
RUN_CANCEL_MODAL = "run-cancel-modal"
RUN_CANCEL_CONFIRM = "run-cancel-confirm"
RUN_RETRY = "run-retry"
RUN_RETRY_MODAL = "run-retry-modal"
RUN_RETRY_CONFIRM = "run-retry-confirm"

# review pack card
REVIEW_PACK_CARD = "review-pack-card"
REVIEW_PACK_POLL = "review-pack-poll"
REVIEW_PACK_STATUS = "review-pack-status"
REVIEW_PACK_GENERATE = "review-pack-generate"
REVIEW_PACK_DOWNLOAD = "review-pack-download"
REVIEW_PACK_MODAL = "review-pack-modal"
REVIEW_PACK_INCLUDE_OPERATIONS = "review-pack-include-operations"
REVIEW_PACK_INCLUDE_PII = "review-pack-include-pii"
REVIEW_PACK_CONFIRM = "review-pack-confirm"

# activity shell
ACTIVITY_SHELL = "activity-shell"
ACTIVITY_POLL = "activity-poll"

# tenant dashboard
OP_CONFIRM_MODAL = "op-confirm-modal"
OP_CONFIRM = "op-confirm"


def op_start(operation_type: str) -> str:
    """The id of the button that starts ``operation_type`` on the tenant dashboard."""
    return f"op-start-{operation_type}"


# login (a Flask form, not Dash)
LOGIN_ERROR = "login-error"

# other
NEEDS_ATTENTION = "needs-attention"
OPERATIONS_TABLE = "operations-table"
TOAST_AREA = "toast-area"
NOTIFICATIONS_BELL = "notifications-bell"
NOTIFICATIONS_COUNT = "notifications-count"
PAGE_VISIBILITY = "page-visibility"
TENANT_ID_STORE = "tenant-id"

# navigation (breadcrumbs on the tenant dashboard and the run viewer: Overview › Tenant › Run #N)
BREADCRUMBS = "breadcrumbs"

# account: API tokens (/account/tokens) and the user menu
ACCOUNT_TOKENS_HREF = "/account/tokens"
NAV_ACCOUNT = "nav-account"
NAV_API_TOKENS = "nav-api-tokens"
NAV_API_DOCS = "nav-api-docs"
TOKEN_NAME = "token-name"
TOKEN_EXPIRES_DAYS = "token-expires-days"
TOKEN_READ_ONLY = "token-read-only"
TOKEN_CREATE = "token-create"
TOKEN_MESSAGE = "token-message"
TOKEN_NEW = "token-new"
TOKEN_NEW_VALUE = "token-new-value"
TOKEN_COPY = "token-copy"
TOKENS_TABLE = "tokens-table"
TOKEN_REVOKE = "token-revoke"  # pattern id {"type": TOKEN_REVOKE, "token": <id>}
TOKEN_REVOKE_MODAL = "token-revoke-modal"
TOKEN_REVOKE_CONFIRM = "token-revoke-confirm"
TOKEN_REVOKE_CANCEL = "token-revoke-cancel"
TOKEN_REVOKE_PENDING = "token-revoke-pending"
