"""Pages, digests and reports from the Jinja2 templates in pipelines/templates/.

`*.html.j2` templates escape every value they print (autoescape); `*.txt.j2` print text as it is.
A template may mark a value `|safe` only where code, not an input, produced it, and says so.
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

_TEMPLATES = Environment(
    loader=PackageLoader("pipelines", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), disabled_extensions=("txt.j2",), default=True),
    undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
)
_TEMPLATES.policies["json.dumps_kwargs"] = {"separators": (",", ":")}  # `tojson`: compact, keys in their order


def render(name: str, **context) -> str:
    """The template `name` (a file in pipelines/templates/) filled in with `context`."""
    return _TEMPLATES.get_template(name).render(**context)
