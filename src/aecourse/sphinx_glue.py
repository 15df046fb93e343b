"""Sphinx extension: paste a figure glued in a notebook onto another page, with caption and label.

myst-nb 1.x pastes glued *text* from another document (``{glue:text}`../nb.ipynb::key```), but
its ``{glue:figure}`` directive only finds keys glued in the same document. The course shows each
figure on its chapter page, so this extension lets the directive take ``path::key`` too::

    ```{glue:figure} ../notebooks/03_dense_autoencoder.ipynb::dense_fig_reconstructions
    :name: fig-dense-ae-reconstructions
    :figwidth: 100%

    Caption text.
    ```

The figure node (label, number, caption) exists when the chapter is read, so ``{numref}`` works;
its image is filled in at write time from the notebook's glue data (the PNG is written into the
HTML build's image folder). A key without ``::`` behaves exactly as in myst-nb. Enabled by
listing ``aecourse.book`` in ``_config.yml`` (``sphinx: extra_extensions``).
"""

from __future__ import annotations

import hashlib
import os
from binascii import a2b_base64
from pathlib import Path

from docutils import nodes
from myst_nb.ext.glue.crossref import read_glue_cache
from myst_nb.ext.glue.directives import PasteFigureDirective
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging

LOGGER = logging.getLogger(__name__)


class pending_glue_figure(nodes.General, nodes.Element):  # noqa: N801 - docutils naming
    """Stands in a figure for an image glued in another document (``refdoc``, ``key``)."""


class GlueFigureDirective(PasteFigureDirective):
    """``{glue:figure}`` that also accepts ``<path>::<key>`` to paste from another document."""

    def run(self):
        if "::" not in self.arguments[0]:
            return super().run()
        rel_doc, key = (part.strip() for part in self.arguments[0].split("::", 1))
        env = self.state.document.settings.env
        _, filepath = env.relfn2path(rel_doc, env.docname)
        refdoc = env.path2doc(filepath)
        if refdoc is None or not os.path.isfile(filepath):
            return [self._warning(f"glue:figure: document {rel_doc!r} not found (from {env.docname!r})")]
        env.note_dependency(filepath)
        pending = pending_glue_figure(refdoc=refdoc, key=key, alt=self.options.get("alt", key))
        self.set_source_info(pending)
        figure_node = nodes.figure("", pending)
        self.set_source_info(figure_node)
        if self.options.get("figwidth") is not None:
            figure_node["width"] = self.options["figwidth"]
        if self.options.get("figclass"):
            figure_node["classes"] += self.options["figclass"]
        if self.options.get("align"):
            figure_node["align"] = self.options["align"]
        self.add_name(figure_node)
        if self.content:
            holder = nodes.Element()
            self.state.nested_parse(self.content, self.content_offset, holder)
            first = holder[0]
            if not isinstance(first, nodes.paragraph):
                return [figure_node, self._warning("glue:figure: the caption must be a paragraph")]
            caption = nodes.caption(first.rawsource, "", *first.children)
            caption.source, caption.line = first.source, first.line
            figure_node += caption
            if len(holder) > 1:
                figure_node += nodes.legend("", *holder[1:])
        return [figure_node]

    def _warning(self, message: str) -> nodes.Node:
        return self.state.document.reporter.warning(message, line=self.lineno)


class ResolveGlueFigures(SphinxPostTransform):
    """Replace each pending figure image by the PNG glued in its notebook."""

    default_priority = 5

    def run(self, **kwargs):
        for node in list(self.document.findall(pending_glue_figure)):
            data = read_glue_cache(self.env.mystnb_config.output_folder, node["refdoc"])
            png = data.get(node["key"], {}).get("data", {}).get("image/png")
            if png is None:
                found = "not glued" if node["key"] not in data else f"glued without a PNG ({list(data[node['key']]['data'])})"
                LOGGER.warning(f"glue:figure: key {node['key']!r} is {found} in {node['refdoc']!r}; glue a "
                               f"matplotlib Figure there: glue({node['key']!r}, fig, display=False)", location=node)
                node.parent.remove(node)
                continue
            image_bytes = a2b_base64(png)
            outdir = Path(self.app.builder.outdir)
            imgdir = outdir / getattr(self.app.builder, "imagedir", "_images")
            imgdir.mkdir(parents=True, exist_ok=True)
            path = imgdir / f"{hashlib.sha256(image_bytes).hexdigest()}.png"
            if not path.exists():
                path.write_bytes(image_bytes)
            uri = os.path.relpath(path, (outdir / self.env.docname).parent).replace(os.sep, "/")
            image = nodes.image(uri=uri, alt=node["alt"], candidates={"*": uri})
            image.source, image.line = node.source, node.line
            node.replace_self(image)


def setup(app):
    app.setup_extension("myst_nb")
    app.add_node(pending_glue_figure)
    # {glue:figure} is the "figure" directive of myst-nb's "glue" domain
    app.add_directive_to_domain("glue", "figure", GlueFigureDirective, override=True)
    app.add_post_transform(ResolveGlueFigures)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
