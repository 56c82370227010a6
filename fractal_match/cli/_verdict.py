"""The one-line verdict every benchmark prints for each of its targets."""


def verdict(what: str, value: float, relation: str, target: float) -> str:
    """One line: a measured value, its target, and whether it is met."""
    met = {">=": value >= target, "<=": value <= target, "<": value < target}[relation]
    return f"{what}: {value:.2f} (target {relation} {target:g}: {'met' if met else 'not met'})"
