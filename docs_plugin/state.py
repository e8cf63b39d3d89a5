"""The state of one build, made once in ``on_config`` and passed to every
job: what was asked, what was found, and what the runs produced."""

from dataclasses import dataclass, field
from pathlib import Path

from docs_plugin.examples import Example, ExampleError
from docs_plugin.runner import Run, Runner
from docs_plugin.settings import Settings


@dataclass
class BuildState:
    root: Path  # the folder of mkdocs.yml
    options: object  # the plugin's options (config.ExamplesConfig)
    settings: Settings
    examples: list[Example]
    runner: Runner
    sections: list = field(default_factory=list)  # the gallery's
    runs: dict[str, Run] = field(default_factory=dict)
    failures: dict[str, ExampleError] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    claims: dict[str, dict[str, dict]] = field(default_factory=dict)
    stated: list[dict] = field(default_factory=list)  # claims on pages
    # serving: pages whose syntax is wrong, and what is wrong
    page_errors: dict[str, str] = field(default_factory=dict)
    thumbnails: set[str] = field(default_factory=set)
    notebook_css: str | None = None
    notebook_classes: set[str] = field(default_factory=set)  # pages use
    api: object = None  # api.SiteNames: the PyTorch names it uses

    @property
    def by_name(self) -> dict[str, Example]:
        return {e.name: e for e in self.examples}

    @property
    def code_dir(self) -> str:
        """The examples' folder, as pages include their code from it."""
        return self.options.examples_dir
