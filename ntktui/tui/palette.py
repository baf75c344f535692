"""Presets and analyses in the command palette (ctrl+p): "Open seed003-fig3: Spectra of ...",
"Open analysis kernel: ..." by fuzzy match."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class PresetCommands(Provider):
    def _entries(self):
        from ntktui.presets import list_analyses, list_presets

        for p in list_presets():
            yield f"Open {p.name}", p
        for p in list_analyses():
            yield f"Open analysis {p.name}", p

    async def discover(self) -> Hits:
        for label, p in self._entries():
            yield DiscoveryHit(label, partial(self.app.open_preset, p), help=p.title)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, p in self._entries():
            text = f"{label}: {p.title}"
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), partial(self.app.open_preset, p),
                          help=p.paper or "analysis with its defaults")
