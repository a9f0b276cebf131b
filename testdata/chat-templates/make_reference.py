"""Renders the templates of cases.json with Python's Jinja2 configured as transformers' apply_chat_template
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, tojson with ensure_ascii=False) and
writes jinja2-reference.json, which kiln.chat.JinjaParityTest compares ChatTemplate against.
Run: python3 make_reference.py  (needs Jinja2 3.x)."""
import json
from pathlib import Path

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

here = Path(__file__).parent


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception

cases = json.loads((here / "cases.json").read_text())
for case in cases:
    case["rendered"] = env.from_string(case["template"]).render(**case["variables"])
(here / "jinja2-reference.json").write_text(json.dumps({
    "source": "Jinja2 " + jinja2.__version__ + " configured as transformers' apply_chat_template (make_reference.py)",
    "cases": cases}, ensure_ascii=False, indent=1) + "\n")
