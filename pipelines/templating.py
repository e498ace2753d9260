"""Pages, digests and reports from the Jinja2 templates in pipelines/templates/.

`*.html.j2` templates escape every value they print (autoescape); `*.txt.j2` print text as it is.
A template may mark a value `|safe` only where code, not an input, produced it, and says so.
Each HTML template carries a Content-Security-Policy <meta> allowing only the scripts and styles
it inlines, named by their hash: `{{ code|csp_hash }}` is the source expression of `code` as printed.
"""

from __future__ import annotations

import base64
import hashlib

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup


def csp_hash(code: str) -> Markup:
    """The CSP source expression ('sha256-...') allowing an inline <script> or <style> holding exactly `code`."""
    digest = base64.b64encode(hashlib.sha256(str(code).encode("utf-8")).digest()).decode("ascii")
    return Markup(f"'sha256-{digest}'")  # base64 and quotes only: nothing to escape


_TEMPLATES = Environment(
    loader=PackageLoader("pipelines", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), disabled_extensions=("txt.j2",), default=True),
    undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
)
_TEMPLATES.policies["json.dumps_kwargs"] = {"separators": (",", ":")}  # `tojson`: compact, keys in their order
_TEMPLATES.filters["csp_hash"] = csp_hash


def render(name: str, **context) -> str:
    """The template `name` (a file in pipelines/templates/) filled in with `context`."""
    return _TEMPLATES.get_template(name).render(**context)
