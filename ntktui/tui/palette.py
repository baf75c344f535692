"""Presets in the command palette (ctrl+p): "Open seed003-fig3: Spectra of ..." by fuzzy match."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class PresetCommands(Provider):
    def _presets(self):
        from ntktui.presets import list_presets

        return list_presets()

    async def discover(self) -> Hits:
        for p in self._presets():
            yield DiscoveryHit(f"Open {p.name}", partial(self.app.open_preset, p), help=p.title)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for p in self._presets():
            text = f"Open {p.name}: {p.title}"
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), partial(self.app.open_preset, p),
                          help=p.paper)
