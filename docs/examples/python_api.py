"""The public API in one script: a template, a match, a batch run and its report."""
from fractal_match import DATA_DIR, FAMILIES, fractalize, load_config, load_image, load_kernel, match_all, run_experiment

if __name__ == "__main__":  # worker processes import the main script: keep work under this guard
    template = fractalize(load_kernel("learned:mean-face"), "orbit-trap", size=64, degree=3)
    print(template.image.shape, template.params["degree"])  # (64, 64) 3
    print([name for name, family in FAMILIES.items() if family.kind == "fractal"])

    # A Template is on 0-1; match_all puts it on the target's scale (0-255 here). Its bare float
    # array would be refused against this uint8 photo: pass the Template, or template.to_uint8().
    target = load_image(DATA_DIR / "images" / "astronaut.png")
    print(match_all(target, template).best("TM_CCOEFF_NORMED"))

    config = load_config("quick")  # a shipped config by name, or a path to a TOML file
    summary = run_experiment(config, "results/quick", executor="processes", workers=2)
    print(summary["complete"], summary["groups"])  # True 36

    from fractal_match.report import make_report  # imports matplotlib, so the top level does not

    print(make_report("results/quick"))  # results/quick/report
