"""Every picture the README shows is in the repository."""

from __future__ import annotations

import re

from tests.architecture.readme_tree import README, ROOT


def test_every_image_the_readme_shows_exists():
    text = README.read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text)
    assert images, "the README shows the window"
    missing = [path for path in images if not path.startswith("http") and not (ROOT / path).is_file()]
    assert not missing, f"README shows images that are not there: {missing}"
