"""PyTorch API names link to PyTorch's documentation of the pinned
versions (docs_plugin/api.py), in prose and in code, and the API index
lists each with the pages and examples that use it."""

import html
import importlib
import inspect
import re
from importlib.metadata import version

import pytest

from docs_plugin import api

V = {"torch": "2.14.1", "torchvision": "0.29.1"}
DOCS = "https://docs.pytorch.org/docs/2.14/"

# Checked by hand against the sources of PyTorch's documentation
# (docs/source/*.md of pytorch/pytorch, ops.rst of pytorch/vision).
CHECKED = [
    ("torch.nn.BatchNorm2d", "class", "generated/torch.nn.BatchNorm2d.html"),
    ("torch.nn.functional.batch_norm", "function",
     "generated/torch.nn.functional.batch_norm.html"),
    ("torch.Tensor", "class", "tensors.html#torch.Tensor"),
    ("torch.Tensor.var", "method", "generated/torch.Tensor.var.html"),
    ("torch.nn.Module.eval", "method",
     "generated/torch.nn.Module.html#torch.nn.Module.eval"),
    ("torch.nn.Parameter", "class",
     "generated/torch.nn.parameter.Parameter.html"),
    ("torch.nn.Flatten", "class",
     "generated/torch.nn.modules.flatten.Flatten.html"),
    ("torch.inference_mode", "class",
     "generated/torch.autograd.grad_mode.inference_mode.html"),
    ("torch.no_grad", "class", "generated/torch.no_grad.html"),
    ("torch.autocast", "class", "amp.html#torch.autocast"),
    ("torch.autograd.Function", "class",
     "autograd.html#torch.autograd.Function"),
    ("torch.distributed.all_reduce", "function",
     "distributed.html#torch.distributed.all_reduce"),
    ("torch.utils.data.DataLoader", "class",
     "data.html#torch.utils.data.DataLoader"),
    ("torch.nn.init.zeros_", "function", "nn.init.html#torch.nn.init.zeros_"),
    ("torch.random.fork_rng", "function",
     "random.html#torch.random.fork_rng"),
    ("torch.optim.swa_utils.AveragedModel", "class",
     "generated/torch.optim.swa_utils.AveragedModel.html"),
    ("torch.optim.swa_utils.update_bn", "function",
     "optim.html#torch.optim.swa_utils.update_bn"),
    ("torch.nn", "module", "nn.html"),
]


@pytest.mark.parametrize("name,kind,page", CHECKED, ids=[c[0] for c in CHECKED])
def test_names_link_where_pytorch_documents_them(name, kind, page):
    assert api.url(name, kind, V) == DOCS + page


def test_torchvision_and_undocumented_names():
    assert api.url("torchvision.ops.FrozenBatchNorm2d", "class", V) == (
        "https://docs.pytorch.org/vision/0.29/generated/"
        "torchvision.ops.FrozenBatchNorm2d.html")
    for name, kind in [("torch.float32", "other"),
                       ("torch.nn.modules.batchnorm._BatchNorm", "class"),
                       ("torch.nn.Foo", None), ("torchvision", "module")]:
        assert api.url(name, kind, V) is None, name


def test_chains_follow_aliases_and_skip_comments_and_strings():
    code = ('bn = nn.BatchNorm1d(3)  # nn.LayerNorm\n'
            'y = F.batch_norm(x, "torch.zeros")\n'
            'z = model(x).mean()\n'
            'loader = DataLoader(data)\n')
    known = {**api.ALIASES, "DataLoader": "torch.utils.data.DataLoader"}
    assert api.chains(code, known) == [
        "torch.nn.BatchNorm1d", "torch.nn.functional.batch_norm",
        "torch.utils.data.DataLoader"]


def test_inline_code_names():
    known = api.ALIASES
    assert api.inline("nn.BatchNorm2d", known) == "torch.nn.BatchNorm2d"
    assert api.inline("torch.no_grad()", known) == "torch.no_grad"
    assert api.inline("nn.BatchNorm1d(784, eps=0.0)", known) == \
        "torch.nn.BatchNorm1d"
    assert api.inline("BatchNorm2d", known) == "torch.nn.BatchNorm2d"
    for text in ("running_var", "model.eval()", "(N, C)", "eps=0"):
        assert api.inline(text, known) is None, text


