"""The *Execution times* page: how long each example took when it last
ran, whether this build ran it or served it from the cache, and how the
run phase compares with the best any schedule could do on this many
cores."""

from docs_plugin.gallery import page_url

PAGE = "timings.md"


def page(state) -> str:
    mode = "fast (`DOCS_FAST=1`)" if state.settings.fast else "full size"
    runs = state.runs
    fresh = [r for r in runs.values() if not r.cached]
    lines = [
        "# Execution times", "",
        f"How long each example took when it last ran, in {mode} mode, "
        "on the machine that built this site. *cache* means this build "
        "reused the last result, and the time shown is the one measured "
        "when it last ran, because neither the example, nor the code "
        "of a module it imports, nor a package version, nor the data "
        "it read changed since.", "",
        "| Example | Time (s) | This build |",
        "| --- | ---: | --- |"]
    for name, run in sorted(runs.items(), key=lambda item: -item[1].seconds):
        how = "ran" if not run.cached else (
            "cache, out of date" if run.stale else "cache")
        lines.append(f"| [{run.example.title}]({page_url(name)}) | "
                     f"{run.seconds:.1f} | {how} |")
    lines.append("")
    if not fresh:
        return "\n".join(lines + [
            f"This build ran none of the {len(runs)} examples: every "
            "result came from the cache.", ""])
    jobs = state.settings.jobs
    ran = sum(r.seconds for r in fresh)
    ideal = max(max(r.seconds for r in fresh), ran / jobs)
    phase = state.runner.phase_seconds
    return "\n".join(lines + [
        f"This build ran {len(fresh)} of {len(runs)} examples, "
        f"{jobs} at a time. Their times add up to {ran:.1f} s; on "
        f"{jobs} cores no schedule can take less than "
        f"{ideal:.1f} s (the longer of the longest example and that "
        f"sum divided by {jobs}), and running them took "
        f"{phase:.1f} s, {phase / ideal:.2f} times that.", ""])
