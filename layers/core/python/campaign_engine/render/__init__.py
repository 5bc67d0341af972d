"""Campaign templates: compile once per container, render per recipient.

One subject a module:

- `environment`: the sandboxed Jinja2 environments (author text is data, never code);
- `undefined`: missing values that know their path (`'context.offerCode' is undefined`);
- `helpers`: `format_date`, `format_currency` and the other locale-aware filters (Babel);
- `limits`: what one render may cost (time, loops, value and output sizes, template size);
- `compile`: compiling, the per-container cache, rendering one recipient's message, and the
  errors a campaign author is shown;
- `variables`: the data paths a template reads.

Missing data is strict where it shows and lenient where it is tested: printing a value that is
not there fails that recipient's render instead of sending a blank. The email-only steps after
rendering (CSS inlining, the text part derived from the html, MIME) live with the email channel,
in `campaign_engine.channels.email`.
"""

from __future__ import annotations

from campaign_engine.render.compile import (
    CompiledLocale,
    RenderedMessage,
    RenderError,
    TemplateProblem,
    TemplateProblems,
    check_content,
    check_render_bounds,
    compile_content,
    compiled_for,
    render_scope,
)
from campaign_engine.render.variables import template_variables

__all__ = [
    "CompiledLocale",
    "RenderError",
    "RenderedMessage",
    "TemplateProblem",
    "TemplateProblems",
    "check_content",
    "check_render_bounds",
    "compile_content",
    "compiled_for",
    "render_scope",
    "template_variables",
]