def resolves(name):
    """Whether ``name`` is a module, class, function or method of the
    installed torch or torchvision."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for part in parts[i:]:
            obj = getattr(obj, part)
        return inspect.ismodule(obj) or callable(obj)
    return False


LINK = re.compile(r'<a class="api-link" href="([^"]+)" title="([^"]+) in '
                  r'the PyTorch documentation">(.*?)</a>', re.S)
FORM = re.compile(
    r"^https://docs\.pytorch\.org/(?:docs/{torch}|vision/{vision})/"
    r"(?:generated/|models/generated/)?[\w.]+\.html(?:#[\w.]+)?$".format(
        torch=re.escape(api.short_version(version("torch"))),
        vision=re.escape(api.short_version(version("torchvision")))))


def test_every_api_link_has_the_right_form_and_a_real_name(site):
    links = {}
    for page in site.rglob("*.html"):
        for href, name, _ in LINK.findall(page.read_text()):
            links.setdefault((href, html.unescape(name)), page)
    assert len(links) > 80
    for (href, name), page in links.items():
        assert FORM.match(href), (page, href)
        assert resolves(name), (page, name)
        # the page or anchor of that name, or its module's page
        last = name.rpartition(".")[2]
        assert href.endswith((f".{last}.html", f"#{name}")) or \
            href.rpartition("/")[2] == api.MODULE_PAGES.get(name), href


def test_every_api_name_in_prose_and_code_is_linked(site):
    """On the teaching pages, every inline code span and every code-block
    name chain that names a real torch object is a link."""
    known = api.aliases([])
    unlinked = []
    for page in list(site.glob("*/index.html")) + [site / "index.html"]:
        if page.parent.name in ("gallery", "api", "claims", "timings"):
            continue
        text = LINK.sub("", page.read_text())
        text = re.sub(r"<a\b.*?</a>", "", text, flags=re.S)
        for code in re.findall(r"<code>([^<]*)</code>", text):
            name = api.inline(html.unescape(code), known)
            if name and resolves_quietly(name) and \
                    api.url(name, "class", V):
                unlinked.append((page.parent.name, code))
    assert not unlinked


def resolves_quietly(name):
    try:
        return resolves(name)
    except AttributeError:
        return False


def test_the_api_index_lists_each_name_with_its_users(site):
    index = (site / "api/index.html").read_text()
    rows = re.findall(r"<tr>\s*<td>(.*?)</td>\s*<td>(\w+)</td>\s*<td>(.*?)"
                      r"</td>\s*<td>(.*?)</td>\s*</tr>", index, re.S)
    assert len(rows) > 80
    names = set()
    for first, kind, pages, examples in rows:
        found = LINK.findall(first)
        assert len(found) == 1, first
        name = html.unescape(found[0][1])
        names.add(name)
        assert kind in ("class", "function", "method", "module")
        for href in re.findall(r'href="\.\./([^"]+)"', pages + examples):
            used = (site / href / "index.html").read_text()
            assert f'title="{name} in the PyTorch documentation"' in used, \
                (name, href)
    assert {"torch.nn.BatchNorm2d", "torch.nn.functional.batch_norm",
            "torch.nn.SyncBatchNorm", "torch.nn.LayerNorm"} <= names


def test_a_damaged_inventory_is_looked_up_again(tmp_path):
    """api-names.json edited by hand (a name pointed at another object's
    page) or cut short is noticed, said in one line, and resolved again."""
    path = tmp_path / "api-names.json"
    said = []
    first = api.Inventory(path, V, said.append)
    first.kinds = {"torch.nn.BatchNorm2d": ["class", "torch.nn.BatchNorm2d"]}
    first.resolve([])  # nothing new: nothing written
    assert not path.exists()
    import json

    from docs_plugin.cache import write_atomically

    write_atomically(path, json.dumps({"versions": first.versions,
                                       "kinds": first.kinds,
                                       "digest": api._digest(first.kinds)}))
    assert api.Inventory(path, V, said.append).kinds == first.kinds
    assert said == []
    edited = json.loads(path.read_text())
    edited["kinds"]["torch.nn.BatchNorm2d"][1] = "torch.nn.functional.relu"
    path.write_text(json.dumps(edited))
    assert api.Inventory(path, V, said.append).kinds == {}
    path.write_text(path.read_text()[:40])
    assert api.Inventory(path, V, said.append).kinds == {}
    assert len(said) == 2 and all("was damaged" in s for s in said)
