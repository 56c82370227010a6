"""The package's shape: imports point one way, modules stay small, the public API is whole."""

import ast
from pathlib import Path

import fractal_match

PACKAGE = Path(fractal_match.__file__).parent


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def import_graph(top_level_only: bool = False) -> dict[str, set[str]]:
    """Module -> the package modules it imports, anywhere in its body (function-level imports
    count too: a cycle through a late import is still a tangle), or at its top level only.

    Every name of ``from . import a, b`` counts, and importing ``pkg.sub.mod`` also runs the
    sub-package ``pkg.sub`` (the top package itself is left out: every import runs it)."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = tree.body if top_level_only else list(ast.walk(tree))
        found = set()
        for node in nodes:
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                targets = [f"{module}.{alias.name}" for alias in node.names] + [module]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                parts = target.split(".")
                # the module and every sub-package on its way (fractal_match itself excluded)
                for depth in range(2, len(parts) + 1):
                    step = ".".join(parts[:depth])
                    if step in modules and step != name and not name.startswith(step + "."):
                        found.add(step)
        graph[name] = found
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    graph = import_graph()
    assert "fractal_match.engine._masked" in graph["fractal_match.engine.matching"]  # the walk sees imports
    assert cycles(graph) == []


def test_the_walk_sees_every_name_and_the_packages_on_the_way():
    graph = import_graph()
    assert {"fractal_match.templates.fractal.orbit_trap", "fractal_match.templates.fractal.ifs", "fractal_match.templates.fractal.droste"} <= graph["fractal_match.templates.fractal"]
    assert "fractal_match.report" in graph["fractal_match.cli.workflows"]  # report.figures runs report/__init__


#: The layers, lowest first. The basics are the modules loose in fractal_match/ (errors, input
#: checks, images, geometry, TOML, atomic files, progress, the annotated data sets).
LAYERS = ("basics", "engine", "templates", "experiments", "search", "report", "cli")


def layer_of(module: str) -> str | None:
    """The layer of a package module; None for the package itself (the public API, which may
    import any layer)."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    if parts[1] == "__main__":
        return "cli"
    return parts[1] if parts[1] in LAYERS else "basics"


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module from a layer above its own."""
    upward = []
    for module, imported in graph.items():
        mine = layer_of(module)
        for other in imported:
            theirs = layer_of(other)
            if mine is not None and theirs is not None and LAYERS.index(theirs) > LAYERS.index(mine):
                upward.append(f"{module} ({mine}) imports {other} ({theirs})")
    return upward


def test_each_layer_imports_only_the_layers_below_it():
    assert not upward_imports(import_graph())


def test_the_layer_check_sees_an_upward_import():
    assert layer_of("fractal_match.engine.matching") == "engine" and layer_of("fractal_match.images") == "basics"
    assert layer_of("fractal_match.templates.cnn.nets") == "templates" and layer_of("fractal_match") is None
    graph = import_graph()
    assert "fractal_match.engine.measure" in graph["fractal_match.experiments.cases"]  # down: allowed
    # the real graph with one upward edge added: the engine importing the run store
    graph["fractal_match.engine.peaks"] = graph["fractal_match.engine.peaks"] | {"fractal_match.experiments.store"}
    assert upward_imports(graph) == ["fractal_match.engine.peaks (engine) imports fractal_match.experiments.store "
                                     "(experiments)"]


def test_at_most_twelve_modules_stay_loose_and_every_layer_is_a_folder():
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(loose) <= 14 and {"__init__.py", "__main__.py"} <= set(loose), loose
    for name in LAYERS[1:]:
        assert (PACKAGE / name / "__init__.py").is_file(), name


def test_single_image_path_does_not_reach_into_batch_runs():
    # What importing and using a module runs: its imports anywhere (functions run when called),
    # but of a package's __init__ only the top level (its lazy names load only when asked for).
    everywhere, top = import_graph(), import_graph(top_level_only=True)
    graph = {name: top[name] if _modules()[name].name == "__init__.py" else edges for name, edges in everywhere.items()}
    batch = {"fractal_match.experiments.cases", "fractal_match.experiments.runs", "fractal_match.experiments.executors", "fractal_match.experiments.store"}
    for module in ("fractal_match.cli.workflows", "fractal_match.engine.detect", "fractal_match.engine.matching"):
        seen, todo = set(), [module]
        while todo:
            for other in graph[todo.pop()] - seen:
                seen.add(other)
                todo.append(other)
        assert not seen & batch, (module, seen & batch)


def test_lower_layers_import_neither_matplotlib_nor_typer():
    """matplotlib only in the report; typer and rich (the terminal) only in the command line."""
    for name, path in _modules().items():
        if name.startswith(("fractal_match.report", "fractal_match.cli")) or name == "fractal_match.cli._terminal":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.level}
        assert not imported & {"matplotlib", "typer", "rich"}, name


def test_only_the_cnn_modules_that_need_it_import_jax():
    """A plain install (no cnn extra) imports everything else, shipped cnn: kernels included:
    the modules whose top-level imports reach jax (directly or through another module) are these."""
    direct = set()
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
        imported |= {(node.module or "").split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom) and not node.level}
        if imported & {"jax", "optax"}:
            direct.add(name)
    top = import_graph(top_level_only=True)
    reaching = set(direct)
    while True:
        more = {name for name, edges in top.items() if edges & reaching} - reaching
        if not more:
            break
        reaching |= more
    assert direct == {"fractal_match.templates.cnn.nets", "fractal_match.templates.cnn.visualize"}
    assert reaching == {"fractal_match.templates.cnn.nets", "fractal_match.templates.cnn.visualize", "fractal_match.templates.cnn.analysis",
                        "fractal_match.templates.cnn.detector"}


def test_no_module_is_over_about_400_lines():
    long = {name: n for name, path in _modules().items() if (n := len(path.read_text().splitlines())) > 420}
    assert not long


def test_the_public_api():
    for name in ("fractalize", "FAMILIES", "Template", "load_config", "run_experiment", "match_all", "match_many",
                 "find_peaks", "load_kernel", "KernelSource", "Family", "Param", "DATA_DIR"):
        assert name in fractal_match.__all__ and hasattr(fractal_match, name), name
    assert set(fractal_match.__all__) <= set(dir(fractal_match))


def test_every_public_name_of_before_the_layers_still_imports():
    """The names fractal_match.__all__ listed before the modules moved into layer folders: a
    script written against them keeps working."""
    before = ["METHODS", "METHOD_INFO", "Match", "Responses", "match_all", "match_many", "best_match", "find_peaks",
              "fractalize", "FAMILIES", "Family", "Param", "Template", "load_kernel", "resize_kernel", "Kernel",
              "KernelSource", "KERNEL_SOURCES", "load_config", "Config", "run_experiment", "load_image", "save_image",
              "read_png_metadata", "Box", "iou", "DATA_DIR", "FractalMatchError", "ImageError", "ParameterError",
              "DegenerateError", "ConfigError", "__version__"]
    namespace = {}
    exec(f"from fractal_match import {', '.join(before)}", namespace)
    assert set(before) <= set(fractal_match.__all__) and all(namespace[name] is not None for name in before)
    from fractal_match.report import make_report  # the report's entry point, named in the guide

    assert callable(make_report)
