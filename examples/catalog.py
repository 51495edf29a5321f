"""Lists kali's examples in tutorial order: `./demo.sh` with no argument runs this."""

import ast
from pathlib import Path

#: The tutorial order; each example's first docstring line is its description.
ORDER = [
    "intro", "static_content", "simple_task_list", "templates_tour", "guard",
    "datebook", "uploads", "live_progress", "json_api",
]


def describe(path: Path) -> str:
    """The first line of an example's module docstring."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def main() -> None:
    here = Path(__file__).parent
    names = [n for n in ORDER if (here / f"{n}.py").exists()]
    names += sorted(p.stem for p in here.glob("*.py")
                    if p.stem not in ORDER and p.stem != "catalog" and not p.stem.startswith("_"))
    print("kali examples (run one with ./demo.sh NAME, or demo NAME on Windows):\n")
    width = max(map(len, names))
    for name in names:
        print(f"  {name:<{width}}  {describe(here / f'{name}.py')}")
    print("\nOptions: --port N, --no-browser.  Tests: ./demo.sh test")


if __name__ == "__main__":
    main()
